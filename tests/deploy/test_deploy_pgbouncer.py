"""deploy/pgbouncer: the image's start script writes a PgBouncer configuration from the services'
database URLs, and Debian's PgBouncer serves it: the services' engines, set for a transaction
pooler (``<PREFIX>DB_PGBOUNCER=true``), run concurrent transactions with parameters through it.
Run against this machine's PostgreSQL with throwaway roles, after the init script made them."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from deploy_support import DEPLOY, missing_tool
from test_deploy_postgres_init import _psql, _run, names  # noqa: F401  (the fixture)

from shared.db import make_engine
from shared.local_gateway import ensure_debian_package
from shared.testing import free_port

ENTRYPOINT = DEPLOY / "pgbouncer" / "entrypoint.sh"


@pytest.fixture
def pgbouncer(names: dict[str, str], tmp_path: Path) -> Iterator[tuple[int, dict[str, str]]]:  # noqa: F811
    binary = ensure_debian_package("pgbouncer", "pgbouncer")
    if binary is None:
        missing_tool("pgbouncer is not installed (apt-get install pgbouncer)")
    assert binary is not None
    port = free_port()
    urls = {
        var: f"postgresql+asyncpg://{name}:pw-{name}@pgbouncer:6432/{name}"
        for var, name in names.items()
    }
    made = _run(urls)  # the postgres image's init script: roles, passwords, databases
    assert made.returncode == 0, made.stderr
    conf_dir = tmp_path / "pgbouncer"
    written = subprocess.run(
        ["bash", str(ENTRYPOINT)],
        env={
            **os.environ,
            **urls,
            "PGBOUNCER_CONFIG_ONLY": "1",
            "PGBOUNCER_CONFIG_DIR": str(conf_dir),
            "PGBOUNCER_LISTEN_ADDR": "127.0.0.1",
            "PGBOUNCER_PORT": str(port),
            "POSTGRES_HOST": "127.0.0.1",
            "PGBOUNCER_POOL_SIZE": "2",
        },
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert written.returncode == 0, written.stderr
    ini = conf_dir / "pgbouncer.ini"
    assert "pool_mode = transaction" in ini.read_text()
    if os.geteuid() == 0:  # PgBouncer refuses root; the image runs it as its own user
        with ini.open("a") as f:
            f.write("user = postgres\n")
        for path in (tmp_path, conf_dir, ini, conf_dir / "userlist.txt"):
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
    proc = subprocess.Popen([binary, str(ini)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 15
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"pgbouncer did not start: {proc.communicate()[0]!r}")
            time.sleep(0.05)
    try:
        yield port, names
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_the_services_engines_work_through_the_pooler(
    pgbouncer: tuple[int, dict[str, str]],
) -> None:
    port, created = pgbouncer
    name = created["CASE_DATABASE_URL"]
    url = f"postgresql+asyncpg://{name}:pw-{name}@127.0.0.1:{port}/{name}"

    async def work() -> list[tuple[int, str]]:
        # two processes' worth of engines, more clients than the server pool of 2: each
        # statement is prepared on whichever server connection the transaction gets
        engines = [make_engine(url, pool_size=4, pgbouncer=True) for _ in range(2)]

        async def one(engine: sa.ext.asyncio.AsyncEngine, i: int) -> tuple[int, str]:
            async with engine.begin() as conn:
                await conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": i % 3})
                got = await conn.execute(
                    sa.text("SELECT CAST(:i AS int) + 1, current_setting('statement_timeout')"),
                    {"i": i},
                )
                row = got.one()
                return int(row[0]), str(row[1])

        try:
            return await asyncio.gather(
                *(one(engines[i % 2], i) for i in range(40) for _ in range(2))
            )
        finally:
            for engine in engines:
                await engine.dispose()

    results = asyncio.run(work())
    assert [n for n, _ in results] == [i + 1 for i in range(40) for _ in range(2)]
    # not sent as a start-up parameter through PgBouncer: the init script set it on the role
    assert {timeout for _, timeout in results} == {"30s"}
    servers = _psql(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = :'name' AND usename = :'name';",
        name=name,
    )
    assert int(servers.stdout.strip() or 0) <= 2  # PgBouncer's server pool, not the clients
