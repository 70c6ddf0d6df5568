"""Indicator queries over ``case_fact``, with the caller's scope applied. Flush, never commit.

Every figure is a numerator and a denominator summed over fact rows (see ``stats.rollup`` for
the definitions and ``stats.schemas.INDICATORS`` for which is divided by which), filtered by
the period the cases were reported in (Asia/Shanghai days), an area subtree, a lead
department and a category (a 2-digit 大类 code takes its 小类).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from case_service.cases.access import AREA_ROLES, subtree
from case_service.config import Settings
from case_service.stats.models import FLAG_BITS, FLAGS, CaseFact, fact_columns
from case_service.stats.schemas import (
    BY_NAME,
    INDICATORS,
    LOWER_IS_BETTER,
    Figure,
    GroupBy,
    IndicatorRow,
    Interval,
    NegativeRow,
    Ranking,
    RankingRow,
)
from shared.auth import Principal, Role
from shared.problem import FieldProblem, Forbidden, ValidationFailed

MAX_DAYS = 5 * 366
FACT: sa.Table = CaseFact.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class StatsFilter:
    date_from: date
    date_to: date  # inclusive
    area_path: str | None = None
    department_id: str | None = None
    category_code: str | None = None


def invalid(field: str, reason: str, code: str) -> ValidationFailed:
    return ValidationFailed(reason, code=code, errors=[FieldProblem(field=field, reason=reason)])


def check_period(date_from: date, date_to: date) -> None:
    if date_to < date_from:
        raise invalid("query.to", "before from", "invalid_period")
    if (date_to - date_from).days > MAX_DAYS:
        raise invalid("query.to", f"a period spans at most {MAX_DAYS} days", "period_too_long")


def base_area(principal: Principal, area_path: str | None) -> str | None:
    """The area the figures are for: the one asked (which must be in scope), else the caller's
    only area. Out-of-scope areas are 403 ``area_out_of_scope``."""
    if area_path is not None:
        if principal.has_role(Role.admin) or (
            principal.has_role(*AREA_ROLES) and principal.covers_area(area_path)
        ):
            return area_path
        if principal.has_role(Role.department_handler) and not principal.has_role(*AREA_ROLES):
            return area_path  # their departments' cases in that area
        raise Forbidden("Statistics of that area are outside your scope", code="area_out_of_scope")
    if principal.has_role(*AREA_ROLES) and len(principal.area_paths) == 1:
        return principal.area_paths[0]
    return None


def scope_clause(principal: Principal) -> sa.ColumnElement[bool] | None:
    """Admins see everything; area staff their subtrees; department handlers the cases their
    departments handled. Residents and platforms get no statistics."""
    c = fact_columns()
    if principal.has_role(Role.admin):
        return None
    conds: list[sa.ColumnElement[bool]] = []
    if principal.has_role(*AREA_ROLES):
        conds.extend(subtree(c.area_path, p) for p in principal.area_paths)
    if principal.has_role(Role.department_handler) and principal.department_ids:
        conds.append(c.department_ids.overlap(list(principal.department_ids)))
    if not conds:
        raise Forbidden("Statistics are for staff", code="stats_not_permitted")
    return sa.or_(*conds)


def where(principal: Principal, f: StatsFilter) -> list[sa.ColumnElement[bool]]:
    c = fact_columns()
    conds: list[sa.ColumnElement[bool]] = [
        c.received_on >= f.date_from,
        c.received_on <= f.date_to,
    ]
    scope = scope_clause(principal)
    if scope is not None:
        conds.append(scope)
    if f.area_path is not None:
        conds.append(subtree(c.area_path, f.area_path))
    if f.department_id is not None:
        conds.append(c.department_id == f.department_id)
    if f.category_code is not None:
        if len(f.category_code) <= 2:
            conds.append(c.category_code.startswith(f.category_code, autoescape=True))
        else:
            conds.append(c.category_code == f.category_code)
    return conds


@dataclass
class Tally:
    """The counts of one group: cases, cases per flag, and resolved cases per handling time."""

    received: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FLAGS, 0))
    hours: dict[float, int] = field(default_factory=dict)

    def add_flags(self, flags: int, n: int) -> None:
        self.received += n
        for name, bit in FLAG_BITS.items():
            if flags & bit:
                self.counts[name] += n

    def count(self, name: str) -> int:
        if name == "received":
            return self.received
        if name == "overdue":
            return self.counts["overdue_open"] + self.counts["overdue_closed"]
        return self.counts[name]

    def handling(self) -> dict[str, Any]:
        """Average and p90 (``percentile_cont``: linear between the two nearest values)."""
        total = sum(self.hours.values())
        if not total:
            return {"resolved": 0, "average": None, "p90": None}
        values = sorted(self.hours.items())
        average = sum(v * n for v, n in values) / total
        position = 0.9 * (total - 1)
        low, high = math.floor(position), math.ceil(position)

        def nth(i: int) -> float:
            seen = 0
            for v, n in values:
                seen += n
                if i < seen:
                    return v
            return values[-1][0]

        p90 = nth(low) + (position - low) * (nth(high) - nth(low))
        return {"resolved": total, "average": round(average, 2), "p90": round(p90, 2)}


def _figure(t: Tally, numerator: str, denominator: str | None) -> Figure:
    num = t.count(numerator)
    if denominator is None:
        return Figure(numerator=num, denominator=None, rate=None)
    den = t.count(denominator)
    return Figure(numerator=num, denominator=den, rate=round(num / den, 4) if den else None)


def to_row(key: str | None, t: Tally) -> IndicatorRow:
    return IndicatorRow(
        key=key,
        indicators={i.name: _figure(t, i.numerator, i.denominator) for i in INDICATORS},
        handling_hours=t.handling(),
    )


async def custom_plans(session: AsyncSession) -> None:
    """Plan each statistics query for its own parameters. A prepared statement's generic plan
    guesses a small share for any area range and reads a whole district through the area
    index, row by row — seconds instead of a parallel scan's few hundred milliseconds."""
    await session.execute(sa.text("SET LOCAL plan_cache_mode = force_custom_plan"))


