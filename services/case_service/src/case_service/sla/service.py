"""Time-limit rules: which limits a case runs under, and how its deadlines move.

* A case's limits come from the most specific active :class:`SlaPolicy` (category > kind >
  priority > level), else from :func:`builtin_limits`; they are copied onto its deadlines, so a
  later policy edit never changes a running case.
* ``on_reported`` / ``on_transition`` are called by the case lifecycle in the transaction of the
  change: they start, meet, pause, resume and cancel deadlines and schedule their timers.
* The clock pauses while a case is suspended: on resume the working time that was left is
  counted again from the moment of resumption. Escalation ends the lower level's deadlines and
  the level above starts its own on acceptance. Placing a 待定位 case (``locate``) gives its
  running deadlines the limits of its new handling level.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from case_service.cases.lifecycle import is_major as is_major  # sla.is_major, as before
from case_service.cases.models import Case
from case_service.outbox.service import record_event
from case_service.sla.calendar import DEFAULT_PERIODS, SHANGHAI, LimitUnit, WorkingCalendar
from case_service.sla.models import (
    CalendarOverride,
    CaseDeadline,
    SlaPolicy,
    SlaTimer,
)
from case_service.workorders.models import WorkOrder
from shared import db
from shared.db import new_row

ACCEPT, DISPATCH, FIRST_RESPONSE, RESOLVE = "accept", "dispatch", "first_response", "resolve"
DEADLINE_KINDS = (ACCEPT, DISPATCH, FIRST_RESPONSE, RESOLVE)
LOWER_LEVELS = {"street", "community", "grid", "micro_grid"}
#: Actions after acceptance that give the reporter feedback (first response, 首次反馈).
FEEDBACK_ACTIONS = {"dispatch", "claim", "resolve", "public_comment"}


def _limit(amount: float, unit: LimitUnit) -> dict[str, Any]:
    return {"amount": amount, "unit": unit.value}


def builtin_limits(*, priority: str | None, kind: str | None, level: str | None) -> dict[str, Any]:
    """Defaults when no policy row matches (the seed catalogue ships rows of its own).

    Urgent cases run on the clock as 12345 centres do (accept 30 min, first feedback 2 h, resolve
    24 h). Otherwise 004:L50: what the town level can handle within one working day, what needs
    the city within a week; consultations within 3 working days.
    """
    if priority == "urgent":
        return {
            ACCEPT: _limit(0.5, LimitUnit.calendar_hours),
            DISPATCH: _limit(1, LimitUnit.calendar_hours),
            FIRST_RESPONSE: _limit(2, LimitUnit.calendar_hours),
            RESOLVE: _limit(24, LimitUnit.calendar_hours),
            "auto_escalate": True,
        }
    if kind == "consultation":
        resolve = _limit(3, LimitUnit.working_days)
    elif level in LOWER_LEVELS or level is None:
        resolve = _limit(1, LimitUnit.working_days)
    elif level == "district":
        resolve = _limit(3, LimitUnit.working_days)
    else:
        resolve = _limit(5, LimitUnit.working_days)
    return {
        ACCEPT: _limit(2, LimitUnit.working_hours),
        DISPATCH: _limit(4, LimitUnit.working_hours),
        FIRST_RESPONSE: _limit(1, LimitUnit.working_days),
        RESOLVE: resolve,
        "auto_escalate": False,
    }


async def find_policy(session: AsyncSession, case: Case, level: str | None) -> SlaPolicy | None:
    """The most specific active policy for the case at ``level`` (None when none matches)."""
    candidates = (
        (
            await session.execute(
                sa.select(SlaPolicy).where(
                    col(SlaPolicy.active).is_(True),
                    sa.or_(
                        col(SlaPolicy.category_code).is_(None),
                        col(SlaPolicy.category_code) == case.category_code,
                    ),
                    sa.or_(col(SlaPolicy.kind).is_(None), col(SlaPolicy.kind) == case.kind),
                    sa.or_(
                        col(SlaPolicy.priority).is_(None), col(SlaPolicy.priority) == case.priority
                    ),
                    sa.or_(
                        col(SlaPolicy.handling_level).is_(None),
                        col(SlaPolicy.handling_level) == level,
                    ),
                )
            )
        )
        .scalars()
        .all()
    )

    return pick_policy(
        candidates,
        category_code=case.category_code,
        kind=case.kind,
        priority=case.priority,
        level=level,
    )


class PolicyLike(Protocol):
    id: uuid.UUID
    version: int
    category_code: str | None
    kind: str | None
    priority: str | None
    handling_level: str | None
    limits: dict[str, Any]
    reminder_ratio: float
    auto_escalate: bool
    created_at: datetime


P = TypeVar("P", bound=PolicyLike)


@dataclass
class PolicyRow:
    """An active policy as the intake's one read statement returns it (JSON, not ORM)."""

    id: uuid.UUID
    version: int
    category_code: str | None
    kind: str | None
    priority: str | None
    handling_level: str | None
    limits: dict[str, Any]
    reminder_ratio: float
    auto_escalate: bool
    created_at: datetime


