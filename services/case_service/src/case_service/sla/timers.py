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

A timer whose effects fail is retried later (each in its own savepoint, so one bad timer does
not hold back the batch).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from case_service.cases.models import Case
from case_service.cases.service import add_timeline
from case_service.outbox.service import record_event
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
) -> int:
    """Fire up to ``limit`` due timers in one transaction; returns how many were handled."""
    fired: list[str] = []
    async with maker() as session, session.begin():
        timers = await claim_due(session, now, limit)
        for timer in timers:
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
                log.warning("sla_timer_failed", timer_id=str(timer.id), error=type(exc).__name__)
                timer.fired_at = None
                timer.attempts += 1
                timer.last_error = repr(exc)[:500]
                timer.due_at = now + retry_after * min(2**timer.attempts, 60)
            session.add(timer)
    for kind in fired:  # counted once committed
        TIMERS_FIRED.labels(kind=kind).inc()
    return len(timers)


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
