"""The outbox relay against a fake notify_service."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import sqlalchemy as sa
from conftest import DISPATCHER_C1, RESIDENT, WORKER_A, Api
from test_lifecycle import api_sessionmaker

from case_service.clients.notify import NotifyClient
from case_service.outbox.relay import OutboxRelay, relay_once
from shared.contracts.events import CaseEvent
from shared.http import ServiceClient


class FakeNotify:
    """notify_service's two event endpoints; ``batch=False`` is a notify_service from before
    the batch endpoint (404 there)."""

    def __init__(self, fail_times: int = 0, status: int = 202, *, batch: bool = True) -> None:
        self.received: list[httpx.Request] = []
        self.fail_times = fail_times
        self.status = status
        self.batch = batch
        self.refuse: set[str] = set()

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.received.append(request)
        if request.url.path == "/api/v1/events/batch" and not self.batch:
            return httpx.Response(404, json={"code": "not_found"})
        if self.fail_times > 0:
            self.fail_times -= 1
            return httpx.Response(503)
        if request.url.path == "/api/v1/events/batch":
            events = json.loads(request.content)["events"]
            assert len(events) <= 100
            return httpx.Response(
                200,
                json={
                    "results": [
                        {
                            "index": i,
                            "event_id": e["id"],
                            "result": "refused",
                            "status": 422,
                            "problem": {"code": "validation_failed"},
                        }
                        if e["id"] in self.refuse
                        else {
                            "index": i,
                            "event_id": e["id"],
                            "result": "accepted",
                            "status": 202,
                            "notification_ids": [],
                        }
                        for i, e in enumerate(events)
                    ]
                },
            )
        return httpx.Response(self.status, json={"id": request.headers["Idempotency-Key"]})

    def client(self) -> NotifyClient:
        return NotifyClient(
            ServiceClient(
                "http://notify.test",
                name="notify_service",
                retries=0,
                transport=httpx.MockTransport(self.handler),
            )
        )

    def posted(self) -> list[dict[str, Any]]:
        """Every event of every call that was answered (not the 404s or 503s)."""
        out: list[dict[str, Any]] = []
        for r in self.received:
            body = json.loads(r.content)
            out.extend(body.get("events", [body]))
        return out

    def events(self) -> list[CaseEvent]:
        return [CaseEvent.model_validate(e) for e in self.posted()]


async def pending(api: Api) -> list[Any]:
    async with api_sessionmaker(api)() as session:
        return list(
            (
                await session.execute(
                    sa.text(
                        "SELECT id, attempts, last_error, next_attempt_at > now() AS later "
                        "FROM outbox_event WHERE relayed_at IS NULL ORDER BY created_at"
                    )
                )
            ).all()
        )


async def test_relay_posts_every_event_once_with_its_key(api: Api) -> None:
    case = await api.report(RESIDENT)
    await api.act(DISPATCHER_C1, case["id"], "accept")
    await api.act(DISPATCHER_C1, case["id"], "dispatch", assignees=[{"account_id": WORKER_A.sub}])
    fake = FakeNotify()
    maker = api_sessionmaker(api)
    assert await relay_once(maker, fake.client()) == 3
    assert await relay_once(maker, fake.client()) == 0  # nothing twice
    events = fake.events()
    assert [e.type for e in events] == ["case.reported", "case.accepted", "case.dispatched"]
    assert [e.case_version for e in events] == [1, 2, 3]
    # one call for the batch, each event carrying its outbox id
    assert [r.url.path for r in fake.received] == ["/api/v1/events/batch"]
    assert len({e.id for e in events}) == 3
    payload = events[-1].payload
    for key in (
        "case_number",
        "title",
        "category_name",
        "status",
        "area_path",
        "reporter_account_id",
        "reporter_channel",
        "assignee_account_ids",
        "department_ids",
        "major",
        "reason",
    ):
        assert key in payload, key
    assert payload["assignee_account_ids"] == [WORKER_A.sub]
    assert payload["status"] == "dispatched"
    assert payload["reporter_channel"] == "mini_program"
    assert events[-1].area_path == case["area"]["path"]
    assert await pending(api) == []


async def test_relay_retries_until_accepted(api: Api) -> None:
    await api.report(RESIDENT)
    maker = api_sessionmaker(api)
    fake = FakeNotify(fail_times=1)
    assert await relay_once(maker, fake.client()) == 0
    rows = await pending(api)
    assert len(rows) == 1
    assert rows[0].attempts == 1
    assert rows[0].last_error == "upstream_unavailable"
    assert rows[0].later  # backed off
    assert await relay_once(maker, fake.client()) == 0  # not yet due
    async with maker() as session, session.begin():
        await session.execute(sa.text("UPDATE outbox_event SET next_attempt_at = now()"))
    assert await relay_once(maker, fake.client()) == 1
    assert await pending(api) == []
    # the retry carried the same event id
    assert len(fake.received) == 2
    assert len({e["id"] for e in fake.posted()}) == 1


async def test_refused_event_stays_pending(api: Api) -> None:
    await api.report(RESIDENT)
    fake = FakeNotify()
    fake.refuse = {str(r.id) for r in await pending(api)}
    assert await relay_once(api_sessionmaker(api), fake.client()) == 0
    rows = await pending(api)
    assert rows[0].last_error == "notify_service answered 422 validation_failed"
    assert rows[0].later


async def test_relay_worker_runs_and_stops(api: Api) -> None:
    await api.report(RESIDENT)
    fake = FakeNotify()
    relay = OutboxRelay(api_sessionmaker(api), fake.client(), poll_seconds=0.05)
    relay.start()
    assert relay.running
    for _ in range(100):
        if not await pending(api):
            break
        await asyncio.sleep(0.05)
    await relay.stop()
    assert not relay.running
    assert [e.type for e in fake.events()] == ["case.reported"]


async def test_a_stop_mid_batch_hands_the_rest_back(api: Api) -> None:
    """SIGTERM while a batch is being posted: the event in flight is finished, the others are
    released at once (due now, attempt undone) and the next relay posts each exactly once."""
    for _ in range(3):
        await api.report(RESIDENT)
    maker = api_sessionmaker(api)
    stopping = asyncio.Event()
    fake = FakeNotify()

    def stop_after_first(request: httpx.Request) -> httpx.Response:
        stopping.set()  # the stop arrives while the first post is in flight
        return fake.handler(request)

    client = NotifyClient(
        ServiceClient(
            "http://notify.test",
            name="notify_service",
            retries=0,
            transport=httpx.MockTransport(stop_after_first),
        )
    )
    assert await relay_once(maker, client, stopping=stopping, per_call=1) == 1
    rows = await pending(api)
    assert len(rows) == 2
    assert [(r.attempts, r.later) for r in rows] == [(0, False), (0, False)]
    assert await relay_once(maker, fake.client()) == 2
    keys = [e["id"] for e in fake.posted()]
    assert len(keys) == 3
    assert len(set(keys)) == 3  # each event posted once
    assert await pending(api) == []


async def test_claims_skip_locked_rows(api: Api) -> None:
    """A second relay does not post what the first one has claimed."""
    await api.report(RESIDENT)
    maker = api_sessionmaker(api)
    async with maker() as session, session.begin():
        await session.execute(sa.text("SELECT id FROM outbox_event FOR UPDATE"))
        fake = FakeNotify()
        assert await relay_once(maker, fake.client()) == 0
        assert fake.received == []


async def test_payload_hides_anonymous_reporters_and_bounds_the_result(api: Api) -> None:
    case = await api.report(RESIDENT, reporter={"name": "匿名", "anonymous": True})
    await api.act(DISPATCHER_C1, case["id"], "accept")
    await api.act(DISPATCHER_C1, case["id"], "dispatch", assignees=[{"account_id": WORKER_A.sub}])
    await api.act(WORKER_A, case["id"], "claim")
    await api.act(WORKER_A, case["id"], "resolve", result="处" * 3000)
    fake = FakeNotify()
    await relay_once(api_sessionmaker(api), fake.client())
    events = fake.events()
    assert {e.payload["reporter_account_id"] for e in events} == {None}
    resolved = next(e for e in events if e.type == "case.resolved")
    assert resolved.payload["result"] == "处" * 500
    assert resolved.payload["status"] == "resolved"


async def test_relay_authenticates_with_client_credentials(api: Api) -> None:
    """The relay fetches a platform token from grid_service, and a fresh one after a 401."""
    from shared.oauth import ClientCredentials

    issued: list[str] = []

    def grid(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/v1/auth/token"
        form = dict(x.split("=") for x in request.content.decode().split("&"))
        assert form["grant_type"] == "client_credentials"
        assert form["client_id"] == "case-relay"
        assert form["scope"] == "events%3Awrite"
        issued.append(f"token-{len(issued) + 1}")
        return httpx.Response(
            200, json={"access_token": issued[-1], "token_type": "Bearer", "expires_in": 900}
        )

    seen: list[str | None] = []

    def notify(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Authorization"))
        if request.headers.get("Authorization") == "Bearer token-1":
            return httpx.Response(401, json={"code": "token_revoked"})
        events = json.loads(request.content)["events"]
        return httpx.Response(200, json={"results": [{"result": "accepted"} for _ in events]})

    credentials = ClientCredentials(
        ServiceClient(
            "http://grid.test", name="grid", retries=0, transport=httpx.MockTransport(grid)
        ),
        client_id="case-relay",
        client_secret="s3cret",
        scope="events:write",
    )
    client = NotifyClient(
        ServiceClient(
            "http://notify.test", name="notify", retries=0, transport=httpx.MockTransport(notify)
        ),
        credentials=credentials,
    )
    await api.report(RESIDENT)
    assert await relay_once(api_sessionmaker(api), client) == 1
    assert seen == ["Bearer token-1", "Bearer token-2"]
    assert await pending(api) == []


async def test_a_dispatch_to_departments_tells_their_on_duty_handlers(api: Api) -> None:
    """The relay asks grid_service for the on-duty handlers of the lead and co-handling
    departments (once, stored on the row) and posts them as department_handler_account_ids."""
    from case_service.outbox.responsible import grid_resolver

    case = await api.report(RESIDENT)
    await api.act(DISPATCHER_C1, case["id"], "accept")
    await api.act(
        DISPATCHER_C1,
        case["id"],
        "dispatch",
        assignees=[
            {"department_id": "dept-urban", "role": "lead"},
            {"department_id": "dept-housing", "role": "co"},
        ],
    )
    asked: list[httpx.QueryParams] = []
    handlers = {
        "dept-urban": "11111111-1111-1111-1111-111111111111",
        "dept-housing": "22222222-2222-2222-2222-222222222222",
    }

    class FakeCredentials:
        async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
            assert (method, path) == ("GET", "/api/v1/recipients/responsible")
            params = httpx.QueryParams(kwargs["params"])
            asked.append(params)
            ids = [handlers[d] for d in params.get_list("department_id")]
            return httpx.Response(200, json={"account_ids": ids})

    resolve = grid_resolver(FakeCredentials())  # type: ignore[arg-type]
    fake = FakeNotify(fail_times=3)
    maker = api_sessionmaker(api)
    for _ in range(3):  # refused, retried: grid_service is asked once
        await relay_once(maker, fake.client(), resolve=resolve)
        async with maker() as s, s.begin():
            await s.execute(sa.text("UPDATE outbox_event SET next_attempt_at = now()"))
    await relay_once(maker, fake.client(), resolve=resolve)
    dispatched = [e for e in fake.events() if e.type == "case.dispatched"]
    assert dispatched
    assert {tuple(e.payload["department_handler_account_ids"]) for e in dispatched} == {
        tuple(handlers.values())
    }
    assert len(asked) == 1
    assert asked[0].get_list("department_id") == ["dept-urban", "dept-housing"]
    assert (asked[0]["roles"], asked[0]["match"]) == ("department_handler", "department")
    assert "area_path" not in asked[0]


async def test_one_call_per_batch_and_a_failed_call_is_retried_whole(api: Api) -> None:
    """Five events: one claim, one call (or one per ``per_call``), one settling statement; a
    call that fails leaves every event of it pending, and the retry posts each once more —
    nothing lost, nothing relayed twice."""
    for _ in range(5):
        await api.report(RESIDENT)
    maker = api_sessionmaker(api)
    failing = FakeNotify(fail_times=1)
    assert await relay_once(maker, failing.client()) == 0
    rows = await pending(api)
    assert [(r.attempts, r.last_error, r.later) for r in rows] == [
        (1, "upstream_unavailable", True)
    ] * 5
    async with maker() as session, session.begin():
        await session.execute(sa.text("UPDATE outbox_event SET next_attempt_at = now()"))
    fake = FakeNotify()
    assert await relay_once(maker, fake.client(), per_call=2) == 5
    assert [len(json.loads(r.content)["events"]) for r in fake.received] == [2, 2, 1]
    assert sorted(e["id"] for e in fake.posted()) == sorted(str(r.id) for r in rows)
    assert await pending(api) == []
    again = FakeNotify()
    assert await relay_once(maker, again.client()) == 0
    assert again.received == []


async def test_a_refused_event_of_a_batch_stays_alone(api: Api) -> None:
    for _ in range(3):
        await api.report(RESIDENT)
    fake = FakeNotify()
    first = (await pending(api))[1]
    fake.refuse = {str(first.id)}
    assert await relay_once(api_sessionmaker(api), fake.client()) == 2
    rows = await pending(api)
    assert [(r.id, r.last_error) for r in rows] == [
        (first.id, "notify_service answered 422 validation_failed")
    ]


async def test_an_older_notify_service_without_the_batch_endpoint_gets_single_posts(
    api: Api,
) -> None:
    """Deploy order does not matter: a 404 from /events/batch and the relay posts each event
    to /events (with its id as Idempotency-Key), and keeps doing so for a while."""
    from case_service.outbox.relay import _Fallback

    for _ in range(2):
        await api.report(RESIDENT)
    maker = api_sessionmaker(api)
    fake = FakeNotify(batch=False)
    fallback = _Fallback()
    assert await relay_once(maker, fake.client(), fallback=fallback) == 2
    paths = [r.url.path for r in fake.received]
    assert paths == ["/api/v1/events/batch", "/api/v1/events", "/api/v1/events"]
    singles = [r for r in fake.received if r.url.path == "/api/v1/events"]
    assert {r.headers["Idempotency-Key"] for r in singles} == {e["id"] for e in fake.posted()[-2:]}
    assert await pending(api) == []
    await api.report(RESIDENT)
    fake.received.clear()
    assert await relay_once(maker, fake.client(), fallback=fallback) == 1
    assert [r.url.path for r in fake.received] == ["/api/v1/events"]
