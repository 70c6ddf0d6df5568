"""Hostile input is refused by the middleware before any route runs: NUL characters, bad
UTF-8 in bodies, query strings and headers, JSON nested without end."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI, Form
from pydantic import BaseModel

from shared.middleware import MAX_JSON_DEPTH, RequestContextMiddleware
from shared.problem import install_problem_handlers

SEEN: list[object] = []


class Inner(BaseModel):
    text: str


class Thing(BaseModel):
    name: str
    inner: Inner | None = None
    tags: list[str] = []
    extra: dict[str, object] = {}


def make_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(
        RequestContextMiddleware,
        service="test",
        max_body_bytes=1_000_000,
        large_body_bytes=5_000_000,
        large_body_markers=("/upload",),
    )

    @app.post("/things")
    async def create(thing: Thing) -> Thing:
        SEEN.append(thing)
        return thing

    @app.get("/search")
    async def search(q: str = "") -> dict[str, str]:
        return {"q": q}

    @app.post("/form")
    async def form(username: str = Form()) -> dict[str, str]:
        return {"username": username}

    return app


@pytest.fixture
async def client() -> httpx.AsyncClient:
    SEEN.clear()
    transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://t")


def problem(r: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["code"] == code
    assert body["request_id"] == r.headers["x-request-id"]
    return dict(body)


JSON = {"content-type": "application/json"}


async def test_nul_in_any_string_is_422_naming_each_field(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/things",
        json={"name": "a\x00b", "inner": {"text": "\x00"}, "tags": ["ok", "x\x00"]},
    )
    body = problem(r, 422, "validation_failed")
    assert {e["field"] for e in body["errors"]} == {"name", "inner.text", "tags.1"}  # type: ignore[union-attr]
    assert all(e["type"] == "string_nul_character" for e in body["errors"])  # type: ignore[union-attr]
    assert SEEN == []


async def test_nul_in_a_key_is_refused_and_an_escaped_backslash_is_not(
    client: httpx.AsyncClient,
) -> None:
    r = await client.post("/things", json={"name": "a", "extra": {"k\x00": 1}})
    assert problem(r, 422, "validation_failed")["errors"][0]["field"] == "extra.k\x00"  # type: ignore[index]
    # the six characters \u0000 written as text (an escaped backslash) are ordinary text
    r = await client.post("/things", content=b'{"name": "\\\\u0000"}', headers=JSON)
    assert r.status_code == 200
    assert r.json()["name"] == "\\u0000"


async def test_invalid_utf8_json_is_400_malformed_json(client: httpx.AsyncClient) -> None:
    r = await client.post("/things", content=b'{"name": "\xff\xfe"}', headers=JSON)
    body = problem(r, 400, "malformed_json")
    assert body["errors"][0]["type"] == "invalid_utf8"  # type: ignore[index]


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 5_000, 100_000])
async def test_deep_nesting_is_400_json_too_deep(client: httpx.AsyncClient, depth: int) -> None:
    r = await client.post("/things", content=b"[" * depth + b"]" * depth, headers=JSON)
    problem(r, 400, "json_too_deep")
    r = await client.post("/things", content=b'{"a":' * depth + b"1" + b"}" * depth, headers=JSON)
    problem(r, 400, "json_too_deep")
    # never closed: malformed, unless so deep that the parser gives up before the end
    r = await client.post("/things", content=b"[" * depth, headers=JSON)
    problem(r, 400, "malformed_json" if depth < 1000 else "json_too_deep")


async def test_many_brackets_but_shallow_passes(client: httpx.AsyncClient) -> None:
    r = await client.post("/things", json={"name": "a", "extra": {"p": [[1, 2]] * 500}})
    assert r.status_code == 200


async def test_query_string_bad_utf8_is_400_and_nul_is_422(client: httpx.AsyncClient) -> None:
    body = problem(await client.get("/search?q=%ff%fe"), 400, "invalid_encoding")
    assert body["errors"][0]["field"] == "query.q"  # type: ignore[index]
    body = problem(await client.get("/search?q=a%00b"), 422, "validation_failed")
    assert body["errors"][0]["field"] == "query.q"  # type: ignore[index]
    r = await client.get("/search", params={"q": "<script>alert(1)</script> '; DROP TABLE x; --"})
    assert r.json() == {"q": "<script>alert(1)</script> '; DROP TABLE x; --"}


async def test_header_bad_utf8_is_400_naming_it(client: httpx.AsyncClient) -> None:
    r = await client.get("/search", headers={"Idempotency-Key": b"\xff\xfe"})  # type: ignore[dict-item]
    body = problem(r, 400, "invalid_encoding")
    assert body["errors"][0]["field"] == "header.idempotency-key"  # type: ignore[index]


async def test_latin1_in_a_header_the_services_never_decode_passes(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get(
        "/search",
        params={"q": "x"},
        headers={"User-Agent": b"caf\xe9/1.0", "Cookie": b"n=\xe9"},  # type: ignore[dict-item]
    )
    assert r.status_code == 200, r.text


async def test_depth_counts_containers_not_the_values_in_them(client: httpx.AsyncClient) -> None:
    # the deepest container at level MAX_JSON_DEPTH (the object is level 1), its value below it,
    # and more brackets elsewhere so the quick count cannot wave it through
    body = '{"name": "a", "extra": {"x": ' + "[" * (MAX_JSON_DEPTH - 2) + "1"
    body += "]" * (MAX_JSON_DEPTH - 2) + ', "y": [[], [], []]}}'
    r = await client.post("/things", content=body.encode(), headers=JSON)
    assert r.status_code == 200, r.text
    too_deep = body.replace("1]", "[1]]", 1)
    problem(
        await client.post("/things", content=too_deep.encode(), headers=JSON), 400, "json_too_deep"
    )
    r = await client.get("/search", headers={"X-Note": "键".encode()})  # type: ignore[dict-item]
    assert r.status_code == 200  # UTF-8 is fine


async def test_form_field_with_nul_is_422(client: httpx.AsyncClient) -> None:
    r = await client.post("/form", data={"username": "ad\x00min"})
    body = problem(r, 422, "validation_failed")
    assert body["errors"][0]["field"] == "username"  # type: ignore[index]
    assert (await client.post("/form", data={"username": "admin"})).json() == {"username": "admin"}


async def test_screened_body_reaches_the_app_intact(client: httpx.AsyncClient) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        yield b'{"name": "'
        yield "一二三".encode()
        yield b'", "tags": ["<b>&amp;</b>"]}'

    r = await client.post("/things", content=chunks(), headers=JSON)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "一二三"
    assert r.json()["tags"] == ["<b>&amp;</b>"]


async def test_screened_body_still_has_its_size_limit(client: httpx.AsyncClient) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(20):
            yield b" " * 100_000

    problem(await client.post("/things", content=chunks(), headers=JSON), 413, "payload_too_large")
