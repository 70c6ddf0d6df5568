"""Webhooks and the 12345-style work-order exchange."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from conftest import ADMIN, DISPATCHER_C1, PLATFORM, RESIDENT, WORKER_A, Api, Person
from sqlmodel import col, select

from case_service.sla.models import CaseDeadline
from case_service.webhooks.models import WebhookDelivery
from case_service.webhooks.service import deliver_due, signature, verify
from shared.db import utcnow

MASTER = "dev-only-webhook-signing-key"  # the test settings' default


class Receiver:
    """A platform's webhook endpoint: fails the first ``failures`` calls, records the rest."""

    def __init__(self, failures: int = 0, hang: asyncio.Event | None = None) -> None:
        self.failures = failures
        self.hang = hang
        self.calls: list[httpx.Request] = []
        self.accepted: dict[str, dict[str, Any]] = {}  # delivery id -> body (de-duplicated)

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        if self.hang is not None:
            await self.hang.wait()
        if len(self.calls) <= self.failures:
            return httpx.Response(503)
        self.accepted.setdefault(request.headers["X-Gridgov-Delivery"], json.loads(request.content))
        return httpx.Response(204)


async def subscribe(api: Api, who: Person = PLATFORM, **body: Any) -> httpx.Response:
    payload = {"url": "https://12345.example/hooks", "event_types": []}
    payload.update(body)
    return await api.client.post("/api/v1/webhooks", json=payload, headers=api.headers(who))


async def map_code(api: Api, external: str = "SZ-0301", ours: str = "0802") -> None:
    r = await api.client.put(
        f"/api/v1/work-orders/category-mappings/{PLATFORM.sub}/{external}",
        json={"category_code": ours},
        headers=api.headers(ADMIN),
    )
    assert r.status_code == 200, r.text


async def push(api: Api, order_id: str = "HZ-1", expect: int = 201, **body: Any) -> Any:
    payload = {
        "order_id": order_id,
        "category_code": "SZ-0301",
        "description": "市民来电：井盖缺失",
        "reporter": {"name": "张先生", "phone": "13900001111"},
        "location": {"lat": 30.2741, "lng": 120.1551},
    }
    payload.update(body)
    r = await api.client.post("/api/v1/work-orders", json=payload, headers=api.headers(PLATFORM))
    assert r.status_code == expect, r.text
    return r.json()


async def run_deliveries(app: Any, receiver: Receiver, now: datetime) -> int:
    async with httpx.AsyncClient(transport=httpx.MockTransport(receiver)) as http:
        return await deliver_due(app.state.sessionmaker, http, master_key=MASTER, now=now)


