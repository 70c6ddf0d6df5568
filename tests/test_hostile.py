"""Hostile input against the main write endpoints of the running system: injection attempts,
NUL characters, huge strings, bad encodings, deep nesting, oversized bodies.

Every text field of each endpoint's request schema (read from its OpenAPI, so new fields are
covered without editing this file) gets each payload. A free-text field stores the payload and
gives it back byte for byte (no escaping on the way in, nothing executed); a field with a
format, pattern or enum refuses it with a 4xx problem; a NUL character or a string past the
field's limit is a 422 naming the field. Nothing is ever a 5xx, and the tables are all there
afterwards.
"""

from __future__ import annotations

import html
import itertools
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.helpers import Person, login, query, report_body
from tests.system import System

INERT = [
    "'; DROP TABLE case; --",
    '" OR 1=1; --',
    "<script>alert(1)</script>",
    "{{7*7}} ${7*7} #{7*7}",
    "\u202eevil\u200b 𝕏 &amp; \\u0000",
]
NUL = "a\x00b"
HUGE = "长" * 100_000  # 300 kB of UTF-8: within the body limit, past every field's
PROBLEM = "application/problem+json"
SERIAL = itertools.count()


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def text_fields(
    spec: dict[str, Any], schema: dict[str, Any], path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    """Every string property of a request schema (through objects, $ref and nullable)."""
    schema = resolve(spec, schema)
    for option in schema.get("anyOf", []):
        option = resolve(spec, option)
        if option.get("type") in ("string", "object"):
            yield from text_fields(spec, option, path)
    if schema.get("type") == "string":
        yield path, schema
    for name, sub in (schema.get("properties") or {}).items():
        yield from text_fields(spec, sub, (*path, name))


def free_text(schema: dict[str, Any], value: str) -> bool:
    constrained = {"pattern", "enum", "format", "const"} & schema.keys()
    return not constrained and schema.get("maxLength", 10**9) >= len(value)


def put(body: dict[str, Any], path: tuple[str, ...], value: str) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(body))
    node = out
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return out


