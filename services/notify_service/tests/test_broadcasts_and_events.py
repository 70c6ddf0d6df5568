"""Broadcasts to an area subtree, and case events turned into messages."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from conftest import CLOCK, FAKES, auth, drain, fan_out
from notifytest_fakes import person
from test_delivery import read

from shared.testing import TestKeys

AREA = "330100.330106.330106001"


def leader(keys: TestKeys) -> dict[str, str]:
    return auth(keys, sub="leader-1", roles=["grid_leader"], areas=[AREA])


async def broadcast(
    client: httpx.AsyncClient, keys: TestKeys, key: str = "b1", **body: Any
) -> httpx.Response:
    payload = {
        "area_path": AREA,
        "audience": "residents",
        "template_key": "emergency_warning",
        "variables": {"content": "今晚有台风，请关好门窗。"},
        "priority": "critical",
        "channels": ["sms"],
        **body,
    }
    return await client.post(
        "/api/v1/broadcasts", json=payload, headers={**leader(keys), "Idempotency-Key": key}
    )


async def test_broadcast_reaches_each_recipient_of_the_subtree_once(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    people = [person(f"139{n:08d}") for n in range(250)]
    pages = [people[i : i + 100] for i in range(0, 250, 100)]
    pages[1].append(people[0])  # grid lists someone on two pages
    FAKES.grid_area_pages = pages
    created = await broadcast(client, test_keys)
    assert created.status_code == 202, created.text
    replay = await broadcast(client, test_keys)
    assert replay.json()["id"] == created.json()["id"]
    bid = created.json()["id"]

    assert await fan_out(app) == 250
    assert FAKES.grid_list_calls == 3
    assert FAKES.grid_list_limits == [100, 100, 100]
    await drain(app, batches=100)
    phones = [s.to for s in FAKES.sent_by("aliyun")]
    assert len(phones) == 250
    assert len(set(phones)) == 250

    state = (await client.get(f"/api/v1/broadcasts/{bid}", headers=leader(test_keys))).json()
    assert state["status"] == "fanned_out"
    assert state["recipient_count"] == 250
    assert state["delivery"] == {"sent": 250}


async def test_fan_out_resumes_after_a_failure_without_doubling(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    people = [person(f"137{n:08d}") for n in range(30)]
    FAKES.grid_area_pages = [people[:10], people[10:20], people[20:]]
    app.state.delivery.settings.broadcast_page_size = 10
    try:
        bid = (await broadcast(client, test_keys, key="b2")).json()["id"]
        FAKES.grid_fail = True
        assert await fan_out(app) == 0  # grid_service down: nothing lost, retried later
        FAKES.grid_fail = False
        CLOCK.advance(minutes=15)
        assert await fan_out(app) == 30
        # a worker that crashed after listing a page lists it again: nobody added twice
        from notify_service.broadcasts.models import Broadcast

        async with app.state.sessionmaker() as session, session.begin():
            b = await session.get(Broadcast, uuid.UUID(bid))
            assert b is not None
            b.status = "fanning_out"
            b.cursor = "1"
            b.next_attempt_at = CLOCK.now
        assert await fan_out(app) == 0
    finally:
        app.state.delivery.settings.broadcast_page_size = 100
    state = (await client.get(f"/api/v1/broadcasts/{bid}", headers=leader(test_keys))).json()
    assert state["recipient_count"] == 30


async def test_broadcast_rules(app: Any, client: httpx.AsyncClient, test_keys: TestKeys) -> None:
    outside = await client.post(
        "/api/v1/broadcasts",
        json={
            "area_path": "330100.330108",
            "audience": "residents",
            "template_key": "emergency_warning",
            "variables": {"content": "x"},
        },
        headers={**leader(test_keys), "Idempotency-Key": "b3"},
    )
    assert outside.status_code == 403
    assert outside.json()["code"] == "area_not_allowed"
    missing = await broadcast(client, test_keys, key="b4", variables={})
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "variables.content"
    bad_area = await broadcast(client, test_keys, key="b5", area_path="../etc")
    assert bad_area.status_code == 422
    resident = await client.post(
        "/api/v1/broadcasts",
        json={"area_path": AREA, "audience": "residents", "template_key": "emergency_warning"},
        headers={**auth(test_keys, roles=["resident"]), "Idempotency-Key": "b6"},
    )
    assert resident.status_code == 403
    unknown = await client.get(f"/api/v1/broadcasts/{uuid.uuid4()}", headers=leader(test_keys))
    assert unknown.status_code == 404


def relay(keys: TestKeys) -> dict[str, str]:
    return auth(keys, sub="case_service", roles=["platform"], scope="events:write", cid="case")


def case_event(kind: str, **payload: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "type": kind,
        "case_id": str(uuid.uuid4()),
        "case_version": 2,
        "occurred_at": "2026-11-23T02:00:00Z",
        "area_path": AREA,
        "payload": {"case_number": "XH20261123-0042", "title": "路灯不亮", **payload},
    }


async def post_event(
    client: httpx.AsyncClient, keys: TestKeys, event: dict[str, Any]
) -> httpx.Response:
    return await client.post(
        "/api/v1/events", json=event, headers={**relay(keys), "Idempotency-Key": event["id"]}
    )


async def test_events_become_messages_for_who_should_hear(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    reporter = person("13800000001")
    handlers = [person("13800000002"), person("13800000003")]
    supervisor = person("13800000004")
    for p in [reporter, *handlers, supervisor]:
        FAKES.grid_people[uuid.UUID(p["account_id"])] = p
    ids = {
        "reporter_account_id": reporter["account_id"],
        "assignee_account_ids": [h["account_id"] for h in handlers],
        "supervisor_account_ids": [supervisor["account_id"]],
        "due_at": "2026-11-24T10:00:00+08:00",
    }
    expectations = [
        ("case.accepted", ["13800000001"]),
        ("case.dispatched", ["13800000002", "13800000003"]),
        ("case.overdue", ["13800000002", "13800000003", "13800000004"]),
        ("case.commented", []),
    ]
    for kind, phones in expectations:
        FAKES.sent.clear()
        response = await post_event(client, test_keys, case_event(kind, **ids))
        assert response.status_code == 202, response.text
        assert len(response.json()["notification_ids"]) == len(phones)
        await drain(app)
        assert sorted(s.to for s in FAKES.sent) == phones, kind
        CLOCK.advance(minutes=2)  # past the per-minute cap


async def test_a_repeated_event_sends_nothing_twice(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    reporter = person("13800000011")
    FAKES.grid_people[uuid.UUID(reporter["account_id"])] = reporter
    event = case_event("case.accepted", reporter_account_id=reporter["account_id"])
    first = await post_event(client, test_keys, event)
    await drain(app)
    again = await post_event(client, test_keys, event)
    assert again.status_code == 202
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    await drain(app)
    assert len(FAKES.sent) == 1
    body = await read(client, test_keys, first.json()["notification_ids"][0])
    assert body["source_event_id"] == event["id"]
    assert FAKES.sent[0].body["TemplateParam"] == '{"case_number":"XH20261123-0042"}'


async def test_major_incident_reaches_leaders_at_once_and_once(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    from datetime import UTC, datetime

    CLOCK.now = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)  # midnight in Shanghai
    leaders = [person("13800000021"), person("13800000022")]
    for p in leaders:
        FAKES.grid_people[uuid.UUID(p["account_id"])] = p
    payload = {"major": True, "leader_account_ids": [p["account_id"] for p in leaders]}
    reported = case_event("case.reported", **payload)
    escalated = {**case_event("case.escalated", **payload), "case_id": reported["case_id"]}
    assert (await post_event(client, test_keys, reported)).status_code == 202
    second = await post_event(client, test_keys, escalated)
    assert second.json()["notification_ids"] == []  # leaders already told about this case
    await drain(app)
    assert sorted(s.to for s in FAKES.sent) == ["13800000021", "13800000022"]  # quiet hours


async def test_event_intake_refuses_bad_calls(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    event = case_event("case.accepted", reporter_account_id=str(uuid.uuid4()))
    mismatch = await client.post(
        "/api/v1/events", json=event, headers={**relay(test_keys), "Idempotency-Key": "other"}
    )
    assert mismatch.status_code == 422
    assert mismatch.json()["code"] == "idempotency_key_mismatch"
    no_scope = await client.post(
        "/api/v1/events",
        json=event,
        headers={**auth(test_keys, roles=["dispatcher"]), "Idempotency-Key": event["id"]},
    )
    assert no_scope.status_code == 403
    bad = case_event("case.dispatched", assignee_account_ids=["not-a-uuid"])
    malformed = await post_event(client, test_keys, bad)
    assert malformed.status_code == 422
    assert malformed.json()["errors"][0]["field"].startswith("payload.assignee_account_ids")
    missing = await client.post(
        "/api/v1/events",
        json={"id": event["id"], "type": "case.accepted"},
        headers={**relay(test_keys), "Idempotency-Key": event["id"]},
    )
    assert missing.status_code == 422
    assert await drain(app) == 0


async def test_a_mediation_session_tells_each_party_by_sms_and_mediators_hear_of_visits(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    """一条短信调解: the parties (no accounts) at the phones the relay opened; the mediators
    when a return visit falls due."""
    event = case_event(
        "mediation.schedule_session",
        session_time="2026-12-09 09:30",
        session_place="社区调解室",
        contacts=[{"phone": "13800000031"}, {"phone": "13800000032"}],
    )
    response = await post_event(client, test_keys, event)
    assert response.status_code == 202, response.text
    assert len(response.json()["notification_ids"]) == 2
    await drain(app)
    assert sorted(s.to for s in FAKES.sent) == ["13800000031", "13800000032"]
    params = FAKES.sent[0].body["TemplateParam"]
    assert "2026-12-09 09:30" in params
    assert "社区调解室" in params
    again = await post_event(client, test_keys, {**event, "id": event["id"]})
    assert again.json() == response.json()  # a repeat adds nothing
    FAKES.sent.clear()
    CLOCK.advance(minutes=2)
    mediator = person("13800000033")
    FAKES.grid_people[uuid.UUID(mediator["account_id"])] = mediator
    visit = case_event("mediation.visit_due", assignee_account_ids=[mediator["account_id"]])
    assert len((await post_event(client, test_keys, visit)).json()["notification_ids"]) == 1
    await drain(app)
    assert [s.to for s in FAKES.sent] == ["13800000033"]
