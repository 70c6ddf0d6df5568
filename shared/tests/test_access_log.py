"""The access log: one INFO line per request, except the ordinary answers of the quiet routes a
service declares (DEBUG), which are still counted in the metrics."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Query

from shared.logging import configure_logging
from shared.metrics import HTTP_REQUESTS
from shared.middleware import ACCESS_LOGGER, QuietRoute, RequestContextMiddleware
from shared.problem import NotFound, install_problem_handlers

SERVICE = "test_access_log"


def make_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(
        RequestContextMiddleware,
        service=SERVICE,
        max_body_bytes=1_000_000,
        quiet_routes={
            "/hot/{key}": QuietRoute(slow_ms=50, quiet_statuses=frozenset({404})),
        },
    )

    @app.get("/hot/{key}")
    async def hot(key: str, n: int = Query(0, ge=0), sleep: float = 0) -> dict[str, str]:
        if sleep:
            await asyncio.sleep(sleep)
        if key == "missing":
            raise NotFound(code="outside_jurisdiction")
        if key == "boom":
            raise RuntimeError("boom")
        return {"key": key}

    @app.get("/plain")
    async def plain() -> dict[str, str]:
        return {"ok": "yes"}

    return app


@pytest.fixture
def logging_at_info() -> Iterator[None]:
    configure_logging(service="test", level="INFO")
    yield
    configure_logging(service="test", level="INFO")


@pytest.fixture
async def client(logging_at_info: None) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


def access_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[int, dict[str, Any]]]:
    return [
        (r.levelno, dict(r.msg))  # type: ignore[call-overload]
        for r in caplog.records
        if r.name == ACCESS_LOGGER and isinstance(r.msg, dict) and r.msg["event"] == "request"
    ]


def counted(route: str, status: str) -> float:
    return HTTP_REQUESTS.labels(SERVICE, "GET", route, status)._value.get()


async def test_quiet_route_success_is_not_logged_at_info_but_counted(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    before_ok, before_404 = counted("/hot/{key}", "200"), counted("/hot/{key}", "404")
    assert (await client.get("/hot/a")).status_code == 200
    assert (await client.get("/hot/missing")).status_code == 404  # an ordinary answer there
    assert access_lines(caplog) == []
    assert counted("/hot/{key}", "200") == before_ok + 1
    assert counted("/hot/{key}", "404") == before_404 + 1
    # every other route keeps its INFO line
    assert (await client.get("/plain")).status_code == 200
    [(level, line)] = access_lines(caplog)
    assert level == logging.INFO
    assert (line["path"], line["status"]) == ("/plain", 200)


async def test_quiet_route_errors_and_slow_answers_are_still_at_info(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    assert (await client.get("/hot/a", params={"n": -1})).status_code == 422
    assert (await client.get("/hot/boom")).status_code == 500
    assert (await client.get("/hot/a", params={"sleep": 0.08})).status_code == 200
    lines = access_lines(caplog)
    assert [(level, line["status"], line.get("slow")) for level, line in lines] == [
        (logging.INFO, 422, None),
        (logging.INFO, 500, None),
        (logging.INFO, 200, True),
    ]
    assert lines[2][1]["duration_ms"] > 50


async def test_quiet_route_success_is_logged_at_debug(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=ACCESS_LOGGER)
    assert (await client.get("/hot/a", headers={"X-Request-ID": "quiet-1"})).status_code == 200
    [(level, line)] = access_lines(caplog)
    assert level == logging.DEBUG
    assert line["status"] == 200
    assert line["path"] == "/hot/a"
    assert line["request_id"] == "quiet-1"
    assert "slow" not in line


def test_level_for() -> None:
    quiet = QuietRoute(slow_ms=100, quiet_statuses=frozenset({404}))
    assert quiet.level_for(200, 5) == logging.DEBUG
    assert quiet.level_for(304, 5) == logging.DEBUG
    assert quiet.level_for(404, 5) == logging.DEBUG
    assert quiet.level_for(404, 101) == logging.INFO
    assert quiet.level_for(200, 101) == logging.INFO
    assert quiet.level_for(400, 5) == logging.INFO
    assert quiet.level_for(503, 5) == logging.INFO
