"""POST /api/v1/events/batch: the outbox relay's batch, each event idempotent on its own."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import sqlalchemy as sa
from conftest import FAKES, auth
from notifytest_fakes import person
from test_broadcasts_and_events import case_event, post_event, relay

from notify_service.notifications.models import Notification
from shared.testing import TestKeys


async def post_batch(
    client: httpx.AsyncClient, keys: TestKeys, events: list[dict[str, Any]]
) -> httpx.Response:
    return await client.post("/api/v1/events/batch", json={"events": events}, headers=relay(keys))


async def count_notifications(app: Any) -> int:
    async with app.state.sessionmaker() as session:
        return int(
            (await session.execute(sa.select(sa.func.count()).select_from(Notification))).scalar()
        )


def reporter_event() -> dict[str, Any]:
    reporter = person(f"1380000{uuid.uuid4().int % 10000:04d}")
    FAKES.grid_people[uuid.UUID(reporter["account_id"])] = reporter
    return case_event("case.accepted", reporter_account_id=reporter["account_id"])


async def test_a_batch_accepts_each_event_and_a_replay_through_either_endpoint_adds_nothing(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    events = [reporter_event() for _ in range(3)]
    before = await count_notifications(app)
    first = await post_batch(client, test_keys, events)
    assert first.status_code == 200, first.text
    results = first.json()["results"]
    assert [r["result"] for r in results] == ["accepted"] * 3
    assert [r["event_id"] for r in results] == [e["id"] for e in events]
    assert all(len(r["notification_ids"]) == 1 for r in results)
    assert await count_notifications(app) == before + 3

    again = await post_batch(client, test_keys, events)
    assert [r["result"] for r in again.json()["results"]] == ["replayed"] * 3
    assert [r["notification_ids"] for r in again.json()["results"]] == [
        r["notification_ids"] for r in results
    ]
    # the single endpoint knows an event first seen in a batch …
    single = await post_event(client, test_keys, events[0])
    assert single.status_code == 202
    assert single.headers.get("Idempotent-Replayed") == "true"
    assert single.json()["notification_ids"] == results[0]["notification_ids"]
    # … and a batch knows one first seen alone, even with its keys in another order
    alone = reporter_event()
    one = await post_event(client, test_keys, alone)
    reordered = dict(reversed(list(alone.items())))
    via_batch = await post_batch(client, test_keys, [reordered])
    assert via_batch.json()["results"][0]["result"] == "replayed"
    assert via_batch.json()["results"][0]["notification_ids"] == one.json()["notification_ids"]
    assert await count_notifications(app) == before + 4


async def test_a_bad_event_is_refused_alone_and_writes_nothing(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    good = reporter_event()
    seen = reporter_event()
    await post_batch(client, test_keys, [seen])
    changed = {**seen, "case_version": 9}  # the same id with a different body
    malformed = case_event("case.dispatched", assignee_account_ids=["not-a-uuid"])
    missing = {"id": str(uuid.uuid4()), "type": "case.accepted"}
    before = await count_notifications(app)
    response = await post_batch(client, test_keys, [malformed, good, changed, missing])
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["result"] for r in results] == ["refused", "accepted", "refused", "refused"]
    assert results[0]["status"] == 422
    assert results[0]["problem"]["errors"][0]["field"].startswith("payload.assignee_account_ids")
    assert results[0]["problem"]["title"] == "请求校验未通过"
    assert results[2]["problem"]["code"] == "idempotency_key_reused"
    assert results[3]["event_id"] == missing["id"]
    assert {e["field"] for e in results[3]["problem"]["errors"]} >= {"case_id", "occurred_at"}
    assert await count_notifications(app) == before + 1  # only the good one
    # the refused events were not remembered: sent right, they are accepted
    fixed = case_event("case.dispatched", assignee_account_ids=[])
    fixed["id"] = malformed["id"]
    retried = await post_batch(client, test_keys, [fixed])
    assert retried.json()["results"][0]["result"] == "accepted"


async def test_a_batch_is_at_most_100_events_and_needs_the_events_scope(
    client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    too_many = await post_batch(client, test_keys, [reporter_event() for _ in range(101)])
    assert too_many.status_code == 422
    assert too_many.json()["errors"][0]["field"] == "events"
    assert too_many.headers["content-type"].startswith("application/problem+json")
    empty = await post_batch(client, test_keys, [])
    assert empty.status_code == 422
    assert empty.json()["errors"][0]["field"] == "events"
    exactly = await post_batch(client, test_keys, [reporter_event() for _ in range(100)])
    assert exactly.status_code == 200
    assert len(exactly.json()["results"]) == 100
    no_scope = await client.post(
        "/api/v1/events/batch",
        json={"events": [reporter_event()]},
        headers=auth(test_keys, roles=["dispatcher"]),
    )
    assert no_scope.status_code == 403
    anonymous = await client.post("/api/v1/events/batch", json={"events": [reporter_event()]})
    assert anonymous.status_code == 401