def policy_candidates_json(category_code: Any) -> sa.ScalarSelect[Any]:
    """The active policies that may apply to a case of ``category_code`` (any kind, priority
    and level: :func:`pick_policy` chooses), as one JSON array — a column of a larger read."""
    p = SlaPolicy.__table__.alias("p")  # type: ignore[attr-defined]
    obj = sa.func.json_build_object(
        "id",
        p.c.id,
        "version",
        p.c.version,
        "category_code",
        p.c.category_code,
        "kind",
        p.c.kind,
        "priority",
        p.c.priority,
        "handling_level",
        p.c.handling_level,
        "limits",
        p.c.limits,
        "reminder_ratio",
        p.c.reminder_ratio,
        "auto_escalate",
        p.c.auto_escalate,
        "created_at",
        sa.extract("epoch", p.c.created_at),
    )
    return (
        sa.select(sa.func.coalesce(sa.func.json_agg(obj), sa.literal_column("'[]'::json")))
        .where(
            p.c.active.is_(True),
            sa.or_(p.c.category_code.is_(None), p.c.category_code == category_code),
        )
        .scalar_subquery()
    )


def policies_from_json(rows: list[dict[str, Any]]) -> list[PolicyRow]:
    return [
        PolicyRow(
            id=uuid.UUID(r["id"]),
            version=r["version"],
            category_code=r["category_code"],
            kind=r["kind"],
            priority=r["priority"],
            handling_level=r["handling_level"],
            limits=r["limits"],
            reminder_ratio=r["reminder_ratio"],
            auto_escalate=r["auto_escalate"],
            created_at=datetime.fromtimestamp(float(r["created_at"]), tz=UTC),
        )
        for r in rows
    ]


def pick_policy(
    candidates: Sequence[P],
    *,
    category_code: str | None,
    kind: str | None,
    priority: str | None,
    level: str | None,
) -> P | None:
    """The most specific of the active ``candidates`` matching the case (category > kind >
    priority > level, then the newest)."""

    def specificity(p: P) -> tuple[int, int, int, int, datetime]:
        return (
            p.category_code is not None,
            p.kind is not None,
            p.priority is not None,
            p.handling_level is not None,
            p.created_at,
        )

    matching = [
        p
        for p in candidates
        if p.category_code in (None, category_code)
        and p.kind in (None, kind)
        and p.priority in (None, priority)
        and p.handling_level in (None, level)
    ]
    return max(matching, key=specificity, default=None)


_hours: dict[str, Any] = {"periods": DEFAULT_PERIODS, "tz": SHANGHAI}


def configure_working_hours(periods: tuple[tuple[time, time], ...], tz: ZoneInfo) -> None:
    """Set the working hours every calendar uses (from settings, at start-up)."""
    _hours.update(periods=periods, tz=tz)


