"""The timer worker: reminders, overdue actions and supervision lapses, each exactly once.

Timers are rows (due time, fired time). A batch is claimed with ``FOR UPDATE SKIP LOCKED`` and
fired in the same transaction as its effects (timeline entries, outbox events, supervision
records, escalation), so:

* several workers or replicas never fire one timer twice — a locked timer is skipped, and a
  fired one is no longer due;
* a worker killed mid-batch loses nothing — its transaction rolls back and the timers are due
  again for the next worker;
* the scan reads the partial index of unfired timers by due time: its cost follows the number
  of due timers, not the number of open cases.

The common kinds — ``reminder``, ``overdue`` (without automatic escalation) and
``supervision_due`` — fire **together**, in a number of statements that does not grow with the
batch (:func:`_fire_together`): the batch's cases, deadlines and supervisions are locked with
one ``SELECT … FOR UPDATE`` each (ids bound as one array, in id order, so two workers lock in
the same order), each timer's effect is decided in Python, and the effects are written with
one statement per table — timeline entries, outbox events (``outbox.service.record_events``:
the same rows ``record_event`` writes), webhook deliveries, supervisions — and one update each
of the deadlines, the supervisions and the timers. These timers do not change the case: its
version and ``updated_at`` stay as they are, and every row carries the version it read.

The other kinds fire **one by one**, each in its own savepoint, as before (:func:`_fire`): an
overdue deadline with ``auto_escalate`` (the escalation is a whole lifecycle action) and
dispute mediation's ``visit_due`` and ``mediation_overdue``. Every timer of a case that has one
of these in the batch fires one by one too, so a case's timers keep their order (an escalation
cancels the deadlines a later timer of the case would fire on).

A timer whose effects fail is retried later, alone: when the batch's write fails, its
savepoint is rolled back and the batch fires one by one, each timer in its own savepoint, so
the bad one is put back (``attempts``, ``last_error``, a later ``due_at``) while the others
fire.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col

from case_service.cases.models import Case, TimelineEntry
from case_service.cases.service import add_timeline, timeline_values
from case_service.outbox.service import CaseEvent, record_event, record_events
from case_service.sla.models import CaseDeadline, SlaTimer, Supervision
from shared.db import utcnow
from shared.logging import get_logger
from shared.metrics import TIMERS_FIRED

log = get_logger(__name__)

Clock = Callable[[], datetime]
#: Escalates a case as the system; returns False when the case cannot go up now.
Escalator = Callable[[AsyncSession, Case, str, datetime], Awaitable[bool]]


async def claim_due(session: AsyncSession, now: datetime, limit: int) -> list[SlaTimer]:
    result = await session.execute(
        sa.select(SlaTimer)
        .where(col(SlaTimer.fired_at).is_(None), col(SlaTimer.due_at) <= now)
        .order_by(col(SlaTimer.due_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(result.scalars().all())


async def _fire(
    session: AsyncSession, timer: SlaTimer, now: datetime, escalate: Escalator | None
) -> None:
    case = await session.get(Case, timer.case_id, with_for_update=True)
    if case is None:
        return
    if timer.kind == "visit_due":
        from case_service.mediation.service import fire_visit_due

        await fire_visit_due(session, case, timer.dispute_term_id, now)
        return
    if timer.kind == "mediation_overdue":
        from case_service.mediation.service import fire_overdue

        await fire_overdue(session, case, now)
        return
    if timer.kind == "supervision_due":
        sup = await session.get(Supervision, timer.supervision_id, with_for_update=True)
        if sup is None or sup.status != "open":
            return
        sup.status = "lapsed"
        session.add(sup)
        add_timeline(
            session,
            case,
            None,
            kind="supervision_lapsed",
            at=now,
            reason=f"No response to the {sup.kind} order in time",
            data={"supervision_id": str(sup.id)},
        )
        await record_event(
            session,
            case,
            type="case.supervision_lapsed",
            actor_id=None,
            extra={"supervision_id": str(sup.id), "supervision_kind": sup.kind},
        )
        return
    deadline = await session.get(CaseDeadline, timer.deadline_id, with_for_update=True)
    if deadline is None or deadline.status != "open":
        return  # met, paused or cancelled since the timer was set
    info = {
        "deadline_kind": deadline.kind,
        "due_at": deadline.due_at.isoformat(),
        "handling_level": deadline.handling_level,
    }
    if timer.kind == "reminder":
        deadline.reminded_at = now
        session.add(deadline)
        add_timeline(
            session,
            case,
            None,
            kind="deadline_reminder",
            at=now,
            data=info,
            reason=f"{int(deadline.reminder_ratio * 100)}% of the {deadline.kind} limit used",
        )
        await record_event(
            session, case, type="case.deadline_approaching", actor_id=None, extra=info
        )
        return
    # overdue
    deadline.overdue_at = now
    session.add(deadline)
    supervision = Supervision(
        case_id=case.id,
        kind="overdue",
        area_path=case.handling_area_path,
        reason=f"The {deadline.kind} limit passed at {deadline.due_at.isoformat()}",
        created_at=now,
    )
    session.add(supervision)
    await session.flush()
    add_timeline(
        session,
        case,
        None,
        kind="overdue",
        at=now,
        reason=supervision.reason,
        data={**info, "supervision_id": str(supervision.id)},
    )
    await record_event(
        session,
        case,
        type="case.overdue",
        actor_id=None,
        extra={**info, "supervision_id": str(supervision.id)},
    )
    if deadline.auto_escalate and escalate is not None:
        escalated = await escalate(session, case, f"Automatic: {deadline.kind} limit passed", now)
        log.info("sla_auto_escalation", case_id=str(case.id), escalated=escalated)


async def fire_due(
    maker: async_sessionmaker[AsyncSession],
    *,
    now: datetime,
    limit: int = 100,
    escalate: Escalator | None = None,
    retry_after: timedelta = timedelta(minutes=1),
    together: bool = True,
) -> int:
    """Fire up to ``limit`` due timers in one transaction; returns how many were handled.

    ``together=False`` fires every timer one by one (the path a failed batch falls back to),
    for comparison in tests and ``bench/timer_fire_bench.py``."""
    async with maker() as session, session.begin():
        timers = await claim_due(session, now, limit)
        fired, alone = (
            await _fire_together(session, timers, now, escalate) if together else ([], timers)
        )
        fired += await _fire_one_by_one(session, alone, now, escalate, retry_after)
    for kind in fired:  # counted once committed
        TIMERS_FIRED.labels(kind=kind).inc()
    return len(timers)


async def _fire_one_by_one(
    session: AsyncSession,
    timers: list[SlaTimer],
    now: datetime,
    escalate: Escalator | None,
    retry_after: timedelta,
) -> list[str]:
    """Each timer in its own savepoint: one that fails is put back to be retried later."""
    fired: list[str] = []
    for timer in timers:
        timer_id = timer.id
        try:
            async with session.begin_nested():
                # Marked fired first: effects that cancel deadlines (escalation) delete
                # only unfired timers, so this one survives as the record of the firing.
                timer.fired_at = now
                session.add(timer)
                await session.flush()
                await _fire(session, timer, now, escalate)
            fired.append(str(timer.kind))
        except Exception as exc:
            log.warning("sla_timer_failed", timer_id=str(timer_id), error=type(exc).__name__)
            # The savepoint's rollback expired the timer (it was changed in there): read it
            # again here, not lazily on the next attribute (no implicit IO under asyncio).
            await session.refresh(timer)
            timer.fired_at = None
            timer.attempts += 1
            timer.last_error = repr(exc)[:500]
            timer.due_at = now + retry_after * min(2**timer.attempts, 60)
        session.add(timer)
    return fired


#: kinds :func:`_fire_together` fires (an auto-escalating overdue excepted)
TOGETHER = frozenset({"reminder", "overdue", "supervision_due"})

_TIMELINE = TimelineEntry.__table__  # type: ignore[attr-defined]
_DEADLINE = CaseDeadline.__table__  # type: ignore[attr-defined]
_SUPERVISION = Supervision.__table__  # type: ignore[attr-defined]
_TIMER = SlaTimer.__table__  # type: ignore[attr-defined]


def _ids(name: str) -> Any:
    """A bound array of ids: one statement text for any number of them."""
    return sa.any_(sa.bindparam(name, type_=ARRAY(sa.Uuid())))


_NOW = sa.bindparam("now", type_=sa.DateTime(timezone=True))
# Statements built once; SQLAlchemy caches their compiled form, asyncpg prepares them once
# per connection. The locks are taken in id order, so two batches never wait on each other
# in a cycle.
_LOCK_CASES = (
    sa.select(Case).where(col(Case.id) == _ids("ids")).order_by(col(Case.id)).with_for_update()
)
_LOCK_DEADLINES = (
    sa.select(
        _DEADLINE.c.id,
        _DEADLINE.c.kind,
        _DEADLINE.c.status,
        _DEADLINE.c.due_at,
        _DEADLINE.c.handling_level,
        _DEADLINE.c.reminder_ratio,
        _DEADLINE.c.auto_escalate,
    )
    .where(_DEADLINE.c.id == _ids("ids"))
    .order_by(_DEADLINE.c.id)
    .with_for_update()
)
_LOCK_SUPERVISIONS = (
    sa.select(_SUPERVISION.c.id, _SUPERVISION.c.kind, _SUPERVISION.c.status)
    .where(_SUPERVISION.c.id == _ids("ids"))
    .order_by(_SUPERVISION.c.id)
    .with_for_update()
)
_INSERT_TIMELINE = sa.insert(_TIMELINE)
_INSERT_SUPERVISION = sa.insert(_SUPERVISION)
_MARK_DEADLINES = (
    sa.update(_DEADLINE)
    .where(_DEADLINE.c.id == _ids("deadlines"))
    .values(
        reminded_at=sa.case(
            (_DEADLINE.c.id == _ids("reminded"), _NOW), else_=_DEADLINE.c.reminded_at
        ),
        overdue_at=sa.case((_DEADLINE.c.id == _ids("overdue"), _NOW), else_=_DEADLINE.c.overdue_at),
    )
)
_LAPSE = sa.update(_SUPERVISION).where(_SUPERVISION.c.id == _ids("ids")).values(status="lapsed")
_MARK_FIRED = sa.update(_TIMER).where(_TIMER.c.id == _ids("ids")).values(fired_at=_NOW)


@dataclass
class _Effects:
    """What a batch writes, decided in Python from the locked rows."""

    timeline: list[dict[str, Any]] = field(default_factory=list)
    events: list[CaseEvent] = field(default_factory=list)
    supervisions: list[dict[str, Any]] = field(default_factory=list)
    reminded: list[uuid.UUID] = field(default_factory=list)
    overdue: list[uuid.UUID] = field(default_factory=list)
    lapsed: list[uuid.UUID] = field(default_factory=list)


async def _fire_together(
    session: AsyncSession, timers: list[SlaTimer], now: datetime, escalate: Escalator | None
) -> tuple[list[str], list[SlaTimer]]:
    """Fire the batch's common timers in a constant number of statements (see the module's
    docstring); returns the kinds fired and the timers left to fire one by one."""
    common = [t for t in timers if t.kind in TOGETHER]
    if not common:
        return [], timers
    # Locked before the savepoint, so a failed write below keeps the locks for the fallback.
    cases = {
        c.id: c
        for c in (
            await session.execute(_LOCK_CASES, {"ids": sorted({t.case_id for t in common})})
        ).scalars()
    }
    deadline_ids = sorted({t.deadline_id for t in common if t.deadline_id is not None})
    deadlines: dict[uuid.UUID | None, Any] = (
        {r.id: r for r in await session.execute(_LOCK_DEADLINES, {"ids": deadline_ids})}
        if deadline_ids
        else {}
    )
    supervision_ids = sorted(
        {t.supervision_id for t in common if t.kind == "supervision_due" and t.supervision_id}
    )
    supervisions: dict[uuid.UUID | None, Any] = (
        {r.id: r for r in await session.execute(_LOCK_SUPERVISIONS, {"ids": supervision_ids})}
        if supervision_ids
        else {}
    )

    def alone(t: SlaTimer) -> bool:
        if t.kind not in TOGETHER:
            return True
        d = deadlines.get(t.deadline_id) if t.kind == "overdue" else None
        return d is not None and d.status == "open" and d.auto_escalate and escalate is not None

    apart = {t.case_id for t in timers if alone(t)}
    batch = [t for t in timers if t.case_id not in apart]
    if not batch:
        return [], timers
    try:
        async with session.begin_nested():
            effects = _decide(batch, cases, deadlines, supervisions, now)
            await _write(session, effects, [t.id for t in batch], now)
    except Exception as exc:
        log.warning(
            "sla_timer_batch_failed", timers=len(batch), error=type(exc).__name__, exc_info=exc
        )
        return [], timers  # every timer one by one: the bad one is retried alone
    for t in batch:  # the session's copy as written
        set_committed_value(t, "fired_at", now)
    return [str(t.kind) for t in batch], [t for t in timers if t.case_id in apart]


def _decide(
    batch: list[SlaTimer],
    cases: dict[uuid.UUID, Case],
    deadlines: dict[uuid.UUID | None, Any],
    supervisions: dict[uuid.UUID | None, Any],
    now: datetime,
) -> _Effects:
    """Each timer's effect, in claim order, as :func:`_fire` would write it."""
    out = _Effects()
    for timer in batch:
        case = cases.get(timer.case_id)
        if case is None:
            continue
        if timer.kind == "supervision_due":
            sup = supervisions.get(timer.supervision_id)
            if sup is None or sup.status != "open" or sup.id in out.lapsed:
                continue  # answered, or lapsed by an earlier timer of this batch
            out.lapsed.append(sup.id)
            out.timeline.append(
                timeline_values(
                    case,
                    None,
                    kind="supervision_lapsed",
                    at=now,
                    reason=f"No response to the {sup.kind} order in time",
                    data={"supervision_id": str(sup.id)},
                )
            )
            out.events.append(
                CaseEvent(
                    case,
                    "case.supervision_lapsed",
                    extra={"supervision_id": str(sup.id), "supervision_kind": sup.kind},
                )
            )
            continue
        deadline = deadlines.get(timer.deadline_id)
        if deadline is None or deadline.status != "open":
            continue  # met, paused or cancelled since the timer was set
        info = {
            "deadline_kind": deadline.kind,
            "due_at": deadline.due_at.isoformat(),
            "handling_level": deadline.handling_level,
        }
        if timer.kind == "reminder":
            out.reminded.append(deadline.id)
            out.timeline.append(
                timeline_values(
                    case,
                    None,
                    kind="deadline_reminder",
                    at=now,
                    data=info,
                    reason=f"{int(deadline.reminder_ratio * 100)}% of the {deadline.kind} "
                    "limit used",
                )
            )
            out.events.append(CaseEvent(case, "case.deadline_approaching", extra=info))
            continue
        # overdue
        out.overdue.append(deadline.id)
        supervision_id = uuid.uuid4()
        reason = f"The {deadline.kind} limit passed at {deadline.due_at.isoformat()}"
        out.supervisions.append(
            {
                "id": supervision_id,
                "case_id": case.id,
                "kind": "overdue",
                "area_path": case.handling_area_path,
                "reason": reason,
                "opened_by": None,
                "response_due_at": None,
                "status": "open",
                "response": None,
                "responded_by": None,
                "responded_at": None,
                "created_at": now,
            }
        )
        extra = {**info, "supervision_id": str(supervision_id)}
        out.timeline.append(
            timeline_values(case, None, kind="overdue", at=now, reason=reason, data=extra)
        )
        out.events.append(CaseEvent(case, "case.overdue", extra=extra))
    return out


