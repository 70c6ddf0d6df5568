"""The timer worker's batches: reminders, overdues and supervision lapses fired together.

Every case here is accepted, dispatched and claimed on Monday 23 November 2026 at 09:00 (its
resolve limit is Tuesday 18:00) and has an urge order (催办) due back within an hour; at
``T`` each has three due timers: the resolve reminder, the resolve overdue and the urge
order's lapse. The per-timer path (``fire_due(together=False)``, what a failed batch falls
back to) is the reference the batched path is compared with.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from conftest import PLATFORM, RESIDENT2, SUPERVISOR_S1, Api
from sqlalchemy import event
from sqlmodel import col, select
from test_sla import Clocked, accepted_and_claimed, new_case, sh

from case_service.cases.models import Case, TimelineEntry
from case_service.outbox.models import OutboxEvent
from case_service.sla.models import CaseDeadline, SlaTimer, Supervision
from case_service.sla.timers import fire_due
from case_service.webhooks.models import WebhookDelivery, WebhookSubscription
from shared.db import make_engine, make_sessionmaker

T = sh(2027, 1, 11, 9)
KINDS = ("deadline_reminder", "overdue", "supervision_lapsed")


async def case_with_timers(api: Api, app: Any) -> Clocked:
    c = await new_case(api, app)
    await accepted_and_claimed(c, sh(2026, 11, 23, 9))
    r = await api.client.post(
        f"/api/v1/cases/{c.case_id}/supervisions",
        json={
            "kind": "urge",
            "reason": "群众多次来电，请尽快反馈",
            "respond_within": {"amount": 1, "unit": "working_hours"},
        },
        headers=api.headers(SUPERVISOR_S1),
    )
    assert r.status_code == 201, r.text
    return c


@asynccontextmanager
async def counted(app: Any) -> AsyncIterator[tuple[Any, list[str]]]:
    """A sessionmaker on an engine of its own (the app's background loops use the app's), and
    the statements sent through it (an executemany counts once)."""
    sent: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    engine = make_engine(app.state.settings.database_url)
    event.listen(engine.sync_engine, "before_cursor_execute", before)
    try:
        yield make_sessionmaker(engine), sent
    finally:
        await engine.dispose()


async def due_count(app: Any, now: datetime) -> int:
    async with app.state.sessionmaker() as s:
        return int(
            (
                await s.execute(
                    sa.select(sa.func.count())
                    .select_from(SlaTimer)
                    .where(col(SlaTimer.fired_at).is_(None), col(SlaTimer.due_at) <= now)
                )
            ).scalar_one()
        )


async def test_a_batch_fires_in_the_same_number_of_statements_whatever_its_size(
    api: Api, app: Any
) -> None:
    statements: dict[int, int] = {}
    for n in (2, 6):
        cases = [await case_with_timers(api, app) for _ in range(n)]
        assert await due_count(app, T) == 3 * n
        async with counted(app) as (maker, sent):
            assert await fire_due(maker, now=T) == 3 * n
        statements[n] = len(sent)
        for c in cases:
            assert sorted(k for k in await c.timeline_kinds() if k in KINDS) == sorted(KINDS)
    assert statements[2] == statements[6] <= 16, statements
    # the per-timer path, for scale: several statements for every timer
    [await case_with_timers(api, app) for _ in range(2)]
    async with counted(app) as (maker, sent):
        assert await fire_due(maker, now=T, together=False) == 6
    assert len(sent) >= 6 * 5 > statements[6], (len(sent), statements)


async def snapshot(app: Any, c: Clocked) -> dict[str, Any]:
    """What firing wrote for one case, with what differs between two cases (ids, numbers,
    the outbox rows' own clock) taken out once checked."""
    async with app.state.sessionmaker() as s:
        case = await s.get(Case, c.case_id)
        assert case is not None
        sups = {
            x.id: x
            for x in (
                await s.scalars(select(Supervision).where(col(Supervision.case_id) == c.case_id))
            ).all()
        }
        entries = (
            await s.scalars(
                select(TimelineEntry).where(
                    col(TimelineEntry.case_id) == c.case_id, col(TimelineEntry.kind).in_(KINDS)
                )
            )
        ).all()
        events = (
            await s.scalars(
                select(OutboxEvent)
                .where(
                    col(OutboxEvent.case_id) == c.case_id,
                    col(OutboxEvent.type).in_(
                        ("case.deadline_approaching", "case.overdue", "case.supervision_lapsed")
                    ),
                )
                .order_by(col(OutboxEvent.created_at))
            )
        ).all()
        deliveries = (
            await s.scalars(
                select(WebhookDelivery).where(col(WebhookDelivery.case_id) == c.case_id)
            )
        ).all()
        deadline = (
            await s.scalars(
                select(CaseDeadline).where(
                    col(CaseDeadline.case_id) == c.case_id, col(CaseDeadline.kind) == "resolve"
                )
            )
        ).one()
        timers = (await s.scalars(select(SlaTimer).where(col(SlaTimer.case_id) == c.case_id))).all()

    def known(data: dict[str, Any]) -> dict[str, Any]:
        data = dict(data)
        if "supervision_id" in data:
            assert uuid.UUID(data.pop("supervision_id")) in sups
        assert data.pop("case_number", case.case_number) == case.case_number
        return data

    event_ids = {e.id for e in events}
    bodies = []
    for d in deliveries:
        assert d.event_id in event_ids
        body = dict(d.body)
        assert body.pop("case")["id"] == str(case.id)
        assert uuid.UUID(body.pop("event_id")) == d.event_id
        body.pop("occurred_at")
        bodies.append((d.event_type, d.status, d.attempts, d.expires_at - d.next_attempt_at, body))
    for e in events:
        assert e.next_attempt_at - e.created_at < timedelta(seconds=1)
    return {
        "case": (case.version, case.updated_at, case.status),
        "timeline": sorted(
            (
                x.kind,
                x.action,
                x.from_status,
                x.to_status,
                x.actor_id,
                x.actor_roles,
                x.reason,
                x.visibility,
                x.attachment_ids,
                sorted(known(x.data).items()),
                x.case_version,
                x.created_at,
            )
            for x in entries
        ),
        "events": [
            (
                e.type,
                e.case_version,
                e.area_path,
                e.relayed_at,
                e.attempts,
                e.last_error,
                sorted(known(e.payload).items()),
            )
            for e in events
        ],
        "deliveries": sorted(bodies, key=repr),
        "supervisions": sorted(
            (x.kind, x.status, x.area_path, x.reason, x.opened_by, x.created_at)
            if x.kind == "overdue"
            else (x.kind, x.status)  # the urge order's response_due_at follows its clock
            for x in sups.values()
        ),
        "deadline": (deadline.status, deadline.reminded_at, deadline.overdue_at),
        "timers": sorted((t.kind, t.fired_at, t.attempts, t.last_error) for t in timers),
    }


async def test_batched_effects_equal_the_per_timer_paths(api: Api, app: Any) -> None:
    """Two like groups of cases: one fired timer by timer, the other in one batch. Each group
    has a platform's case (webhook deliveries) and a case another was merged into (its
    reporter is named among the supporters)."""
    groups = [[await case_with_timers(api, app) for _ in range(3)] for _ in range(2)]
    async with app.state.sessionmaker() as s, s.begin():
        s.add(
            WebhookSubscription(
                client_id=PLATFORM.sub, url="https://12345.example/h", event_types=[]
            )
        )
        for group in groups:
            await s.execute(
                sa.update(Case).where(col(Case.id) == group[0].case_id).values(source=PLATFORM.sub)
            )
    for group in groups:
        merged = await api.report(RESIDENT2, description="同一个井盖，另一位居民")
        async with app.state.sessionmaker() as s, s.begin():
            await s.execute(
                sa.update(Case)
                .where(col(Case.id) == uuid.UUID(merged["id"]))
                .values(merged_into_id=group[1].case_id, status="merged")
            )
            # its own acceptance clock started now, not on the 23rd: left out
            await s.execute(
                sa.delete(SlaTimer).where(col(SlaTimer.case_id) == uuid.UUID(merged["id"]))
            )
    before = [[await snapshot(app, c) for c in group] for group in groups]
    together = [c.case_id for c in groups[1]]
    year = timedelta(days=365)

    async def shift(ids: list[uuid.UUID], by: timedelta) -> None:
        async with app.state.sessionmaker() as s, s.begin():
            await s.execute(
                sa.update(SlaTimer)
                .where(col(SlaTimer.case_id).in_(ids))
                .values(due_at=col(SlaTimer.due_at) + by)
            )

    await shift(together, year)  # not due while the first group fires
    assert await fire_due(app.state.sessionmaker, now=T, together=False) == 9
    await shift(together, -year)
    async with counted(app) as (maker, sent):
        assert await fire_due(maker, now=T) == 9
    # one savepoint: the batch's write, not the per-timer fallback's one per timer
    assert sum(x.startswith("SAVEPOINT") for x in sent) == 1, sent
    after = [[await snapshot(app, c) for c in group] for group in groups]
    for i in range(3):
        assert after[0][i] == after[1][i]
        # the firing wrote something, and left the case as it was
        assert after[0][i]["case"] == before[0][i]["case"]
        assert len(after[0][i]["timeline"]) == 3
        assert [e[0] for e in after[0][i]["events"]] == [
            "case.deadline_approaching",
            "case.overdue",
            "case.supervision_lapsed",
        ]
        assert after[0][i]["deadline"] == ("open", T, T)
    assert len(after[0][0]["deliveries"]) == 3  # the platform's case
    assert after[0][1]["events"][0][-1] == after[1][1]["events"][0][-1]
    assert dict(after[1][1]["events"][0][-1])["supporter_account_ids"] == [RESIDENT2.sub]


async def test_a_failing_timer_is_retried_alone_while_the_others_fire(api: Api, app: Any) -> None:
    cases = [await case_with_timers(api, app) for _ in range(3)]
    bad = cases[1]
    maker = app.state.sessionmaker
    # The overdue supervision of one case cannot be written (as a constraint it breaks would).
    async with app.state.engine.begin() as conn:
        await conn.execute(
            sa.text(
                "ALTER TABLE supervision ADD CONSTRAINT test_refused "
                f"CHECK (kind <> 'overdue' OR case_id <> '{bad.case_id}')"
            )
        )
    try:
        assert await fire_due(maker, now=T) == 9
    finally:
        async with app.state.engine.begin() as conn:
            await conn.execute(sa.text("ALTER TABLE supervision DROP CONSTRAINT test_refused"))
    for c in cases:
        assert len(await c.events("case.deadline_approaching")) == 1
        assert len(await c.events("case.supervision_lapsed")) == 1
        assert len(await c.events("case.overdue")) == (0 if c is bad else 1)
    async with maker() as s:
        timer = (
            await s.scalars(
                select(SlaTimer).where(
                    col(SlaTimer.case_id) == bad.case_id, col(SlaTimer.kind) == "overdue"
                )
            )
        ).one()
        deadline = await s.get(CaseDeadline, timer.deadline_id)
    assert (timer.fired_at, timer.attempts) == (None, 1)
    assert "test_refused" in (timer.last_error or "")
    assert timer.due_at == T + timedelta(minutes=2)  # retry_after x 2**attempts
    assert deadline is not None
    assert deadline.overdue_at is None
    assert await fire_due(maker, now=T + timedelta(minutes=1)) == 0
    assert await fire_due(maker, now=T + timedelta(minutes=2)) == 1
    for c in cases:
        assert len(await c.events("case.overdue")) == 1
        assert (await c.timeline_kinds()).count("overdue") == 1
    assert await due_count(app, T + timedelta(days=1)) == 0


async def test_concurrent_batches_never_fire_a_timer_twice(api: Api, app: Any) -> None:
    cases = [await case_with_timers(api, app) for _ in range(6)]
    maker = app.state.sessionmaker
    results = await asyncio.gather(*[fire_due(maker, now=T, limit=4) for _ in range(6)])
    while await fire_due(maker, now=T, limit=4):
        pass
    assert sum(results) <= 18
    async with maker() as s:
        events = (
            await s.execute(
                sa.select(OutboxEvent.case_id, OutboxEvent.type, sa.func.count())
                .where(
                    col(OutboxEvent.type).in_(
                        ("case.deadline_approaching", "case.overdue", "case.supervision_lapsed")
                    )
                )
                .group_by(OutboxEvent.case_id, OutboxEvent.type)
            )
        ).all()
        overdue_sups = (
            await s.execute(
                sa.select(Supervision.case_id, sa.func.count())
                .where(col(Supervision.kind) == "overdue")
                .group_by(Supervision.case_id)
            )
        ).all()
    assert len(events) == 3 * len(cases)
    assert {n for *_, n in events} == {1}
    assert sorted(n for _, n in overdue_sups) == [1] * len(cases)
    for c in cases:
        assert sorted(k for k in await c.timeline_kinds() if k in KINDS) == sorted(KINDS)
