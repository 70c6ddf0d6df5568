"""Fixtures of grid_service's tests: a migrated database of its own and the app over ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from grid_service.config import ALEMBIC_INI, Settings
from grid_service.main import create_app, own_verifier
from shared.http import ServiceClient
from shared.problem import AppError
from shared.testing import TestKeys, service_fixtures

database_url, test_keys, app, client = service_fixtures(
    prefix="test_grid",
    alembic_ini=ALEMBIC_INI,
    make_app=lambda url: create_app(
        Settings(
            database_url=url,
            environment="test",
            login_max_failures=3,
            login_lockout_seconds=600,
            argon2_time_cost=1,  # cheap hashes keep the suite fast; production refuses these
            argon2_memory_kib=8192,
            wechat_api_base="http://wechat.test",
            message_relay_enabled=False,  # tests relay by hand (test_messages.py)
        )
    ),
)

CITY = "330100"


@pytest.fixture(autouse=True)
def fresh_locator(app: Any) -> Iterator[None]:
    """After each test the ``client`` fixture empties the tables behind the app's back (no
    version is bumped): tell the locator, as a tree change through the API would, so that the
    next test's first locate does not answer from this test's tree. Set up before ``client``,
    so torn down after its emptying."""
    yield
    app.state.locator.changed()


@pytest.fixture
def admin(test_keys: TestKeys) -> Callable[..., dict[str, str]]:
    """Headers of an admin (minted with the test keys) whose areas are ``areas``."""

    def make(*areas: str, sub: str = "00000000-0000-0000-0000-0000000000ad") -> dict[str, str]:
        token = test_keys.mint(sub=sub, roles=["admin"], areas=list(areas or (CITY,)))
        return {"Authorization": f"Bearer {token}"}

    return make


@pytest.fixture
def bearer(test_keys: TestKeys) -> Callable[..., dict[str, str]]:
    def make(**claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {test_keys.mint(**claims)}"}

    return make


class EitherVerifier:
    """Tokens the app issued itself (its own JWKS), else tokens minted with the test keys."""

    def __init__(self, own: Any, test: Any) -> None:
        self.own, self.test = own, test

    async def verify(self, token: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = await self.own.verify(token)
        except AppError:
            claims = await self.test.verify(token)
        return claims


@pytest_asyncio.fixture
async def own_tokens(app: Any) -> AsyncIterator[None]:
    """Make the app also accept the tokens it issues itself (the test keys still work)."""
    previous = app.state.verifier
    own = own_verifier(app, app.state.settings)
    app.state.verifier = EitherVerifier(own, previous)
    yield
    app.state.verifier = previous
    await own.aclose()


@pytest_asyncio.fixture
async def fake_wechat(app: Any) -> AsyncIterator[dict[str, Any]]:
    """A local fake of WeChat's jscode2session. Set ``state["answers"][code] = body``."""
    state: dict[str, Any] = {"answers": {}, "calls": []}

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/sns/jscode2session"
        params = dict(request.url.params)
        state["calls"].append(params)
        body = state["answers"].get(
            params.get("js_code"), {"errcode": 40029, "errmsg": "invalid code"}
        )
        return httpx.Response(200, json=body)

    previous = app.state.wechat.http
    app.state.wechat.http = ServiceClient(
        "http://wechat.test", name="wechat", transport=httpx.MockTransport(handler), retries=0
    )
    yield state
    await app.state.wechat.http.aclose()
    app.state.wechat.http = previous


@pytest_asyncio.fixture
async def fake_cases(app: Any) -> AsyncIterator[dict[str, Any]]:
    """A local fake of case_service's case list as grid_service calls it to check case ids:
    ``GET /api/v1/cases?id=…&id=…`` with the caller's own bearer token. Put the ids that exist
    in ``state["cases"]``; ``state["calls"]`` records each call's ids and Authorization."""
    state: dict[str, Any] = {"cases": set(), "calls": []}

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.method == "GET"
        assert request.url.path == "/api/v1/cases"
        assert request.headers["authorization"].startswith("Bearer ")
        ids = request.url.params.get_list("id")
        assert 1 <= len(ids) <= 100
        assert request.url.params["limit"] == "100"
        state["calls"].append({"ids": ids, "authorization": request.headers["authorization"]})
        items = [{"id": i} for i in ids if i in state["cases"]]
        return httpx.Response(200, json={"items": items, "next_cursor": None})

    previous = app.state.cases.http
    app.state.cases.http = ServiceClient(
        "http://case-service.test",
        name="case_service",
        transport=httpx.MockTransport(handler),
        retries=0,
    )
    yield state
    await app.state.cases.http.aclose()
    app.state.cases.http = previous