async def test_signature_verifies_with_the_documented_recipe(api: Api, app: Any) -> None:
    created = (await subscribe(api, event_types=["case.reported"])).json()
    await map_code(api)
    await push(api)
    receiver = Receiver()
    assert await run_deliveries(app, receiver, utcnow()) == 1
    request = receiver.calls[0]
    header = request.headers["X-Gridgov-Signature"]
    # The recipe of docs/integration.md, written out independently of our code:
    parts = dict(p.split("=", 1) for p in header.split(","))
    signed = parts["t"].encode() + b"." + request.content
    expected = hmac.new(created["secret"].encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(parts["v1"], expected)
    now = int(parts["t"])
    assert verify(created["secret"], header, request.content, now=now)
    assert not verify(created["secret"], header, request.content + b" ", now=now)
    assert not verify("another-secret", header, request.content, now=now)
    assert not verify(created["secret"], header, request.content, now=now + 3600)  # replayed
    body = json.loads(request.content)
    assert body["type"] == "case.reported"
    assert body["case"]["external_id"] == "HZ-1"
    assert "13900001111" not in request.content.decode()
    assert signature("k", 1, b"x") == "t=1,v1=" + hmac.new(b"k", b"1.x", hashlib.sha256).hexdigest()


async def test_a_receiver_failing_three_times_gets_the_delivery_once(api: Api, app: Any) -> None:
    await subscribe(api, event_types=["case.reported"])
    await map_code(api)
    await push(api)
    receiver = Receiver(failures=3)
    now = utcnow()
    for _ in range(10):
        await run_deliveries(app, receiver, now)
        now += timedelta(hours=1)  # past any backoff
    assert len(receiver.calls) == 4
    assert len({c.headers["X-Gridgov-Delivery"] for c in receiver.calls}) == 1
    assert len(receiver.accepted) == 1
    async with app.state.sessionmaker() as s:
        row = (await s.execute(select(WebhookDelivery))).scalar_one()
    assert (row.status, row.attempts, row.last_status_code) == ("delivered", 4, 204)


async def test_a_dead_receiver_fails_after_the_window_and_never_slows_cases(
    api: Api, app: Any
) -> None:
    sub = (await subscribe(api)).json()
    await map_code(api)
    order = await push(api)
    hang = asyncio.Event()
    receiver = Receiver(hang=hang)
    task = asyncio.create_task(run_deliveries(app, receiver, utcnow()))
    while not receiver.calls:
        await asyncio.sleep(0.01)
    # The receiver hangs; the case is handled meanwhile, unhindered.
    r = await api.act(DISPATCHER_C1, order["case_id"], "accept")
    assert r.json()["status"] == "accepted"
    hang.set()
    await task
    dead = Receiver(failures=10_000)
    now = utcnow()
    for _ in range(60):
        now += timedelta(hours=1)
        await run_deliveries(app, dead, now)
    listed = await api.client.get(
        f"/api/v1/webhooks/{sub['id']}/deliveries",
        params={"status": "failed"},
        headers=api.headers(PLATFORM),
    )
    assert listed.status_code == 200
    failed = listed.json()["items"]
    assert {d["event_type"] for d in failed} >= {"case.accepted"}
    assert all(d["attempts"] > 3 for d in failed)
    # Replay: the same delivery id goes out again.
    target = failed[0]
    r = await api.client.post(
        f"/api/v1/webhooks/{sub['id']}/deliveries/{target['id']}/replay",
        headers=api.headers(PLATFORM),
    )
    assert r.status_code == 202
    assert r.json()["status"] == "pending"
    healthy = Receiver()
    await run_deliveries(app, healthy, utcnow() + timedelta(seconds=1))
    assert target["id"] in healthy.accepted
    r = await api.client.post(
        f"/api/v1/webhooks/{sub['id']}/deliveries/{target['id']}/replay",
        headers=api.headers(PLATFORM),
    )
    assert r.status_code == 202  # delivered ones can be replayed too


async def test_webhook_refusals(api: Api) -> None:
    r = await subscribe(api, who=RESIDENT)
    assert (r.status_code, r.json()["code"]) == (403, "missing_role")
    r = await subscribe(api, event_types=["case.exploded"])
    assert (r.status_code, r.json()["code"]) == (422, "unknown_event_type")
    r = await subscribe(api, url="ftp://nowhere")
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "url"
    sub = (await subscribe(api)).json()
    other = Person("portal-zwfw", ("platform",), cid="portal-zwfw")
    r = await api.client.get(f"/api/v1/webhooks/{sub['id']}/deliveries", headers=api.headers(other))
    assert r.status_code == 404
    r = await api.client.delete(f"/api/v1/webhooks/{sub['id']}", headers=api.headers(PLATFORM))
    assert r.status_code == 204
    assert (await api.client.get("/api/v1/webhooks", headers=api.headers(PLATFORM))).json()[0][
        "active"
    ] is False


async def test_work_order_mapped_acknowledged_and_replied(api: Api, app: Any) -> None:
    await map_code(api)
    order = await push(api)
    assert order["state"] == "received"
    again = await push(api, expect=200)
    assert again["case_id"] == order["case_id"]
    case = (await api.get(DISPATCHER_C1, f"/api/v1/cases/{order['case_id']}")).json()
    assert case["category"]["code"] == "0802"
    assert case["source"] == PLATFORM.sub
    await api.act(DISPATCHER_C1, order["case_id"], "accept")
    got = (await api.client.get("/api/v1/work-orders/HZ-1", headers=api.headers(PLATFORM))).json()
    assert got["state"] == "acknowledged"
    assert got["acknowledged_at"] is not None
    await api.act(
        DISPATCHER_C1, order["case_id"], "dispatch", assignees=[{"account_id": WORKER_A.sub}]
    )
    await api.act(WORKER_A, order["case_id"], "claim")
    await api.act(WORKER_A, order["case_id"], "resolve", result="已更换井盖")
    got = (await api.client.get("/api/v1/work-orders/HZ-1", headers=api.headers(PLATFORM))).json()
    assert (got["state"], got["reply"]) == ("replied", "已更换井盖")


async def test_work_order_returned_with_the_reason(api: Api) -> None:
    await map_code(api)
    order = await push(api, order_id="HZ-2")
    await api.act(DISPATCHER_C1, order["case_id"], "reject", reason="不属于本辖区职责")
    got = (await api.client.get("/api/v1/work-orders/HZ-2", headers=api.headers(PLATFORM))).json()
    assert (got["state"], got["return_reason"]) == ("returned", "不属于本辖区职责")


async def test_a_stricter_imposed_deadline_becomes_ours(api: Api, app: Any) -> None:
    await map_code(api)
    imposed = (utcnow() + timedelta(hours=3)).replace(microsecond=0)
    order = await push(api, order_id="HZ-3", deadline_at=imposed.isoformat())
    await api.act(DISPATCHER_C1, order["case_id"], "accept")
    async with app.state.sessionmaker() as s:
        resolve = (
            await s.execute(
                select(CaseDeadline).where(
                    col(CaseDeadline.case_id) == uuid.UUID(order["case_id"]),
                    col(CaseDeadline.kind) == "resolve",
                )
            )
        ).scalar_one()
    assert resolve.due_at <= imposed
    got = (await api.client.get("/api/v1/work-orders/HZ-3", headers=api.headers(PLATFORM))).json()
    assert datetime.fromisoformat(got["imposed_due_at"]) == imposed


async def test_work_order_refusals(api: Api) -> None:
    r = await api.client.post(
        "/api/v1/work-orders",
        headers=api.headers(PLATFORM),
        json={
            "order_id": "HZ-9",
            "category_code": "UNMAPPED",
            "description": "x",
            "location": {"lat": 30.2, "lng": 120.1},
        },
    )
    assert (r.status_code, r.json()["code"]) == (422, "unmapped_category")
    assert r.json()["errors"][0]["field"] == "category_code"
    r = await api.client.post("/api/v1/work-orders", headers=api.headers(RESIDENT), json={})
    assert r.status_code in (403, 422)
    r = await api.client.get("/api/v1/work-orders/nope", headers=api.headers(PLATFORM))
    assert (r.status_code, r.json()["code"]) == (404, "work_order_not_found")
    r = await api.client.put(
        f"/api/v1/work-orders/category-mappings/{PLATFORM.sub}/X",
        json={"category_code": "0802"},
        headers=api.headers(DISPATCHER_C1),
    )
    assert r.status_code == 403
    r = await api.client.put(
        f"/api/v1/work-orders/category-mappings/{PLATFORM.sub}/X",
        json={"category_code": "9999"},
        headers=api.headers(ADMIN),
    )
    assert (r.status_code, r.json()["code"]) == (422, "unknown_category")


@pytest.mark.parametrize("attempts", [1, 5, 12])
def test_backoff_grows_and_is_capped(attempts: int) -> None:
    from case_service.webhooks.service import backoff

    value = backoff(attempts).total_seconds()
    base = min(10 * 2 ** (attempts - 1), 3600)
    assert 0.8 * base <= value <= 1.2 * base


async def test_a_platforms_dispute_case_hears_each_mediation_step(api: Api, app: Any) -> None:
    """Webhook events for every state change of a dispute's mediation (issue 20): the platform
    that handed the case in gets `mediation.<step>` deliveries, signed like every other."""
    from test_mediation import PARTIES

    await map_code(api, "SZ-0101", "0101")
    assert (await subscribe(api)).status_code == 201
    order = await push(api, "HZ-MED-1", category_code="SZ-0101", description="市民来电：邻里纠纷")
    case_id = order["case_id"]
    r = await api.client.post(
        f"/api/v1/cases/{case_id}/mediation",
        json={"dispute_type": "邻里纠纷", "people_involved": 2, "parties": PARTIES},
        headers=api.headers(DISPATCHER_C1),
    )
    assert r.status_code == 201, r.text
    r = await api.client.post(
        f"/api/v1/cases/{case_id}/mediation/actions/accept",
        json={},
        headers=api.headers(DISPATCHER_C1),
    )
    assert r.status_code == 200, r.text
    receiver = Receiver()
    await run_deliveries(app, receiver, utcnow())
    types = [body["type"] for body in receiver.accepted.values()]
    assert "mediation.accept" in types, types
    assert any(t.startswith("mediation.") and t != "mediation.accept" for t in types), types
    accepted = next(b for b in receiver.accepted.values() if b["type"] == "mediation.accept")
    assert accepted["case"]["id"] == case_id