async def tallies(
    session: AsyncSession,
    principal: Principal,
    f: StatsFilter,
    key: sa.ColumnElement[Any] | None,
) -> dict[Any, Tally]:
    """Two grouped counts over the facts: by ``flags`` and by handling time (per ``key``)."""
    c = fact_columns()
    conds = where(principal, f)
    keys: list[sa.ColumnElement[Any]] = [key.label("key")] if key is not None else []
    by_flags = (
        sa.select(*keys, c.flags, sa.func.count().label("n"))
        .where(*conds)
        .group_by(*([key] if key is not None else []), c.flags)
    )
    by_hours = (
        sa.select(*keys, c.handling_hours, sa.func.count().label("n"))
        .where(*conds, c.handling_hours.is_not(None))
        .group_by(*([key] if key is not None else []), c.handling_hours)
    )
    await custom_plans(session)
    out: dict[Any, Tally] = {}
    for r in (await session.execute(by_flags)).all():
        k = r.key if key is not None else None
        out.setdefault(k, Tally()).add_flags(int(r.flags), int(r.n))
    for r in (await session.execute(by_hours)).all():
        k = r.key if key is not None else None
        out.setdefault(k, Tally()).hours[float(r.handling_hours)] = int(r.n)
    return out


def group_key(group_by: GroupBy, base: str | None) -> sa.ColumnElement[Any] | None:
    c = fact_columns()
    if group_by is GroupBy.department:
        department: sa.ColumnElement[Any] = c.department_id
        return department
    if group_by is GroupBy.category:
        category: sa.ColumnElement[Any] = c.category_code
        return category
    if group_by is GroupBy.area:
        # the code at the child level (split_part is far cheaper than a regex or an array
        # slice per row); the route turns it back into a path. '' = filed at the base itself.
        depth = len(base.split(".")) + 1 if base else 1
        return sa.func.split_part(c.area_path, ".", depth)
    return None


async def indicators(
    session: AsyncSession,
    principal: Principal,
    f: StatsFilter,
    *,
    group_by: GroupBy,
    settings: Settings,
) -> list[IndicatorRow]:
    key = group_key(group_by, f.area_path)
    found = await tallies(session, principal, f, key)
    if key is None:
        return [to_row("all", found.get(None, Tally()))]
    keys = sorted(found, key=lambda k: (k is None, k or ""))
    if group_by is GroupBy.area:
        return [to_row(child_path(f.area_path, k), found[k]) for k in keys]
    return [to_row(k, found[k]) for k in keys]


def child_path(base: str | None, code: str) -> str | None:
    if not code:
        return base
    return f"{base}.{code}" if base else code


def buckets(date_from: date, date_to: date, interval: Interval) -> Iterator[date]:
    day = date_from
    if interval is Interval.week:
        day = date_from - timedelta(days=date_from.weekday())
    elif interval is Interval.month:
        day = date_from.replace(day=1)
    while day <= date_to:
        yield day
        if interval is Interval.day:
            day += timedelta(days=1)
        elif interval is Interval.week:
            day += timedelta(days=7)
        else:
            day = (day.replace(day=28) + timedelta(days=4)).replace(day=1)


