"""The foundation across processes: health, readiness, problems, request ids over real HTTP."""

from __future__ import annotations

import uuid

import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from shared.testing import TestKeys
from tests.helpers import eventually
from tests.system import System


async def test_every_service_is_healthy_ready_and_documented(system: System) -> None:
    async with httpx.AsyncClient() as client:
        for svc in system.services.values():
            health = await client.get(svc.url + "/healthz")
            assert health.json() == {"status": "ok", "service": svc.module}
            ready = (await client.get(svc.url + "/readyz")).json()
            assert ready["status"] == "ok"
            assert ready["migration"] == ready["head"] is not None
            metrics = await client.get(svc.url + "/metrics")
            assert "gridgov_http_requests_total" in metrics.text
            spec = (await client.get(svc.url + "/openapi.json")).json()
            assert spec["info"]["title"] == f"Gridgov {svc.module}"
            missing = await client.get(svc.url + "/api/v1/no-such-thing")
            assert missing.status_code == 404
            assert missing.headers["content-type"] == "application/problem+json"


async def test_request_id_reaches_the_called_service_and_both_logs(system: System) -> None:
    """case_service verifies a token whose key it has never seen: it fetches grid_service's
    JWKS, carrying the caller's X-Request-ID, and both services log that id."""
    request_id = "sys-" + uuid.uuid4().hex
    keys = TestKeys()
    token = keys.mint(kid="never-published", key=ec.generate_private_key(ec.SECP256R1()))
    async with httpx.AsyncClient() as client:
        r = await client.get(
            system["case"].url + "/api/v1/me",
            headers={"Authorization": f"Bearer {token}", "X-Request-ID": request_id},
        )
    assert r.status_code == 401
    assert r.json()["code"] == "invalid_token"
    assert r.json()["request_id"] == request_id

    async def logged(key: str, path: str, status: int) -> bool:
        # the access line is written once the response has gone out: it may trail the answer
        return any(
            line.get("request_id") == request_id
            and line.get("path") == path
            and line.get("status") == status
            for line in system[key].log_lines()
        )

    await eventually(lambda: logged("case", "/api/v1/me", 401), 10, "case_service access line")
    await eventually(
        lambda: logged("grid", "/.well-known/jwks.json", 200), 10, "grid_service access line"
    )
    # Tokens never reach the logs.
    assert token not in system["case"].log_file.read_text()


async def test_readyz_reports_pending_migrations_until_migrated() -> None:
    import asyncio

    from asgi_lifespan import LifespanManager

    from notify_service.config import ALEMBIC_INI, Settings
    from notify_service.main import create_app
    from shared.migrate import upgrade_head
    from shared.testing import create_database, drop_database

    url = await create_database("sys_ready")
    try:
        app = create_app(Settings(database_url=url, environment="test"))
        async with LifespanManager(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                r = await client.get("/readyz")
                assert r.status_code == 503
                assert r.json()["code"] == "migrations_pending"
                assert (await client.get("/healthz")).status_code == 200
                await asyncio.to_thread(upgrade_head, ALEMBIC_INI, url)
                r = await client.get("/readyz")
                assert r.status_code == 200
                assert r.json()["migration"] == r.json()["head"]
    finally:
        await drop_database(url)
