"""Both grids' workers hear of a resident's move (issue 22): the messages are written to
grid_service's outbox with the transfer, and the relay posts one notification per person to
notify_service (a local fake that checks the requests as notify_service would)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest_asyncio
import sqlalchemy as sa
from basicinfo_helpers import GRID1, GRID2, headers, make_resident, setup_grid

from grid_service.messages.models import OutboxMessage
from grid_service.messages.relay import SelfToken, relay_once
from shared.http import ServiceClient
from shared.testing import TestKeys


async def worker_account(client: httpx.AsyncClient, admin: Any, username: str, grid: str) -> str:
    r = await client.post(
        "/api/v1/accounts",
        headers=admin(),
        json={
            "username": username,
            "name": username,
            "password": "a-long-passphrase",
            "roles": ["grid_worker"],
            "area_paths": [grid],
        },
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def messages_to(app: Any, account: str) -> list[OutboxMessage]:
    async with app.state.sessionmaker() as session:
        rows = await session.execute(
            sa.select(OutboxMessage)
            .where(sa.literal(account) == sa.any_(OutboxMessage.__table__.c.account_ids))  # type: ignore[attr-defined]
            .order_by(OutboxMessage.created_at)  # type: ignore[arg-type]
        )
        return list(rows.scalars().all())


@pytest_asyncio.fixture
async def fake_notify(app: Any) -> AsyncIterator[dict[str, Any]]:
    """notify_service's ``POST /api/v1/notifications`` as grid_service's relay calls it:
    bearer token of a system client signed by grid_service (checked against its JWKS), an
    ``Idempotency-Key``, an account recipient; ``state["status"]`` is the answer."""
    state: dict[str, Any] = {"calls": [], "status": 202}

    async def handler(request: httpx.Request) -> httpx.Response:
        assert request.method == "POST"
        assert request.url.path == "/api/v1/notifications"
        claims = await app.state.own_verifier.verify(
            request.headers["authorization"].removeprefix("Bearer ")
        )
        assert claims["roles"] == ["platform"]
        assert "notifications:write" in claims["scope"].split()
        body = json.loads(request.content)
        assert set(body) == {"template_key", "variables", "recipient"}
        state["calls"].append({"key": request.headers["idempotency-key"], "body": body})
        return httpx.Response(state["status"], json={"id": str(uuid.uuid4())})

    state["client"] = ServiceClient(
        "http://notify-service.test",
        name="notify_service",
        transport=httpx.MockTransport(handler),
        retries=0,
    )
    yield state
    await state["client"].aclose()


async def test_both_grids_workers_are_told_of_a_move(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys, app: Any, fake_notify: Any
) -> None:
    s = await setup_grid(client, admin())
    out_worker = await worker_account(client, admin, "out-worker", GRID1)
    in_worker = await worker_account(client, admin, "in-worker", GRID2)
    grid1 = headers(test_keys, sub=out_worker, roles=["grid_worker"], areas=[GRID1])
    grid2 = headers(test_keys, sub=in_worker, roles=["grid_worker"], areas=[GRID2])
    resident = await make_resident(client, grid1, s["grid"])
    asked = await client.post(
        "/api/v1/resident-transfers",
        headers=grid1,
        json={
            "resident_id": resident["id"],
            "to_area_id": s["tree"]["grid2"]["id"],
            "reason": "搬家",
        },
    )
    assert asked.status_code == 201, asked.text

    # asked by the grid moving out: the grid moving in decides, its worker is told
    [to_in] = await messages_to(app, in_worker)
    assert to_in.template_key == "resident_transfer_asked"
    assert to_in.account_ids == [in_worker]
    assert to_in.variables["resident"] == "张*"  # masked: the name is personal data
    assert "张伟" not in json.dumps(to_in.variables, ensure_ascii=False)
    assert await messages_to(app, out_worker) == []

    done = await client.post(
        f"/api/v1/resident-transfers/{asked.json()['id']}/complete", headers=grid2, json={}
    )
    assert done.status_code == 200, done.text
    [decided] = await messages_to(app, out_worker)
    assert decided.template_key == "resident_transfer_decided"
    assert sorted(decided.account_ids) == sorted([out_worker, in_worker])
    assert decided.variables["outcome"] == "已办结，居民已迁入"

    # the relay posts each person's message once, keyed by row and person
    token = SelfToken(app.state.sessionmaker, app.state.settings)
    while await relay_once(app.state.sessionmaker, fake_notify["client"], token):
        pass
    mine = [
        c
        for c in fake_notify["calls"]
        if c["key"].split(":")[0] in {str(to_in.id), str(decided.id)}
    ]
    assert sorted(c["key"] for c in mine) == sorted(
        [f"{to_in.id}:{in_worker}", f"{decided.id}:{out_worker}", f"{decided.id}:{in_worker}"]
    )
    assert {c["body"]["recipient"]["account_id"] for c in mine} == {out_worker, in_worker}
    assert all(m.relayed_at is not None for m in await messages_to(app, in_worker))
    before = len(fake_notify["calls"])
    assert await relay_once(app.state.sessionmaker, fake_notify["client"], token) == 0
    assert len(fake_notify["calls"]) == before


async def test_a_refusal_is_told_and_a_refused_post_is_retried_later(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys, app: Any, fake_notify: Any
) -> None:
    s = await setup_grid(client, admin())
    out_worker = await worker_account(client, admin, "out-worker-2", GRID1)
    in_worker = await worker_account(client, admin, "in-worker-2", GRID2)
    grid1 = headers(test_keys, sub=out_worker, roles=["grid_worker"], areas=[GRID1])
    grid2 = headers(test_keys, sub=in_worker, roles=["grid_worker"], areas=[GRID2])
    resident = await make_resident(client, grid2, s["tree"]["grid2"]["id"])
    # asked by the grid moving in: the grid moving out decides
    asked = await client.post(
        "/api/v1/resident-transfers",
        headers=grid1,
        json={"resident_id": resident["id"], "to_area_id": s["grid"], "reason": "迁入本网格"},
    )
    assert asked.status_code == 201, asked.text
    assert asked.json()["started_on"] == "to"
    [to_out] = await messages_to(app, in_worker)
    assert to_out.template_key == "resident_transfer_asked"
    refused = await client.post(
        f"/api/v1/resident-transfers/{asked.json()['id']}/refuse",
        headers=grid2,
        json={"reason": "人户一致，无需迁移"},
    )
    assert refused.status_code == 200, refused.text
    [decided] = await messages_to(app, out_worker)
    assert decided.variables["outcome"] == "不予迁移（人户一致，无需迁移）"
    assert sorted(decided.account_ids) == sorted([out_worker, in_worker])

    # notify_service down: nothing is lost, the row waits for its next attempt
    fake_notify["status"] = 503
    token = SelfToken(app.state.sessionmaker, app.state.settings)
    await relay_once(app.state.sessionmaker, fake_notify["client"], token, batch=500)
    [row] = await messages_to(app, out_worker)
    assert row.relayed_at is None
    assert row.last_error == "upstream_unavailable"
    assert row.attempts == 1
    assert row.next_attempt_at > row.created_at
