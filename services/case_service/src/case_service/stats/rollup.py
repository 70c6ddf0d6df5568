"""The rollup: recompute the fact row (``case_fact``) of every case marked dirty.

Triggers mark a case in ``stats_dirty`` in the transaction of each change of the case, its
deadlines or its evaluations. :func:`refresh` claims markers with ``FOR UPDATE SKIP LOCKED`` (a
marker stays locked until the change that wrote it commits), recomputes those cases' facts from
the case, its timeline actions, deadlines, lead assignment and the evaluation of its current
closure, and upserts them. The indicator endpoints run it before reading, and it can run in the
background; either way a figure reflects every committed change.

Definitions (one case, as of its latest state):

* accepted — taken in (``accept`` on the timeline) or resolved on the spot by a grid worker.
* accepted_on_time — accepted, and no acceptance time limit of it ran late (at any level).
* dispatched / escalated / returned / rework / reopened — that action is on its timeline.
* resolved — its status is resolved or closed; resolved_on_time — resolved and no resolution
  limit ran late (a limit runs late when it was met after its due time, or marked overdue);
  resolved_ahead — resolved within ``stats_ahead_share`` of its resolution limit, measured in
  the limit's own time (working hours/days on the working calendar); a case resolved on the
  spot has no limit and counts as ahead.
* overdue_open / overdue_closed — any time limit ran late, and the case is still open /
  resolved or closed.
* self_handled — 自行处置 by the reporting grid worker; on_spot — resolved within
  ``stats_on_spot_minutes`` of the report and never reworked (现场办结).
* handling_hours — report → resolution in working hours of the case's working calendar.
* rated — closed and its current closure rated (by the reporter or on a return visit);
  satisfied — rated satisfied or basically satisfied; dissatisfied — rated dissatisfied.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from case_service.cases.models import Case, CaseAssignment, TimelineEntry
from case_service.config import Settings
from case_service.evaluations.models import Evaluation
from case_service.sla.calendar import LimitUnit, WorkingCalendar
from case_service.sla.models import CaseDeadline
from case_service.sla.service import calendar_for
from case_service.stats.models import (
    FLAG_BITS,
    NO_DEPARTMENT,
    SUMMARY_DEPTH,
    SUMMARY_PERIOD,
    TALLY,
    TALLY_HOURS,
    CaseFact,
    StatsDirty,
    cut,
    fact_columns,
    pack,
)
from shared.logging import get_logger

OPEN_LIKE = frozenset(
    {
        "reported",
        "accepted",
        "dispatched",
        "in_progress",
        "returned",
        "escalated",
        "reopened",
        "suspended",
    }
)
RESOLVED_LIKE = frozenset({"resolved", "closed"})
BATCH = 500
log = get_logger(__name__)


def _late(d: CaseDeadline) -> bool:
    return d.overdue_at is not None or (d.met_at is not None and d.met_at > d.due_at)


def _used(d: CaseDeadline, cal: WorkingCalendar) -> timedelta:
    assert d.met_at is not None
    return cal.elapsed(d.started_at, d.met_at, LimitUnit(d.unit))


def compute_fact(
    case: Case,
    *,
    actions: set[str],
    deadlines: list[CaseDeadline],
    lead: CaseAssignment | None,
    evaluation: Evaluation | None,
    cal: WorkingCalendar,
    settings: Settings,
) -> dict[str, Any]:
    status = case.status
    resolved = status in RESOLVED_LIKE and case.resolved_at is not None
    accepted = "accept" in actions or case.self_handled
    accept_limits = [d for d in deadlines if d.kind == "accept"]
    resolve_limits = [d for d in deadlines if d.kind == "resolve"]
    any_late = any(_late(d) for d in deadlines)
    ahead = False
    if resolved:
        met = [d for d in resolve_limits if d.status == "met" and d.met_at is not None]
        if met:
            last = max(met, key=lambda d: d.met_at or d.started_at)
            ahead = _used(last, cal).total_seconds() <= settings.stats_ahead_share * (
                last.total_seconds
            )
        else:
            ahead = case.self_handled
    handling_hours = None
    on_spot = False
    if resolved and case.resolved_at is not None:
        worked = cal.working_time_between(case.created_at, case.resolved_at)
        handling_hours = round(worked.total_seconds() / 3600, 1)
        on_spot = (
            case.resolved_at - case.created_at <= timedelta(minutes=settings.stats_on_spot_minutes)
            and "rework" not in actions
        )
    rated = status == "closed" and evaluation is not None
    day = case.created_at.astimezone(cal.tz).date()
    department = lead.department_id if lead is not None else None
    handler = (lead.department_id or lead.account_id) if lead is not None else None
    return {
        "case_id": case.id,
        "received_on": day,
        "received_week": day - timedelta(days=day.weekday()),
        "received_month": day.replace(day=1),
        "received_at": case.created_at,
        "area_path": case.area_path,
        "category_code": case.category_code,
        "department_id": department,
        "department_ids": list(case.department_ids),
        "handler_id": handler,
        "status": status,
        "handling_hours": handling_hours,
        "flags": pack(
            {
                "accepted": accepted,
                "accepted_on_time": accepted and not any(_late(d) for d in accept_limits),
                "dispatched": "dispatch" in actions,
                "resolved": resolved,
                "resolved_on_time": resolved and not any(_late(d) for d in resolve_limits),
                "resolved_ahead": ahead,
                "overdue_open": status in OPEN_LIKE and any_late,
                "overdue_closed": status in RESOLVED_LIKE and any_late,
                "self_handled": case.self_handled,
                "on_spot": on_spot,
                "escalated": "escalate" in actions,
                "returned": "return" in actions,
                "rework": "rework" in actions,
                "reopened": "reopen" in actions,
                "closed": status == "closed",
                "rated": rated,
                "satisfied": rated
                and evaluation is not None
                and evaluation.satisfaction in {"satisfied", "basically_satisfied"},
                "dissatisfied": rated
                and evaluation is not None
                and evaluation.satisfaction == "dissatisfied",
            }
        ),
    }


async def _claim(session: AsyncSession, limit: int) -> list[uuid.UUID]:
    dirty = StatsDirty.__table__  # type: ignore[attr-defined]
    claimed = (
        sa.select(dirty.c.case_id).limit(limit).with_for_update(skip_locked=True).scalar_subquery()
    )
    rows = await session.execute(
        sa.delete(dirty).where(dirty.c.case_id.in_(claimed)).returning(dirty.c.case_id)
    )
    return list(rows.scalars().all())


async def refresh_cases(
    session: AsyncSession,
    ids: list[uuid.UUID],
    settings: Settings,
    calendars: dict[str, WorkingCalendar] | None = None,
) -> int:
    if not ids:
        return 0
    calendars = {} if calendars is None else calendars
    cases = (await session.execute(sa.select(Case).where(col(Case.id).in_(ids)))).scalars().all()
    actions: dict[uuid.UUID, set[str]] = defaultdict(set)
    for case_id, action in await session.execute(
        sa.select(col(TimelineEntry.case_id), col(TimelineEntry.action)).where(
            col(TimelineEntry.case_id).in_(ids), col(TimelineEntry.action).is_not(None)
        )
    ):
        if action is not None:
            actions[case_id].add(action)
    deadlines: dict[uuid.UUID, list[CaseDeadline]] = defaultdict(list)
    for d in (
        await session.execute(sa.select(CaseDeadline).where(col(CaseDeadline.case_id).in_(ids)))
    ).scalars():
        deadlines[d.case_id].append(d)
    leads: dict[uuid.UUID, CaseAssignment] = {}
    for a in (
        await session.execute(
            sa.select(CaseAssignment)
            .where(col(CaseAssignment.case_id).in_(ids), col(CaseAssignment.role) == "lead")
            .order_by(col(CaseAssignment.assigned_at))
        )
    ).scalars():
        leads[a.case_id] = a  # the latest lead wins
    evaluations: dict[tuple[uuid.UUID, datetime], Evaluation] = {
        (e.case_id, e.closed_at): e
        for e in (
            await session.execute(sa.select(Evaluation).where(col(Evaluation.case_id).in_(ids)))
        ).scalars()
    }
    facts = []
    for case in cases:
        if case.area_path not in calendars:
            calendars[case.area_path] = await calendar_for(session, case.area_path)
        evaluation = (
            evaluations.get((case.id, case.closed_at)) if case.closed_at is not None else None
        )
        facts.append(
            compute_fact(
                case,
                actions=actions[case.id],
                deadlines=deadlines[case.id],
                lead=leads.get(case.id),
                evaluation=evaluation,
                cal=calendars[case.area_path],
                settings=settings,
            )
        )
    if facts:
        await update_summary(session, ids, facts)
        stmt = insert(CaseFact.__table__)  # type: ignore[attr-defined]
        columns = fact_columns()
        stmt = stmt.on_conflict_do_update(
            index_elements=[columns.case_id],
            set_={c.name: stmt.excluded[c.name] for c in columns if c.name != "case_id"},
        )
        await session.execute(stmt, facts)
    return len(facts)


SummaryKey = tuple[str, Any, str, str]  # dim, received_month, area path (cut), key


def contributions(fact: Any) -> Iterator[tuple[SummaryKey, list[int], int | None]]:
    """What one fact adds to the summary: per cuboid, its key, the counts (``n`` then one per
    flag) and its handling time in tenths of an hour (None: not resolved)."""
    counts = [1, *(1 if fact["flags"] & bit else 0 for bit in FLAG_BITS.values())]
    hours = fact["handling_hours"]
    tenths = None if hours is None else round(hours * 10)
    keys = {
        "area": "",
        "category": fact["category_code"],
        "department": fact["department_id"] or NO_DEPARTMENT,
        "week": "",
    }
    for dim, depth in SUMMARY_DEPTH.items():
        yield (
            (dim, fact[SUMMARY_PERIOD[dim]], cut(fact["area_path"], depth), keys[dim]),
            counts,
            tenths,
        )


async def update_summary(
    session: AsyncSession, ids: list[uuid.UUID], facts: list[dict[str, Any]]
) -> None:
    """Move the summary from the stored facts of ``ids`` to ``facts``, in this transaction.

    The stored facts are locked (FOR UPDATE) so that no other rollup subtracts the same fact
    twice; the summary rows change by increments (``n = n + delta``), which concurrent rollups
    may apply to the same row in either order, and are written in key order so that two
    rollups never wait on each other in a cycle. Rows that fall to zero are kept (the queries
    skip them): a cell that empties is rare and the key space is small."""
    c = fact_columns()
    old = (
        await session.execute(
            sa.select(
                c.received_month,
                c.received_week,
                c.area_path,
                c.category_code,
                c.department_id,
                c.flags,
                c.handling_hours,
            )
            .where(c.case_id.in_(ids))
            .with_for_update()
        )
    ).mappings()
    tally: dict[SummaryKey, list[int]] = {}
    hours: dict[tuple[SummaryKey, int], int] = defaultdict(int)
    for sign, rows in ((-1, list(old)), (1, facts)):
        for fact in rows:
            for key, counts, tenths in contributions(fact):
                total = tally.setdefault(key, [0] * len(counts))
                for i, v in enumerate(counts):
                    total[i] += sign * v
                if tenths is not None:
                    hours[key, tenths] += sign
    names = ["n", *FLAG_BITS]
    key_names = ["dim", "received_month", "area_path", "key"]
    tally_rows = [
        {**dict(zip(key_names, k, strict=True)), **dict(zip(names, v, strict=True))}
        for k, v in sorted(tally.items())
        if any(v)
    ]
    hour_rows = [
        {**dict(zip(key_names, k, strict=True)), "tenths": t, "n": n}
        for (k, t), n in sorted(hours.items())
        if n
    ]
    for table, rows, counted in ((TALLY, tally_rows, names), (TALLY_HOURS, hour_rows, ["n"])):
        if not rows:
            continue
        stmt = insert(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=list(table.primary_key.columns),
            set_={name: table.c[name] + stmt.excluded[name] for name in counted},
        )
        await session.execute(stmt, rows)


async def refresh(session: AsyncSession, settings: Settings, *, limit: int | None = None) -> int:
    """Recompute the facts of the dirty cases (all of them, or up to ``limit``)."""
    done = 0
    calendars: dict[str, WorkingCalendar] = {}
    while limit is None or done < limit:
        batch = BATCH if limit is None else min(BATCH, limit - done)
        ids = await _claim(session, batch)
        if not ids:
            break
        done += await refresh_cases(session, ids, settings, calendars)
        if len(ids) < batch:
            break
    return done


#: ``pg_advisory_xact_lock`` key serialising rollups (workers and requests, all replicas).
LOCK_KEY = 0x57415453


async def refresh_now(
    maker: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    limit: int | None,
    wait: bool = True,
) -> int:
    """One rollup in a short transaction of its own, committed before the caller reads.

    Rollups take a transaction-level advisory lock: a request waits for a batch in progress
    (its facts are then committed and visible) instead of skipping its markers and reading
    stale facts; the background worker does not wait (``wait=False``)."""
    async with maker() as session, session.begin():
        if wait:
            await session.execute(sa.select(sa.func.pg_advisory_xact_lock(LOCK_KEY)))
        else:
            got = await session.execute(sa.select(sa.func.pg_try_advisory_xact_lock(LOCK_KEY)))
            if not got.scalar_one():
                return 0
        return await refresh(session, settings, limit=limit)


class RollupWorker:
    """Keeps ``case_fact`` current in the background, so that an indicator request finds
    little or nothing left to recompute. Several replicas may run one: markers are claimed
    with SKIP LOCKED."""

    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        settings: Settings,
        *,
        poll_seconds: float = 2.0,
        batch: int = BATCH,
    ) -> None:
        self.maker = maker
        self.settings = settings
        self.poll_seconds = poll_seconds
        self.batch = batch
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="stats-rollup-worker")

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                done = await refresh_now(self.maker, self.settings, limit=self.batch, wait=False)
            except Exception as exc:  # the database may be briefly away; keep going
                log.warning("stats_rollup_failed", error=type(exc).__name__)
                done = 0
            if done < self.batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self.poll_seconds)

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task


def summary_from_facts_sql(dims: tuple[str, ...] = tuple(SUMMARY_DEPTH)) -> list[str]:
    """SQL that derives the summary (of the cuboids ``dims``) from ``case_fact`` into empty
    summary tables (the bench loads it so; a test checks that the rollup's running summary
    equals it)."""
    counts = ", ".join(f"count(*) FILTER (WHERE flags & {bit} <> 0)" for bit in FLAG_BITS.values())
    keys = {
        "area": "''",
        "category": "category_code",
        "department": "coalesce(department_id, '')",
        "week": "''",
    }
    tally, hours = [], []
    for dim in dims:
        depth, period = SUMMARY_DEPTH[dim], SUMMARY_PERIOD[dim]
        path = f"array_to_string((string_to_array(area_path, '.'))[1:{depth}], '.')"
        tally.append(
            f"SELECT '{dim}', {period}, {path}, {keys[dim]}, count(*), {counts} "  # noqa: S608
            "FROM case_fact GROUP BY 1, 2, 3, 4"
        )
        hours.append(
            f"SELECT '{dim}', {period}, {path}, {keys[dim]}, "  # noqa: S608
            "round(handling_hours * 10)::int, count(*) FROM case_fact "
            "WHERE handling_hours IS NOT NULL GROUP BY 1, 2, 3, 4, 5"
        )
    names = ", ".join(FLAG_BITS)
    return [
        f"INSERT INTO case_tally (dim, received_month, area_path, key, n, {names}) "
        + " UNION ALL ".join(tally),
        "INSERT INTO case_tally_hours (dim, received_month, area_path, key, tenths, n) "
        + " UNION ALL ".join(hours),
    ]


async def rebuild_summary(maker: async_sessionmaker[AsyncSession]) -> None:
    """Derive the whole summary from the facts again, under the rollups' lock.

    A rolling upgrade that adds or changes a summary migration fills it once while the previous
    version's pods may still run their rollup (which does not keep the new summary), so facts
    they rewrite afterwards leave it off for good. Run ``python -m case_service
    rebuild-stats-summary`` once the rollout is complete (docs/deploy.md)."""
    async with maker() as session, session.begin():
        await session.execute(sa.select(sa.func.pg_advisory_xact_lock(LOCK_KEY)))
        await session.execute(sa.text("DELETE FROM case_tally_hours"))
        await session.execute(sa.text("DELETE FROM case_tally"))
        for statement in summary_from_facts_sql():
            await session.execute(sa.text(statement))
