"""Test helpers shared by every service's suite and the whole-system tests.

* :func:`test_server_url` picks the PostgreSQL server: ``TEST_DATABASE_URL`` if set, else a
  server reachable at 127.0.0.1:5432 (user postgres), else the embedded one.
* :func:`create_database` / :func:`drop_database` give each test session its own database.
* :func:`truncate_all` empties every table between tests (isolation without shared state).
* :class:`TestKeys` signs access tokens and serves them as a JWKS, for services under test.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import to_asyncpg_url
from shared.embedded_pg import start_embedded, with_database

REPO_ROOT = Path(__file__).resolve().parents[3]


def _reachable(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def test_server_url() -> str:
    """A ``postgresql://`` URL of a server the tests may create databases on."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    if _reachable("127.0.0.1", 5432):
        return "postgresql://postgres@127.0.0.1:5432/postgres"
    return start_embedded(REPO_ROOT / "var" / "pg-test")


async def create_database(prefix: str) -> str:
    """Create a fresh, uniquely named database; return its asyncpg URL."""
    import asyncpg

    server = test_server_url()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(with_database(server, "postgres").replace("+asyncpg", ""))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return to_asyncpg_url(with_database(server, name))


async def drop_database(url: str) -> None:
    import asyncpg

    name = sa.engine.make_url(url).database
    admin = with_database(url, "postgres").replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def truncate_all(
    engine: AsyncEngine, *, keep: tuple[str, ...] = ("alembic_version",)
) -> None:
    """Empty every table. An app's background readers (grid_service's locator refresh, the
    workers) may hold a share lock on one table while the TRUNCATE holds another: PostgreSQL
    then cancels one of the two as a deadlock. The readers retry on their own; so does this."""
    for attempt in range(5):
        try:
            await _truncate(engine, keep)
            return
        except sa.exc.DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) != "40P01" or attempt == 4:
                raise


async def _truncate(engine: AsyncEngine, keep: tuple[str, ...]) -> None:
    async with engine.begin() as conn:
        names = (
            (
                await conn.execute(
                    sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                )
            )
            .scalars()
            .all()
        )
        tables = [n for n in names if n not in keep]
        if tables:
            joined = ", ".join(f'"{t}"' for t in tables)
            await conn.execute(sa.text(f"TRUNCATE {joined} RESTART IDENTITY CASCADE"))


class TestKeys:
    """EC P-256 signing keys for tests, with a JWKS document like grid_service publishes."""

    __test__ = False  # not a pytest test class

    def __init__(self, issuer: str = "gridgov", audience: str = "gridgov") -> None:
        self.issuer = issuer
        self.audience = audience
        self.keys: dict[str, ec.EllipticCurvePrivateKey] = {}
        self.current = self.add_key()

    def add_key(self, kid: str | None = None) -> str:
        kid = kid or uuid.uuid4().hex[:16]
        self.keys[kid] = ec.generate_private_key(ec.SECP256R1())
        return kid

    def jwks(self, kids: list[str] | None = None) -> dict[str, Any]:
        out = []
        for kid in kids or list(self.keys):
            jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.keys[kid].public_key()))
            jwk.update(kid=kid, use="sig", alg="ES256")
            out.append(jwk)
        return {"keys": out}

    def mint(
        self,
        *,
        sub: str = "user-1",
        roles: list[str] | None = None,
        areas: list[str] | None = None,
        depts: list[str] | None = None,
        kid: str | None = None,
        audience: str | None = None,
        expires_in: int = 300,
        key: ec.EllipticCurvePrivateKey | None = None,
        **extra: Any,
    ) -> str:
        now = datetime.now(UTC)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": audience or self.audience,
            "sub": sub,
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(seconds=expires_in)).timestamp()),
            "jti": uuid.uuid4().hex,
            "typ": "access",
            "roles": roles or [],
            "areas": areas or [],
            "depts": depts or [],
            **extra,
        }
        kid = kid or self.current
        signing_key = key or self.keys[kid]
        return jwt.encode(claims, signing_key, algorithm="ES256", headers={"kid": kid})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _reachable("127.0.0.1", port):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout}s")


