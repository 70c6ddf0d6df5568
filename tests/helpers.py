"""Acting as the demo people against the running system, and reading its databases."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx

from tests.system import System

PASSWORD = "demo12345"
HOME = {"lat": 30.2741, "lng": 120.1551, "crs": "wgs84"}


class Person:
    def __init__(self, username: str, token: str) -> None:
        self.username = username
        self.token = token
        claims = token.split(".")[1]
        self.claims = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
        self.sub: str = self.claims["sub"]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def login(system: System, username: str, *, base: str | None = None) -> Person:
    """Sign in as a demo person at grid_service (or at `base`: the gateway, one replica)."""
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.post(
            (base or system.url("grid")) + "/api/v1/auth/token",
            data={"grant_type": "password", "username": username, "password": PASSWORD},
        )
    assert r.status_code == 200, r.text
    return Person(username, r.json()["access_token"])


async def platform_client(system: System, *scopes: str) -> Person:
    """A new platform client with ``scopes`` (created by the demo admin), signed in with the
    client-credentials grant: a system client, not a person."""
    admin = await login(system, "admin")
    client_id = f"test-{uuid.uuid4().hex[:12]}"
    async with httpx.AsyncClient() as client:
        created = await client.post(
            system["grid"].url + "/api/v1/platform-clients",
            json={"id": client_id, "name": client_id, "scopes": list(scopes)},
            headers=admin.headers,
        )
        assert created.status_code == 201, created.text
        r = await client.post(
            system["grid"].url + "/api/v1/auth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": created.json()["client_secret"],
                "scope": " ".join(scopes),
            },
        )
    assert r.status_code == 200, r.text
    return Person(client_id, r.json()["access_token"])


async def query(system: System, key: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    dsn = system.database_urls[key].replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def eventually(
    check: Callable[[], Awaitable[bool]],
    timeout: float = 30,
    what: str = "condition",
    every: float = 0.2,
) -> None:
    """Wait until `check` holds, asking every `every` seconds (longer for a heavy check)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await check():
            return
        await asyncio.sleep(every)
    raise AssertionError(f"{what} not met within {timeout}s")


def report_body(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "category_code": "0802",
        "channel": "mini_program",
        "description": "学院路口井盖缺失，夜里很危险",
        "location": dict(HOME),
        "reporter": {"name": "李娜", "phone": "13900000007"},
    }
    body.update(fields)
    return body