async def series(
    session: AsyncSession,
    principal: Principal,
    f: StatsFilter,
    *,
    interval: Interval,
    settings: Settings,
) -> list[IndicatorRow]:
    """One row per day/week/month of the period (empty periods included, all zero)."""
    c = fact_columns()
    # plain columns: a date function per row would cost more than the grouping itself
    bucket: sa.ColumnElement[Any] = {
        Interval.day: c.received_on,
        Interval.week: c.received_week,
        Interval.month: c.received_month,
    }[interval]
    found = await tallies(session, principal, f, bucket)
    return [
        to_row(b.isoformat(), found.get(b, Tally()))
        for b in buckets(f.date_from, f.date_to, interval)
    ]


async def ranking(
    session: AsyncSession,
    principal: Principal,
    f: StatsFilter,
    *,
    by: GroupBy,
    indicator: str,
    settings: Settings,
) -> Ranking:
    """Areas (children of the area asked) or departments ranked by one rate. Below
    ``stats_red_threshold`` is the red list, below ``stats_yellow_threshold`` the yellow list;
    for rates where higher is worse (overdue, rework …) ``1 - rate`` is compared instead."""
    spec = BY_NAME[indicator]
    rows = await indicators(session, principal, f, group_by=by, settings=settings)
    red, yellow = settings.stats_red_threshold, settings.stats_yellow_threshold
    worse_high = indicator in LOWER_IS_BETTER
    ranked: list[tuple[float | None, IndicatorRow]] = []
    for r in rows:
        fig = r.indicators[spec.name]
        ranked.append((fig.rate, r))
    ranked.sort(
        key=lambda x: (
            x[0] is None,
            (x[0] if worse_high else -x[0]) if x[0] is not None else 0,
            x[1].key or "",
        )
    )
    out: list[RankingRow] = []
    for position, (rate, r) in enumerate(ranked, start=1):
        fig = r.indicators[spec.name]
        if rate is None:
            colour = "none"
        else:
            score = 1 - rate if worse_high else rate
            colour = "red" if score < red else "yellow" if score < yellow else "green"
        out.append(
            RankingRow(
                rank=position,
                key=r.key,
                numerator=fig.numerator,
                denominator=fig.denominator or 0,
                rate=rate,
                list=colour,
            )
        )
    return Ranking(
        by=by.value,
        indicator=indicator,
        red_threshold=red,
        yellow_threshold=yellow,
        rows=out,
        red_list=[r.key for r in out if r.list == "red"],
        yellow_list=[r.key for r in out if r.list == "yellow"],
    )


async def negative_list(
    session: AsyncSession, principal: Principal, f: StatsFilter, *, settings: Settings
) -> list[NegativeRow]:
    """负面清单: per lead handler (department, or grid worker), the cases of the period that ran
    overdue or were rated dissatisfied, worst first."""
    c = fact_columns()
    overdue_bits = FLAG_BITS["overdue_open"] | FLAG_BITS["overdue_closed"]
    overdue = c.flags.op("&")(overdue_bits) != 0
    bad = c.flags.op("&")(FLAG_BITS["dissatisfied"]) != 0
    ids = sa.cast(c.case_id, sa.Text)
    stmt = (
        sa.select(
            c.handler_id,
            sa.func.count().label("cases"),
            sa.func.count().filter(overdue).label("overdue"),
            sa.func.count().filter(bad).label("dissatisfied"),
            sa.func.array_agg(aggregate_order_by(ids, c.received_at))
            .filter(overdue)
            .label("overdue_ids"),
            sa.func.array_agg(aggregate_order_by(ids, c.received_at)).filter(bad).label("bad_ids"),
        )
        .where(*where(principal, f), c.handler_id.is_not(None))
        .group_by(c.handler_id)
        .having(sa.func.count().filter(sa.or_(overdue, bad)) > 0)
    )
    await custom_plans(session)
    rows = [
        NegativeRow(
            handler_id=r.handler_id,
            cases=r.cases,
            overdue=r.overdue,
            dissatisfied=r.dissatisfied,
            overdue_case_ids=list(r.overdue_ids or []),
            dissatisfied_case_ids=list(r.bad_ids or []),
        )
        for r in (await session.execute(stmt)).all()
    ]
    rows.sort(key=lambda r: (-(r.overdue + r.dissatisfied), r.handler_id))
    return rows


async def grid_counts(
    session: AsyncSession, principal: Principal, f: StatsFilter, *, settings: Settings
) -> dict[str, int]:
    """Cases per lowest-level area (the heat map's figures)."""
    c = fact_columns()
    stmt = sa.select(c.area_path, sa.func.count()).where(*where(principal, f)).group_by(c.area_path)
    await custom_plans(session)
    return {path: int(n) for path, n in (await session.execute(stmt)).all()}