async def calendar_for(session: AsyncSession, area_path: str | None) -> WorkingCalendar:
    """The working calendar of a jurisdiction: overrides of the area and all its ancestors
    (a nearer jurisdiction wins over a farther one)."""
    rows = (
        await session.execute(
            sa.select(
                col(CalendarOverride.jurisdiction_path),
                col(CalendarOverride.day),
                col(CalendarOverride.is_workday),
            ).where(col(CalendarOverride.jurisdiction_path).in_(calendar_prefixes(area_path)))
        )
    ).all()
    return calendar_from(rows)


def calendar_prefixes(area_path: str | None) -> list[str]:
    """The jurisdictions whose overrides apply to ``area_path``: the root and every ancestor."""
    prefixes = [""]
    if area_path:
        parts = area_path.split(".")
        prefixes += [".".join(parts[: i + 1]) for i in range(len(parts))]
    return prefixes


def calendar_json(prefixes: Any) -> sa.ScalarSelect[Any]:
    """The overrides :func:`calendar_for` reads, as one JSON array ``[[path, day, workday]]``
    — a column of a larger read. ``prefixes``: :func:`calendar_prefixes` of the area, as a
    text array (a list, or a bound parameter of ``ARRAY(String)``)."""
    o = CalendarOverride.__table__.alias("o")  # type: ignore[attr-defined]
    return (
        sa.select(
            sa.func.coalesce(
                sa.func.json_agg(
                    sa.func.json_build_array(o.c.jurisdiction_path, o.c.day, o.c.is_workday)
                ),
                sa.literal_column("'[]'::json"),
            )
        )
        .where(o.c.jurisdiction_path == sa.any_(prefixes))
        .scalar_subquery()
    )


def calendar_from(rows: Sequence[Sequence[Any]]) -> WorkingCalendar:
    """A working calendar from override rows (path, day, is_workday): a nearer jurisdiction
    wins over a farther one."""
    overrides: dict[date, bool] = {}
    for _path, day, workday in sorted(rows, key=lambda r: len(r[0])):
        overrides[day if isinstance(day, date) else date.fromisoformat(day)] = workday
    return WorkingCalendar(overrides=overrides, periods=_hours["periods"], tz=_hours["tz"])


async def open_deadlines(session: AsyncSession, case_id: uuid.UUID) -> list[CaseDeadline]:
    return list(
        (
            await session.execute(
                sa.select(CaseDeadline)
                .where(
                    col(CaseDeadline.case_id) == case_id,
                    col(CaseDeadline.status).in_(("open", "paused")),
                )
                .with_for_update()
            )
        )
        .scalars()
        .all()
    )


async def _drop_timers(session: AsyncSession, deadline_ids: list[uuid.UUID]) -> None:
    if deadline_ids:
        await session.execute(
            sa.delete(SlaTimer).where(
                col(SlaTimer.deadline_id).in_(deadline_ids), col(SlaTimer.fired_at).is_(None)
            )
        )


def _schedule(
    session: AsyncSession, deadline: CaseDeadline, cal: WorkingCalendar, now: datetime
) -> None:
    """Timers for an open deadline: the reminder (if not yet sent) and the overdue moment.

    The reminder fires when ``reminder_ratio`` of the limit is used, i.e. when the time left
    falls to ``(1 - ratio) * total`` — computed from the due time, so pauses and extensions
    need no bookkeeping of their own.
    """
    for kind, due_at in timers_due(
        due_at=deadline.due_at,
        unit=deadline.unit,
        total_seconds=deadline.total_seconds,
        reminder_ratio=deadline.reminder_ratio,
        overdue=deadline.overdue_at is not None,
        reminded=deadline.reminded_at is not None,
        cal=cal,
        now=now,
    ):
        session.add(
            new_row(
                SlaTimer,
                case_id=deadline.case_id,
                kind=kind,
                deadline_id=deadline.id,
                due_at=due_at,
            )
        )


