"""Every error is an RFC 9457 problem with a stable code and nothing internal in it."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.middleware import RequestContextMiddleware
from shared.problem import Conflict, database_unavailable, install_problem_handlers


class Thing(BaseModel):
    name: str = Field(max_length=10)
    count: int


def make_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(RequestContextMiddleware, service="test", max_body_bytes=4096)

    @app.post("/things")
    async def create(thing: Thing) -> Thing:
        return thing

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internal detail: password=hunter2 at /srv/app.py line 3")

    @app.get("/conflict")
    async def conflict() -> None:
        raise Conflict("Already taken", code="name_taken", extra={"allowed": ["x"]})

    return app


@pytest.fixture
async def client() -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://t")


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"].endswith(code)
    assert body["request_id"] == response.headers["x-request-id"]
    return dict(body)


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/things", content=b'{"name": "a",', headers={"content-type": "application/json"}
    )
    body = assert_problem(r, 400, "malformed_json")
    assert body["errors"][0]["field"] == "body"  # type: ignore[index]
    assert "Traceback" not in r.text


async def test_invalid_utf8_is_a_4xx_problem(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/things",
        content=b'{"name": "\xff\xfe", "count": 1}',
        headers={"content-type": "application/json"},
    )
    assert 400 <= r.status_code < 500
    assert r.headers["content-type"] == "application/problem+json"


async def test_wrong_type_is_422_naming_the_field(client: httpx.AsyncClient) -> None:
    r = await client.post("/things", json={"name": "a", "count": "many"})
    body = assert_problem(r, 422, "validation_failed")
    assert body["errors"] == [
        {"field": "count", "reason": "应为整数，无法把字符串解析为整数", "type": "int_parsing"}
    ]
    assert body["detail"] == "1 个字段有误：count"
    r = await client.post(
        "/things", json={"name": "a", "count": "many"}, headers={"Accept-Language": "en"}
    )
    body = assert_problem(r, 422, "validation_failed")
    assert body["errors"] == [
        {
            "field": "count",
            "reason": "Input should be a valid integer, unable to parse string as an integer",
            "type": "int_parsing",
        }
    ]
    assert body["detail"] == "1 field is invalid: count"


async def test_missing_and_too_long_fields_are_each_listed(client: httpx.AsyncClient) -> None:
    r = await client.post("/things", json={"name": "x" * 11})
    body = assert_problem(r, 422, "validation_failed")
    fields = {e["field"]: e["type"] for e in body["errors"]}  # type: ignore[union-attr]
    assert fields == {"name": "string_too_long", "count": "missing"}


async def test_unknown_route_is_404_problem(client: httpx.AsyncClient) -> None:
    r = await client.get("/nowhere")
    body = assert_problem(r, 404, "not_found")
    assert body["instance"] == "/nowhere"


async def test_wrong_method_is_405_problem(client: httpx.AsyncClient) -> None:
    r = await client.delete("/things")
    assert_problem(r, 405, "method_not_allowed")


async def test_unexpected_exception_is_500_revealing_nothing(
    client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    r = await client.get("/boom", headers={"X-Request-ID": "req-boom-1"})
    body = assert_problem(r, 500, "internal_error")
    assert body["request_id"] == "req-boom-1"
    for leak in ("secret", "hunter2", "RuntimeError", "app.py", "Traceback"):
        assert leak not in r.text


async def test_domain_error_keeps_its_status_code_and_extras(client: httpx.AsyncClient) -> None:
    r = await client.get("/conflict")
    body = assert_problem(r, 409, "name_taken")
    assert body["detail"] == "Already taken"
    assert body["allowed"] == ["x"]


async def test_oversized_body_is_413_before_parsing(client: httpx.AsyncClient) -> None:
    r = await client.post("/things", json={"name": "a" * 5000, "count": 1})
    assert_problem(r, 413, "payload_too_large")


async def test_oversized_chunked_body_is_413(client: httpx.AsyncClient) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(10):
            yield b"x" * 1000

    r = await client.post("/things", content=chunks(), headers={"content-type": "application/json"})
    assert_problem(r, 413, "payload_too_large")


async def test_request_id_is_echoed_or_made(client: httpx.AsyncClient) -> None:
    r = await client.get("/nowhere", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = await client.get("/nowhere", headers={"X-Request-ID": "bad id with spaces\n"})
    assert r.headers["x-request-id"] != "bad id with spaces"
    assert len(r.headers["x-request-id"]) == 32


async def test_a_lost_database_connection_is_503_to_retry(engine: AsyncEngine) -> None:
    """A backend terminated mid-request (as PostgreSQL's restart, a failover or an operator's
    pg_terminate_backend does) is 503 ``database_unavailable`` with Retry-After — a request a
    client may retry with its Idempotency-Key — not a 500; a real fault stays a 500."""
    app = make_app()

    @app.get("/cut")
    async def cut() -> None:
        async with engine.connect() as conn:
            await conn.execute(sa.text("SELECT pg_terminate_backend(pg_backend_pid())"))
            await conn.execute(sa.text("SELECT 1"))

    @app.get("/bad-sql")
    async def bad_sql() -> None:
        async with engine.connect() as conn:
            await conn.execute(sa.text("SELECT * FROM no_such_table"))

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.get("/cut")
        body = assert_problem(r, 503, "database_unavailable")
        assert r.headers["retry-after"] == "1"
        assert body["detail"].startswith("数据库暂时无法连接，请求可能未完成")
        assert "Traceback" not in r.text
        assert "terminat" not in r.text
        english = await client.get("/cut", headers={"Accept-Language": "en"})
        assert english.json()["detail"].startswith("The database could not be reached")
        assert_problem(await client.get("/bad-sql"), 500, "internal_error")
        # the pool handed out a fresh connection after the cut one
        async with engine.connect() as conn:
            assert (await conn.execute(sa.text("SELECT 1"))).scalar_one() == 1


async def test_database_unavailable_reads_the_cause_chain() -> None:
    refused = ConnectionRefusedError(111, "Connection refused")
    wrapped = sa.exc.DBAPIError("SELECT 1", None, Exception("connect"))
    wrapped.__cause__ = refused
    assert database_unavailable(wrapped)
    assert not database_unavailable(FileNotFoundError(2, "No such file"))  # not the database
    assert database_unavailable(sa.exc.TimeoutError("QueuePool limit reached"))
    assert not database_unavailable(RuntimeError("a bug"))
    unrelated = sa.exc.DBAPIError("SELECT 1", None, Exception("bad sql"))
    unrelated.__context__ = ConnectionRefusedError(111, "an upstream, handled")
    assert not database_unavailable(unrelated)  # raised while handling it, not caused by it
    looped = sa.exc.DBAPIError("SELECT 1", None, Exception("a"))
    looped.__cause__ = RuntimeError("b")
    looped.__cause__.__cause__ = looped
    assert not database_unavailable(looped)


async def test_without_the_middleware_the_handler_answers_503_too() -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/pool")
    async def pool() -> None:
        raise sa.exc.TimeoutError("QueuePool limit of size 5 overflow 0 reached")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.get("/pool")
    assert r.status_code == 503
    assert r.json()["code"] == "database_unavailable"
    assert r.headers["retry-after"] == "1"