def get_path(doc: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(doc, dict) or part not in doc:
            return None
        doc = doc[part]
    return doc


class Target:
    def __init__(
        self,
        name: str,
        service: str,
        path: str,
        who: str,
        baseline: Callable[[], dict[str, Any]],
        must_store: str,
        read_back: Callable[[dict[str, Any]], str] | None = None,
        echo: dict[str, str] | None = None,
    ) -> None:
        self.echo = echo or {}  # request field → the response field that carries it back
        self.name, self.service, self.path, self.who = name, service, path, who
        self.must_store = must_store  # a free-text field that must keep every inert payload
        self.baseline, self.read_back = baseline, read_back


async def sweep(system: System, client: httpx.AsyncClient, target: Target, url: str) -> int:
    person: Person = await login(system, target.who)
    base = system[target.service].url
    spec = (await client.get(base + "/openapi.json")).json()
    op = spec["paths"][target.path]["post"]
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    fields = [
        (p, s)
        for p, s in text_fields(spec, schema)
        if get_path(target.baseline(), p[:-1]) is not None or len(p) == 1
    ]
    assert fields, f"{target.name}: no text fields found in the OpenAPI request schema"
    stored = 0
    for path, field_schema in fields:
        name = ".".join(path)
        for value in [*INERT, NUL, HUGE]:
            body = put(target.baseline(), path, value)
            r = await client.post(
                base + url,
                json=body,
                headers={**person.headers, "Idempotency-Key": f"hostile-{uuid.uuid4()}"},
            )
            what = f"{target.name} {name}={value[:30]!r}: {r.status_code} {r.text[:300]}"
            assert r.status_code < 500, what
            if value in (NUL, HUGE):
                assert r.status_code == 422, what
                assert r.headers["content-type"] == PROBLEM, what
                assert name in {e["field"] for e in r.json()["errors"]}, what
                continue
            if not free_text(field_schema, value):
                assert 400 <= r.status_code < 500, what
            if 400 <= r.status_code < 500 and name != target.must_store:
                # refused (a reference to something that does not exist, a format): a problem
                assert r.headers["content-type"] == PROBLEM, what
                assert r.json()["code"], what
                continue
            assert r.status_code in (200, 201, 202), what
            echoed = get_path(r.json(), tuple(target.echo.get(name, name).split(".")))
            if name != target.must_store and echoed != value:
                # a field the server fills itself (the reporter's account, …) ignores the input;
                # what it must never do is keep the text in an altered (escaped) form
                escaped = html.escape(value)
                if escaped != value:
                    assert escaped not in json.dumps(r.json(), ensure_ascii=False), what
                continue
            assert echoed == value, what
            if target.read_back is not None:
                got = await client.get(base + target.read_back(r.json()), headers=person.headers)
                assert got.status_code == 200, what
                read = get_path(got.json(), path)
                assert read == value, f"{what} read back {read!r}"
            stored += 1
    return stored


async def test_text_fields_store_inert_text_and_refuse_nul_and_huge(system: System) -> None:
    resident = await login(system, "resident")
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.post(
            system["case"].url + "/api/v1/cases", json=report_body(), headers=resident.headers
        )
        case_id = r.json()["id"]
        located = (
            await client.get(
                system["grid"].url + "/api/v1/grids/locate",
                params={"lat": 30.2741, "lng": 120.1551},
            )
        ).json()
        area_id = located["area"]["id"]
        targets = [
            (
                Target(
                    "case intake",
                    "case",
                    "/api/v1/cases",
                    "resident",
                    report_body,
                    "description",
                    read_back=lambda made: f"/api/v1/cases/{made['id']}",
                ),
                "/api/v1/cases",
            ),
            (
                Target(
                    "case comment",
                    "case",
                    "/api/v1/cases/{case_id}/comments",
                    "dispatcher",
                    lambda: {"body": "已电话联系"},
                    "body",
                    echo={"body": "reason"},  # a comment is a timeline entry
                ),
                f"/api/v1/cases/{case_id}/comments",
            ),
            (
                Target(
                    "grid address",
                    "grid",
                    "/api/v1/addresses",
                    "admin",
                    lambda: {
                        "area_id": area_id,
                        "street_address": f"学院路{next(SERIAL)}号",
                        "building_no": str(next(SERIAL)),
                    },
                    "street_address",
                ),
                "/api/v1/addresses",
            ),
            (
                Target(
                    "notify template",
                    "notify",
                    "/api/v1/templates",
                    "admin",
                    lambda: {
                        "key": f"hostile_{next(SERIAL)}",
                        "channel": "inbox",
                        "title": "提醒",
                        "body": "您好",
                    },
                    "",  # title and body are format strings: "{7*7}" is refused as a placeholder
                    read_back=lambda made: f"/api/v1/templates/{made['id']}",
                ),
                "/api/v1/templates",
            ),
        ]
        for target, url in targets:
            stored = await sweep(system, client, target, url)
            assert stored >= 3, f"{target.name}: only {stored} payloads stored"
    # the injection attempts did nothing: the tables are there and still hold their rows
    for key, tables in {
        "case": ["case", "outbox_event", "timeline_entry"],
        "grid": ["account", "standard_address", "area"],
        "notify": ["message_template"],
    }.items():
        for table in tables:
            rows = await query(system, key, f'SELECT count(*) FROM "{table}"')  # noqa: S608
            assert rows[0][0] > 0, f"{key}.{table} is empty"


@pytest.mark.parametrize("key", ["case", "grid", "notify"])
async def test_malformed_requests_are_4xx_problems(system: System, key: str) -> None:
    admin = await login(system, "admin")
    base = system[key].url
    path = {"case": "/api/v1/cases", "grid": "/api/v1/addresses", "notify": "/api/v1/templates"}[
        key
    ]
    json_headers = {**admin.headers, "Content-Type": "application/json"}

    async with httpx.AsyncClient(timeout=30) as client:

        async def expect(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
            assert r.status_code == status, r.text[:300]
            assert r.headers["content-type"] == PROBLEM
            body = r.json()
            assert body["code"] == code
            assert "Traceback" not in r.text
            return dict(body)

        await expect(
            await client.post(base + path, content=b"[" * 100_000, headers=json_headers),
            400,
            "json_too_deep",
        )
        await expect(
            await client.post(base + path, content=b'{"a": "\xff\xfe"}', headers=json_headers),
            400,
            "malformed_json",
        )
        await expect(
            await client.post(base + path, content=b'{"a": ', headers=json_headers),
            400,
            "malformed_json",
        )
        big = b'{"a": "' + b"x" * 3_000_000 + b'"}'
        await expect(
            await client.post(base + path, content=big, headers=json_headers),
            413,
            "payload_too_large",
        )

        async def stream() -> Any:  # no Content-Length: the limit still holds
            for _ in range(30):
                yield b" " * 100_000

        await expect(
            await client.post(base + path, content=stream(), headers=json_headers),
            413,
            "payload_too_large",
        )
        body = await expect(
            await client.get(base + path + "?limit=5&q=%ff%fe", headers=admin.headers),
            400,
            "invalid_encoding",
        )
        assert body["errors"][0]["field"] == "query.q"
        body = await expect(
            await client.get(base + path + "?q=a%00b", headers=admin.headers),
            422,
            "validation_failed",
        )
        assert body["errors"][0]["field"] == "query.q"
        body = await expect(
            await client.post(
                base + path,
                content=b"{}",
                headers={**json_headers, "Idempotency-Key": b"\xff\xfe-key"},  # type: ignore[dict-item]
            ),
            400,
            "invalid_encoding",
        )
        assert body["errors"][0]["field"] == "header.idempotency-key"
    assert (await query(system, key, "SELECT 1"))[0][0] == 1


async def test_nul_in_a_login_form_is_422(system: System) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.post(
            system["grid"].url + "/api/v1/auth/token",
            data={"grant_type": "password", "username": "ad\x00min", "password": "demo12345"},
        )
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "username"