def timers_due(
    *,
    due_at: datetime,
    unit: str,
    total_seconds: int,
    reminder_ratio: float,
    overdue: bool,
    reminded: bool,
    cal: WorkingCalendar,
    now: datetime,
) -> list[tuple[str, datetime]]:
    """(kind, due time) of the timers an open deadline needs (see :func:`_schedule`)."""
    timers: list[tuple[str, datetime]] = []
    if not overdue:
        timers.append(("overdue", due_at))
    if reminded or overdue:
        return timers
    limit_unit = LimitUnit(unit)
    left = cal.elapsed(now, due_at, limit_unit)
    remind_after = left - timedelta(seconds=total_seconds) * (1 - reminder_ratio)
    if remind_after <= timedelta(0):
        return timers
    if limit_unit is LimitUnit.calendar_hours:
        remind_at = now + remind_after
    else:
        remind_at = cal.add_working_time(now, remind_after)
    if remind_at < due_at:
        timers.append(("reminder", remind_at))
    return timers


def plan_deadlines(
    case: Case,
    kinds: tuple[str, ...],
    now: datetime,
    *,
    policy: PolicyLike | None,
    cal: WorkingCalendar,
    imposed: datetime | None,
) -> list[dict[str, Any]]:
    """The column values of the deadlines of ``kinds`` starting now at the case's handling
    level, under ``policy`` (or the built-in limits); ``imposed``: a pushed work order's
    resolution deadline, when stricter."""
    level = case.handling_level
    limits, auto, ratio = _terms(case, policy, level)
    made = []
    for kind in kinds:
        spec = limits.get(kind)
        if not spec:
            continue
        unit = LimitUnit(spec["unit"])
        due_at = cal.deadline(now, float(spec["amount"]), unit)
        if kind == RESOLVE and imposed is not None and imposed < due_at:
            due_at = imposed  # a pushing platform's stricter deadline (12345 工单时限)
        made.append(
            {
                "id": uuid.uuid4(),
                "case_id": case.id,
                "kind": kind,
                "handling_level": level,
                "handling_area_path": case.handling_area_path,
                "policy_id": policy.id if policy else None,
                "policy_version": policy.version if policy else None,
                "amount": float(spec["amount"]),
                "unit": unit.value,
                "total_seconds": int(cal.elapsed(now, due_at, unit).total_seconds()),
                "reminder_ratio": ratio,
                "auto_escalate": auto and kind == RESOLVE,
                "status": "open",
                "started_at": now,
                "due_at": due_at,
                "paused_at": None,
                "reminded_at": None,
                "overdue_at": None,
                "met_at": None,
                "extension_count": 0,
            }
        )
    return made


async def start(
    session: AsyncSession,
    case: Case,
    kinds: tuple[str, ...],
    now: datetime,
    *,
    new_case: bool = False,
) -> list[CaseDeadline]:
    """Start deadlines of ``kinds`` at the case's current handling level.

    ``new_case``: the case was filed in this very transaction. It has no other deadline yet,
    so its ``due_at`` is the earliest of these, and no work order yet (a pushed work order is
    stored after its case), so nothing imposes a deadline: two queries saved on every intake.
    """
    policy = await find_policy(session, case, case.handling_level)
    cal = await calendar_for(session, case.handling_area_path or case.area_path)
    imposed = (
        None
        if new_case
        else (
            await session.execute(
                sa.select(col(WorkOrder.imposed_due_at)).where(col(WorkOrder.case_id) == case.id)
            )
        ).scalar_one_or_none()
    )
    made = []
    for values in plan_deadlines(case, kinds, now, policy=policy, cal=cal, imposed=imposed):
        deadline = CaseDeadline(**values)
        session.add(deadline)
        made.append(deadline)
    await session.flush()
    for deadline in made:
        _schedule(session, deadline, cal, now)
    if new_case:
        due = min((d.due_at for d in made), default=None)
        if case.due_at != due:
            case.due_at = due
            session.add(case)
    else:
        await _sync_case_due(session, case)
    return made


