"""Revocation that bites (issue 21, finding 3): a revoked sign-in's or a disabled account's
access tokens fail with 401 token_revoked within the stated bound, through the feed."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import jwt
import pytest
from test_auth import create_staff, login

from shared.revocation import RevocationList, TokenRevoked

BOUND_SECONDS = 5.0


@pytest.fixture(autouse=True)
def fresh_follower(app: Any) -> None:
    """The test database is emptied between tests (ids start again), the app is not: the
    follower reads the feed from the start, as a new process would."""
    app.state.revocations.cursor = 0


async def status_until(
    client: httpx.AsyncClient, token: str, want: int, *, within: float = BOUND_SECONDS
) -> tuple[int, float, dict[str, Any]]:
    started = time.monotonic()
    while True:
        response = await client.get(
            "/api/v1/accounts/me", headers={"Authorization": f"Bearer {token}"}
        )
        elapsed = time.monotonic() - started
        if response.status_code == want or elapsed > within:
            return response.status_code, elapsed, response.json()
        await asyncio.sleep(0.1)


@pytest.mark.usefixtures("own_tokens")
async def test_a_revoked_sign_in_fails_within_the_bound(
    client: httpx.AsyncClient, admin: Any
) -> None:
    await create_staff(client, admin)
    first = (await login(client)).json()
    second = (await login(client)).json()
    claims = jwt.decode(first["access_token"], options={"verify_signature": False})
    assert claims["sid"]
    assert (
        claims["sid"]
        != jwt.decode(second["access_token"], options={"verify_signature": False})["sid"]
    )
    ok, _, _ = await status_until(client, first["access_token"], 200)
    assert ok == 200
    await client.post("/api/v1/auth/revoke", data={"token": first["refresh_token"]})
    status, elapsed, body = await status_until(client, first["access_token"], 401)
    assert status == 401, body  # today: 200 for the token's whole lifetime
    assert body["code"] == "token_revoked"
    assert elapsed <= BOUND_SECONDS
    # the other sign-in of the same account is not touched
    assert (await status_until(client, second["access_token"], 200))[0] == 200
    feed = await client.get("/api/v1/auth/revocations", params={"after": 0})
    assert [(i["kind"], i["value"]) for i in feed.json()["items"]] == [("sid", claims["sid"])]
    later = await client.get(
        "/api/v1/auth/revocations", params={"after": feed.json()["items"][-1]["id"]}
    )
    assert later.json()["items"] == []


@pytest.mark.usefixtures("own_tokens")
async def test_disabling_an_account_revokes_its_access_tokens(
    client: httpx.AsyncClient, admin: Any
) -> None:
    account = await create_staff(client, admin)
    tokens = (await login(client)).json()
    assert (await status_until(client, tokens["access_token"], 200))[0] == 200
    disabled = await client.patch(
        f"/api/v1/accounts/{account['id']}", headers=admin(), json={"disabled": True}
    )
    assert disabled.status_code == 200, disabled.text
    feed = await client.get("/api/v1/auth/revocations")
    assert [(i["kind"], i["value"]) for i in feed.json()["items"]][-1:] == [
        ("account", account["id"])
    ]
    status, elapsed, body = await status_until(client, tokens["access_token"], 401)
    assert (status, body.get("code")) == (401, "token_revoked"), body
    assert elapsed <= BOUND_SECONDS
    # enabled again: a new sign-in works, the old token stays refused
    await client.patch(
        f"/api/v1/accounts/{account['id']}", headers=admin(), json={"disabled": False}
    )
    await asyncio.sleep(1.1)  # iat is in whole seconds
    fresh = (await login(client)).json()
    assert (await status_until(client, fresh["access_token"], 200))[0] == 200
    assert (await status_until(client, tokens["access_token"], 401))[0] == 401


async def test_the_follower_keeps_what_it_has_when_the_feed_is_unreachable() -> None:
    calls = {"n": 0}

    async def fetch(after: int) -> tuple[list[dict[str, Any]], int]:
        calls["n"] += 1
        if calls["n"] == 1:
            return [{"id": 1, "kind": "sid", "value": "s1", "revoked_at": time.time()}], 1
        if calls["n"] == 2:
            return [], 1
        raise httpx.ConnectError("grid_service is down")

    follower = RevocationList(fetch, poll_seconds=0.01, keep_seconds=3600)
    follower.start()
    await asyncio.sleep(0.2)
    await follower.stop()
    assert calls["n"] > 3  # kept polling through the failures
    with pytest.raises(TokenRevoked):
        follower.check({"sub": "a", "sid": "s1", "iat": time.time()})
    follower.check({"sub": "a", "sid": "s2", "iat": time.time()})  # others pass
    follower.apply([{"id": 2, "kind": "account", "value": "a", "revoked_at": 1000.0}])
    follower.check({"sub": "a", "iat": 1001})  # issued after the account's revocation
    with pytest.raises(TokenRevoked):
        follower.check({"sub": "a", "iat": 1000})
    follower.prune(now=1000.0 + 3601)
    follower.check({"sub": "a", "iat": 999})  # forgotten once no such token can live


async def test_a_follower_ahead_of_the_feed_reads_it_again() -> None:
    """A restored grid database starts its ids again: the follower must not skip them."""
    feed = [{"id": 1, "kind": "sid", "value": "new", "revoked_at": time.time()}]

    async def fetch(after: int) -> tuple[list[dict[str, Any]], int]:
        return [i for i in feed if i["id"] > after], 1

    follower = RevocationList(fetch, poll_seconds=1, keep_seconds=3600)
    follower.cursor = 40
    await follower.sync_once()
    with pytest.raises(TokenRevoked):
        follower.check({"sub": "a", "sid": "new", "iat": time.time()})