def jwks_transport(keys: TestKeys) -> httpx.MockTransport:
    """An httpx transport that serves ``keys`` as the JWKS (whatever URL is asked)."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=keys.jwks())

    return httpx.MockTransport(handler)


def install_test_keys(app: Any, keys: TestKeys) -> None:
    """Make a started app verify tokens against ``keys`` instead of grid_service."""
    from shared.auth import JWKSVerifier
    from shared.http import ServiceClient

    settings = app.state.settings
    client = ServiceClient("http://jwks.test", name="jwks", transport=jwks_transport(keys))
    app.state.verifier = JWKSVerifier(
        client,
        "/.well-known/jwks.json",
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        min_refresh_seconds=0,
    )


def service_fixtures(
    *,
    prefix: str,
    alembic_ini: Path,
    make_app: Callable[[str], Any],
) -> tuple[Any, Any, Any, Any]:
    """Standard fixtures for a service's own tests, to assign in its ``conftest.py``::

        database_url, test_keys, app, client = service_fixtures(
            prefix="test_case", alembic_ini=ALEMBIC_INI,
            make_app=lambda url: create_app(Settings(database_url=url, environment="test")),
        )

    * ``database_url`` (session): a fresh database on the test server, migrated to head
      (so every run checks the migrations), dropped at the end.
    * ``test_keys`` (session): :class:`TestKeys` the app trusts; ``test_keys.mint(...)``.
    * ``app`` (session): the started app (lifespan run).
    * ``client`` (function): an ``httpx.AsyncClient`` over ASGI; tables are emptied after
      each test.
    """
    import asyncio

    import pytest
    import pytest_asyncio
    from asgi_lifespan import LifespanManager

    from shared.migrate import upgrade_head

    @pytest_asyncio.fixture(scope="session")
    async def database_url() -> AsyncIterator[str]:
        url = await create_database(prefix)
        await asyncio.to_thread(upgrade_head, alembic_ini, url)
        yield url
        await drop_database(url)

    @pytest.fixture(scope="session")
    def test_keys() -> TestKeys:
        return TestKeys()

    @pytest_asyncio.fixture(scope="session")
    async def app(database_url: str, test_keys: TestKeys) -> AsyncIterator[Any]:
        application = make_app(database_url)
        async with LifespanManager(application, startup_timeout=60, shutdown_timeout=30):
            install_test_keys(application, test_keys)
            yield application

    @pytest_asyncio.fixture
    async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c
        await truncate_all(app.state.engine)

    return database_url, test_keys, app, client


def _has_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def assert_problem_texts(package: str) -> list[type[Any]]:
    """Every problem class defined in ``package`` (all its modules imported) has a title in
    zh-CN (with Chinese characters) and in English; returns the classes checked."""
    import importlib
    import pkgutil

    from shared.i18n import Text
    from shared.problem import AppError

    root = importlib.import_module(package)
    for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
        importlib.import_module(info.name)
    found: list[type[Any]] = []
    stack: list[type[Any]] = [AppError]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if not cls.__module__.startswith(package):
            continue
        title = cls.__dict__.get("title")
        assert isinstance(title, Text), f"{cls.__qualname__}: title is not a Text"
        assert _has_cjk(title.zh), f"{cls.__qualname__}: title.zh {title.zh!r} is not Chinese"
        assert title.en.isascii(), f"{cls.__qualname__}: title.en {title.en!r} is not English"
        found.append(cls)
    _assert_validators_bilingual(root)
    return found


def _assert_validators_bilingual(root: Any) -> None:
    """A request schema's validator gives its reason in both languages: ``raise
    InvalidValue("中文", "English")``, never ``raise ValueError("English")``."""
    import ast

    for folder in root.__path__:
        for path in Path(folder).rglob("schemas.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Raise)
                    and isinstance(node.exc, ast.Call)
                    and isinstance(node.exc.func, ast.Name)
                    and node.exc.func.id == "ValueError"
                    and node.exc.args
                    and isinstance(node.exc.args[0], ast.Constant | ast.JoinedStr)
                ):
                    raise AssertionError(
                        f"{path}:{node.lineno}: raise InvalidValue(zh, en), not ValueError"
                    )