async def extend(
    session: AsyncSession,
    case: Case,
    deadline: CaseDeadline,
    amount: float,
    unit: LimitUnit,
    now: datetime,
) -> datetime:
    """Move a deadline by an approved extension; returns the new due time."""
    cal = await calendar_for(session, case.handling_area_path or case.area_path)
    base = max(deadline.due_at, now) if deadline.overdue_at is not None else deadline.due_at
    new_due = cal.deadline(base, amount, unit)
    deadline.total_seconds += int(
        cal.elapsed(deadline.due_at, new_due, LimitUnit(deadline.unit)).total_seconds()
    )
    deadline.due_at = new_due
    deadline.extension_count += 1
    deadline.overdue_at = None
    session.add(deadline)
    await _drop_timers(session, [deadline.id])
    await session.flush()
    if deadline.status == "open":
        _schedule(session, deadline, cal, now)
    await _sync_case_due(session, case)
    return deadline.due_at


async def _sync_case_due(session: AsyncSession, case: Case) -> None:
    """``case.due_at`` mirrors the earliest open deadline (list filters and Open311 read it)."""
    await session.flush()
    due = (
        await session.execute(
            sa.select(sa.func.min(col(CaseDeadline.due_at))).where(
                col(CaseDeadline.case_id) == case.id, col(CaseDeadline.status) == "open"
            )
        )
    ).scalar_one_or_none()
    if case.due_at != due:
        case.due_at = due
        session.add(case)


async def on_reported(session: AsyncSession, case: Case, now: datetime) -> None:
    """A new case: the acceptance clock starts; a major incident goes upward at once."""
    if case.status == "reported":
        await start(session, case, (ACCEPT,), now, new_case=True)
    if is_major(case):
        await report_major(session, case)


async def report_major(session: AsyncSession, case: Case) -> None:
    """000:L245: major instability is reported upward at once — every level above is told."""
    chain = [e.get("path") for e in (case.area_chain or []) if e.get("path")]
    above = [p for p in chain if p != case.area_path]
    await record_event(
        session,
        case,
        type="case.major_incident",
        actor_id=None,
        extra={"levels_above": above, "critical": True, "major": True},
    )