async def _write(
    session: AsyncSession, effects: _Effects, timer_ids: list[uuid.UUID], now: datetime
) -> None:
    """One statement per table (inserts as one executemany), whatever the batch's size."""
    await session.execute(_MARK_FIRED, {"ids": timer_ids, "now": now})
    if effects.supervisions:
        await session.execute(_INSERT_SUPERVISION, effects.supervisions)
    if effects.timeline:
        await session.execute(_INSERT_TIMELINE, effects.timeline)
    await record_events(session, effects.events)
    if effects.reminded or effects.overdue:
        await session.execute(
            _MARK_DEADLINES,
            {
                "deadlines": sorted(set(effects.reminded) | set(effects.overdue)),
                "reminded": effects.reminded,
                "overdue": effects.overdue,
                "now": now,
            },
        )
    if effects.lapsed:
        await session.execute(_LAPSE, {"ids": effects.lapsed})


class TimerWorker:
    """Runs :func:`fire_due` in the background until stopped (one per replica is fine)."""

    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        *,
        poll_seconds: float = 1.0,
        batch: int = 100,
        escalate: Escalator | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.maker = maker
        self.poll_seconds = poll_seconds
        self.batch = batch
        self.escalate = escalate
        self.clock = clock
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="sla-timer-worker")

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                fired = await fire_due(
                    self.maker, now=self.clock(), limit=self.batch, escalate=self.escalate
                )
            except Exception as exc:  # the database may be briefly away; keep going
                log.warning("sla_timer_batch_failed", error=type(exc).__name__)
                fired = 0
            if fired < self.batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self.poll_seconds)

    async def stop(self) -> None:
        """Finish the batch in hand, then stop."""
        self._stop.set()
        if self._task is not None:
            await self._task
