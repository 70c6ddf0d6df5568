"""deploy/postgres/initdb.d: one role and one database per service, read from the services'
database URLs. Run against this machine's PostgreSQL (the one the other suites use), with
throwaway names, the way the postgres image runs it: as the superuser, with psql."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from deploy_support import DEPLOY

SCRIPT = DEPLOY / "postgres" / "initdb.d" / "10-gridgov-databases.sh"
PG = {"PGHOST": os.environ.get("GRIDGOV_TEST_PGHOST", "127.0.0.1"), "PGPORT": "5432"}


def _psql(
    sql: str, *, user: str = "postgres", db: str = "postgres", name: str = ""
) -> subprocess.CompletedProcess[str]:
    """Run `sql` with psql; `:'name'` in it is the quoted `name`."""
    return subprocess.run(
        ["psql", "-XAt", "-U", user, "-d", db, "-v", f"name={name}"],
        input=sql,
        env={**os.environ, **PG},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.fixture
def names() -> Iterator[dict[str, str]]:
    if shutil.which("psql") is None or _psql("select 1;").returncode != 0:
        pytest.skip("no PostgreSQL superuser at 127.0.0.1:5432 (psql -U postgres) to run it on")
    tag = secrets.token_hex(4)
    created = {
        var: f"ggdeploy_{tag}_{var.split('_')[0].lower()}"
        for var in ("CASE_DATABASE_URL", "GRID_DATABASE_URL", "NOTIFY_DATABASE_URL")
    }
    try:
        yield created
    finally:
        for name in created.values():
            _psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            _psql(f'DROP ROLE IF EXISTS "{name}"')


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT)],
        env={**os.environ, **PG, "POSTGRES_USER": "postgres", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_creates_one_private_database_per_service(names: dict[str, str]) -> None:
    urls = {
        var: f"postgresql+asyncpg://{name}:pw-{name}@postgres:5432/{name}?ssl=disable"
        for var, name in names.items()
    }
    first = _run(urls)
    assert first.returncode == 0, first.stderr
    again = _run(urls)  # a second run changes nothing and does not fail
    assert again.returncode == 0, again.stderr
    for name in names.values():
        owner = _psql(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = :'name'", name=name
        )
        assert owner.stdout.strip() == name
        extensions = _psql(
            "SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension", db=name
        )
        assert {"pg_trgm", "btree_gist"} <= set(extensions.stdout.strip().split(","))
        acl = _psql("SELECT datacl::text FROM pg_database WHERE datname = :'name'", name=name)
        entries = acl.stdout.strip().strip("{}").split(",")
        assert entries == [f"{name}=CTc/{name}"], "PUBLIC may not connect"
    # the roles may log in, are no superusers, and reach only their own database
    case, grid = names["CASE_DATABASE_URL"], names["GRID_DATABASE_URL"]
    role = _psql(
        "SELECT rolcanlogin, rolsuper, rolcreatedb FROM pg_roles WHERE rolname = :'name'",
        name=case,
    )
    assert role.stdout.strip() == "t|f|f"
    crossed = _psql("select 1", user=case, db=grid)
    assert crossed.returncode != 0
    assert "CONNECT" in crossed.stderr


def test_refuses_a_url_without_password(names: dict[str, str]) -> None:
    env = {var: f"postgresql+asyncpg://{name}@postgres:5432/{name}" for var, name in names.items()}
    result = _run(env)
    assert result.returncode != 0
    assert "must look like" in result.stderr