async def on_transition(
    session: AsyncSession,
    case: Case,
    *,
    action: str,
    previous: str,
    now: datetime,
    priority_changed: bool = False,
) -> None:
    """Called by the lifecycle after every action, in its transaction.

    ``priority_changed``: the dispatcher set another priority at accept, so the limits that
    run on (dispatch, first response, resolution) start again under the new priority's
    policy — from now, as the acceptance decided them.

    The case's open and paused deadlines are read once (locked) and changed in memory,
    step by step (:func:`_steps`: meet, cancel, pause, resume, start, relocate); the dropped
    deadlines' timers go in one statement, the policy, calendar and work order come in one
    read when a deadline starts or moves, and the case's ``due_at`` (the earliest open
    deadline) is worked out here, after every step but a bare pause. Nothing is flushed: the
    caller's one flush writes the deadlines, the timers and the case (its ``due_at`` with
    the rest). The session should not autoflush meanwhile (``session.no_autoflush``), or the
    case is written twice."""
    status = case.status
    steps = _steps(action, previous, status, priority_changed)
    if not steps:
        return
    deadlines = await _deadlines_for(session, case.id, with_met_feedback=action == "accept")
    met_feedback = any(d.status == "met" for d in deadlines)
    rows = [d for d in deadlines if d.status in ("open", "paused")]
    dropped: list[uuid.UUID] = []
    synced = False
    context: _Context | None = None

    async def needed() -> _Context:
        nonlocal context
        if context is None:
            context = await _context(session, case)
        return context

    for step, kinds in steps:
        if step in ("meet", "cancel"):
            for d in [d for d in rows if d.kind in kinds]:
                d.status = "met" if step == "meet" else "cancelled"
                d.met_at = now
                rows.remove(d)
                dropped.append(d.id)
            synced = True
        elif step == "pause":
            for d in [d for d in rows if d.status == "open"]:
                d.status = "paused"
                d.paused_at = now
                dropped.append(d.id)
        elif step == "start":
            if action == "accept":
                existing = {d.kind for d in rows}
                kinds = tuple(
                    k
                    for k in kinds
                    if k not in existing and not (k == FIRST_RESPONSE and met_feedback)
                )
            if kinds:
                ctx = await needed()
                for values in plan_deadlines(
                    case, kinds, now, policy=ctx.policy, cal=ctx.cal, imposed=ctx.imposed
                ):
                    deadline = new_row(CaseDeadline, **values)
                    session.add(deadline)
                    _schedule(session, deadline, ctx.cal, now)
                    rows.append(deadline)
            synced = True
        elif step == "resume":
            cal = (await needed()).cal
            for d in [d for d in rows if d.status == "paused"]:
                assert d.paused_at is not None
                unit = LimitUnit(d.unit)
                left = (
                    cal.elapsed(d.paused_at, d.due_at, unit)
                    if d.due_at > d.paused_at
                    else timedelta(0)
                )
                d.due_at = (
                    now + left
                    if unit is LimitUnit.calendar_hours
                    else (cal.add_working_time(now, left))
                )
                d.status = "open"
                d.paused_at = None
                _schedule(session, d, cal, now)
            synced = True
        elif step == "relocate":
            moving = [d for d in rows if d.status == "open" and d.extension_count == 0]
            if not moving:
                continue  # relocate returned early: no sync
            ctx = await needed()
            moved = _move(case, moving, ctx, now)
            # the moved deadlines' old timers go before their new ones are written
            await _drop_timers(session, [d.id for d in moved])
            for d in moved:
                _schedule(session, d, ctx.cal, now)
            synced = True
    await _drop_timers(session, dropped)
    if synced:
        due = min((d.due_at for d in rows if d.status == "open"), default=None)
        if due is not None:
            # in UTC like the column reads back: a deadline computed from a caller's ``now``
            # keeps that ``now``'s zone (the same instant, printed otherwise in the response)
            due = due.astimezone(UTC)
        if case.due_at != due:
            case.due_at = due


def _steps(
    action: str, previous: str, status: str, priority_changed: bool
) -> list[tuple[str, tuple[str, ...]]]:
    """The deadline functions the old per-function path called for ``action``, in order."""
    steps: list[tuple[str, tuple[str, ...]]] = []
    if action == "accept":
        steps.append(("meet", (ACCEPT,)))
        if priority_changed:
            steps.append(("cancel", (DISPATCH, FIRST_RESPONSE, RESOLVE)))
        steps.append(("start", (DISPATCH, FIRST_RESPONSE, RESOLVE)))
    elif action in {"reject", "void", "merge", "verify"}:
        steps.append(("cancel", DEADLINE_KINDS))
    elif action == "escalate":
        steps += [("cancel", DEADLINE_KINDS), ("start", (ACCEPT,))]
    elif action == "locate":
        steps.append(("relocate", ()))
    elif action == "suspend":
        steps.append(("pause", ()))
    elif action == "resume":
        steps.append(("resume", ()))
    elif action == "reopen" or (action == "rework" and previous == "resolved"):
        steps.append(("start", (RESOLVE,)))
    if action == "dispatch":
        steps.append(("meet", (DISPATCH,)))
    if action in FEEDBACK_ACTIONS:
        steps.append(("meet", (FIRST_RESPONSE,)))
    if action == "resolve" and status == "resolved":
        steps.append(("meet", (RESOLVE,)))
    return steps


async def _deadlines_for(
    session: AsyncSession, case_id: uuid.UUID, *, with_met_feedback: bool
) -> list[CaseDeadline]:
    """The case's open and paused deadlines, locked; ``with_met_feedback``: and its met
    first-response deadlines (whether the reporter already had a first response)."""
    wanted: sa.ColumnElement[bool] = col(CaseDeadline.status).in_(("open", "paused"))
    if with_met_feedback:
        wanted = sa.or_(
            wanted,
            sa.and_(col(CaseDeadline.kind) == FIRST_RESPONSE, col(CaseDeadline.status) == "met"),
        )
    stmt = sa.select(CaseDeadline).where(col(CaseDeadline.case_id) == case_id, wanted)
    return list((await session.execute(stmt.with_for_update())).scalars().all())


@dataclass
class _Context:
    """What starting or moving a deadline reads: the policy, the calendar, a work order's
    imposed resolution deadline."""

    policy: PolicyRow | None
    cal: WorkingCalendar
    imposed: datetime | None


@functools.cache
def _context_statement() -> db.Prepared:
    """:func:`find_policy`, :func:`calendar_for` and the work order's imposed deadline as one
    read, built once (bound ``category_code``, ``prefixes``, ``case_id``)."""
    return db.Prepared(
        sa.select(
            policy_candidates_json(sa.bindparam("category_code", type_=sa.String())),
            calendar_json(sa.bindparam("prefixes", type_=ARRAY(sa.String()))),
            sa.select(col(WorkOrder.imposed_due_at))
            .where(col(WorkOrder.case_id) == sa.bindparam("case_id", type_=sa.Uuid()))
            .scalar_subquery(),
        )
    )


async def _context(session: AsyncSession, case: Case) -> _Context:
    row = (
        await _context_statement().run(
            session,
            {
                "category_code": case.category_code,
                "prefixes": calendar_prefixes(case.handling_area_path or case.area_path),
                "case_id": case.id,
            },
        )
    ).one()
    policies, overrides, imposed = list(row)
    policy = pick_policy(
        policies_from_json(policies),
        category_code=case.category_code,
        kind=case.kind,
        priority=case.priority,
        level=case.handling_level,
    )
    return _Context(policy=policy, cal=calendar_from(overrides), imposed=imposed)


def _terms(case: Case, policy: Any, level: Any) -> tuple[dict[str, Any], bool, float]:
    """The limits at ``level`` under ``policy`` (or the built-in ones), whether they escalate
    by themselves, and the reminder's share of a limit: what starting and moving deadlines
    both read."""
    limits = (
        policy.limits
        if policy
        else builtin_limits(priority=case.priority, kind=case.kind, level=level)
    )
    auto = policy.auto_escalate if policy else bool(limits.get("auto_escalate"))
    ratio = policy.reminder_ratio if policy else 0.75
    return limits, auto, ratio


def _move(case: Case, rows: list[CaseDeadline], ctx: _Context, now: datetime) -> list[CaseDeadline]:
    """:func:`relocate`'s new limits for ``rows`` (open, never extended), in memory."""
    level, policy, cal = case.handling_level, ctx.policy, ctx.cal
    limits, auto, ratio = _terms(case, policy, level)
    moved = []
    for d in rows:
        spec = limits.get(d.kind)
        if not spec:
            continue
        unit = LimitUnit(spec["unit"])
        due_at = cal.deadline(d.started_at, float(spec["amount"]), unit)
        if d.kind == RESOLVE and ctx.imposed is not None and ctx.imposed < due_at:
            due_at = ctx.imposed
        d.handling_level = level
        d.handling_area_path = case.handling_area_path
        d.policy_id = policy.id if policy else None
        d.policy_version = policy.version if policy else None
        d.amount = float(spec["amount"])
        d.unit = unit.value
        d.total_seconds = int(cal.elapsed(d.started_at, due_at, unit).total_seconds())
        d.reminder_ratio = ratio
        d.auto_escalate = auto and d.kind == RESOLVE
        d.due_at = due_at
        if d.overdue_at is not None and due_at > now:
            d.overdue_at = None  # the new level's limit has not run out
        moved.append(d)
    return moved


#: statuses in which the resolution clock has yet to start (it starts on acceptance)
AWAITING_ACCEPTANCE = {"reported", "escalated"}


async def expected_resolution(
    session: AsyncSession, cases: list[Case]
) -> dict[uuid.UUID, datetime]:
    """When each case is expected to be resolved (Open311 ``expected_datetime``).

    A running (or paused) resolution deadline is the answer. A case not accepted yet has
    none: its answer is what the time-limit policy promises — the resolve limit of its
    handling level counted from the end of its acceptance limit (the latest its resolution
    clock can start), or a pushing platform's stricter deadline. Resolved, closed and
    finished cases expect nothing more."""
    ids = [c.id for c in cases]
    if not ids:
        return {}
    out: dict[uuid.UUID, datetime] = {}
    accept_due: dict[uuid.UUID, datetime] = {}
    for case_id, kind, due in (
        await session.execute(
            sa.select(
                col(CaseDeadline.case_id),
                col(CaseDeadline.kind),
                sa.func.min(col(CaseDeadline.due_at)),
            )
            .where(
                col(CaseDeadline.case_id).in_(ids),
                col(CaseDeadline.kind).in_((ACCEPT, RESOLVE)),
                col(CaseDeadline.status).in_(("open", "paused")),
            )
            .group_by(col(CaseDeadline.case_id), col(CaseDeadline.kind))
        )
    ).all():
        if kind == RESOLVE:
            out[case_id] = due
        else:
            accept_due[case_id] = due
    waiting = [c for c in cases if c.id not in out and c.status in AWAITING_ACCEPTANCE]
    if not waiting:
        return out
    imposed = dict(
        (
            await session.execute(
                sa.select(col(WorkOrder.case_id), col(WorkOrder.imposed_due_at)).where(
                    col(WorkOrder.case_id).in_([c.id for c in waiting]),
                    col(WorkOrder.imposed_due_at).is_not(None),
                )
            )
        ).all()
    )
    limits_of: dict[tuple[Any, ...], dict[str, Any]] = {}
    calendars: dict[str, WorkingCalendar] = {}
    for case in waiting:
        key = (case.category_code, case.kind, case.priority, case.handling_level)
        if key not in limits_of:
            policy = await find_policy(session, case, case.handling_level)
            limits_of[key] = (
                policy.limits
                if policy
                else builtin_limits(
                    priority=case.priority, kind=case.kind, level=case.handling_level
                )
            )
        spec = limits_of[key].get(RESOLVE)
        if not spec:
            continue
        where = case.handling_area_path or case.area_path
        if where not in calendars:
            calendars[where] = await calendar_for(session, where)
        start_at = max(accept_due.get(case.id, case.created_at), case.created_at)
        due_at = calendars[where].deadline(start_at, float(spec["amount"]), LimitUnit(spec["unit"]))
        stricter = imposed.get(case.id)
        out[case.id] = stricter if stricter is not None and stricter < due_at else due_at
    return out


def deadline_state(deadline: CaseDeadline, now: datetime, cal: WorkingCalendar) -> dict[str, Any]:
    """on_track, due_soon (past the reminder point) or overdue, with the time left."""
    unit = LimitUnit(deadline.unit)
    if deadline.status in {"met", "cancelled"}:
        late = deadline.met_at is not None and deadline.met_at > deadline.due_at
        return {"state": "met_late" if late else deadline.status, "seconds_left": None}
    reference = deadline.paused_at or now
    if reference >= deadline.due_at or deadline.overdue_at is not None:
        return {"state": "overdue", "seconds_left": 0}
    left = cal.elapsed(reference, deadline.due_at, unit)
    soon = left <= timedelta(seconds=deadline.total_seconds) * (1 - deadline.reminder_ratio)
    return {"state": "due_soon" if soon else "on_track", "seconds_left": int(left.total_seconds())}
