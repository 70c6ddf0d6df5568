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
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from case_service.cases.access import AREA_ROLES, subtree
from case_service.config import Settings
from case_service.stats.models import (
    FLAG_BITS,
    FLAGS,
    NEGATIVE_BITS,
    NO_DEPARTMENT,
    SUMMARY_DEPTH,
    TALLY,
    TALLY_HOURS,
    CaseFact,
    fact_columns,
)
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
from shared.i18n import Text
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


def invalid(field: str, reason: Text, code: str) -> ValidationFailed:
    return ValidationFailed(reason, code=code, errors=[FieldProblem(field=field, reason=reason)])


def check_period(date_from: date, date_to: date) -> None:
    if date_to < date_from:
        raise invalid("query.to", Text("早于开始日期", "before from"), "invalid_period")
    if (date_to - date_from).days > MAX_DAYS:
        raise invalid(
            "query.to",
            Text(f"统计周期最长 {MAX_DAYS} 天", f"a period spans at most {MAX_DAYS} days"),
            "period_too_long",
        )


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
        raise Forbidden(
            Text(
                "该区域的统计不在您的权限范围内", "Statistics of that area are outside your scope"
            ),
            code="area_out_of_scope",
        )
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
        raise Forbidden(
            Text("统计数据仅供工作人员查看", "Statistics are for staff"), code="stats_not_permitted"
        )
    return sa.or_(*conds)


def where(
    principal: Principal, f: StatsFilter, days: list[tuple[date, date]] | None = None
) -> list[sa.ColumnElement[bool]]:
    """The facts of the filter's period (or of ``days``, inclusive ranges), scope and filters."""
    c = fact_columns()
    ranges = days if days is not None else [(f.date_from, f.date_to)]
    conds: list[sa.ColumnElement[bool]] = [
        sa.or_(*(sa.and_(c.received_on >= a, c.received_on <= b) for a, b in ranges))
    ]
    scope = scope_clause(principal)
    if scope is not None:
        conds.append(scope)
    if f.area_path is not None:
        conds.append(subtree(c.area_path, f.area_path))
    if f.department_id is not None:
        conds.append(c.department_id == f.department_id)
    if f.category_code is not None:
        conds.append(category_match(c.category_code, f.category_code))
    return conds


def category_match(column: sa.ColumnElement[Any], code: str) -> sa.ColumnElement[bool]:
    """A 2-digit 大类 code takes its 小类; a longer code is one category."""
    if len(code) <= 2:
        return column.startswith(code, autoescape=True)
    return column == code


@dataclass
class Tally:
    """The counts of one group: cases, cases per flag, and the resolved cases' handling time
    (how many, the sum of value × cases over the values in ascending order, and the values at
    the two positions the p90 interpolates between), all computed in SQL (:func:`tallies`)."""

    received: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FLAGS, 0))
    resolved: int = 0
    hours_sum: float = 0.0
    p90_low: float | None = None
    p90_high: float | None = None

    def count(self, name: str) -> int:
        if name == "received":
            return self.received
        if name == "overdue":
            return self.counts["overdue_open"] + self.counts["overdue_closed"]
        return self.counts[name]

    def handling(self) -> dict[str, Any]:
        """Average and p90 (``percentile_cont``: linear between the values at the floor and
        the ceiling of 0.9 × (resolved - 1)). The float arithmetic is the same, step by step,
        as summing the sorted histogram in Python: ``hours_sum`` is added up in SQL in value
        order, starting from the smallest."""
        total = self.resolved
        if not total or self.p90_low is None or self.p90_high is None:
            return {"resolved": 0, "average": None, "p90": None}
        average = self.hours_sum / total
        position = P90 * (total - 1)
        low = math.floor(position)
        p90 = self.p90_low + (position - low) * (self.p90_high - self.p90_low)
        return {"resolved": total, "average": round(average, 2), "p90": round(p90, 2)}


P90 = 0.9


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
    # and give the hash aggregates of a district's facts room (the default 4 MB sends a
    # handler grouping or a misestimated area grouping to an on-disk sort); one round trip
    await session.execute(
        sa.text(
            "SELECT set_config('plan_cache_mode', 'force_custom_plan', true), "
            "set_config('work_mem', '32MB', true)"
        )
    )


#: How figures are grouped: by nothing, child area, lead department, category, or period.
Grouping = Literal["none", "area", "department", "category", "day", "week", "month"]
Source = Literal["auto", "facts"]


def depth(path: str) -> int:
    return len(path.split("."))


def fact_key(group: Grouping, base: str | None) -> sa.ColumnElement[Any]:
    """The key of a fact's group, of the same type and collation as :func:`summary_key`."""
    c = fact_columns()
    if group == "area":
        # the code at the child level (split_part is far cheaper than a regex or an array
        # slice per row); the route turns it back into a path. '' = filed at the base itself.
        return sa.func.split_part(c.area_path, ".", depth(base) + 1 if base else 1).collate("C")
    # plain columns: a date function per row would cost more than the grouping itself
    columns: dict[str, sa.ColumnElement[Any]] = {
        "department": sa.func.coalesce(c.department_id, sa.literal_column("''")),
        "category": c.category_code,
        "day": c.received_on,
        "week": c.received_week,
        "month": c.received_month,
    }
    return columns.get(group, sa.literal_column("''"))


def summary_key(group: Grouping, base: str | None, c: Any) -> sa.ColumnElement[Any]:
    if group == "area":
        return sa.func.split_part(c.area_path, ".", depth(base) + 1 if base else 1)
    if group in ("department", "category"):
        return c.key  # type: ignore[no-any-return]
    if group in ("month", "week"):
        return c.received_month  # type: ignore[no-any-return]  # (a week's Monday for "week")
    return sa.literal_column("''")


CountParts = list[sa.Select[Any]]  # (key, n, one count per flag)
HourParts = list[sa.Select[Any]]  # (key, tenths, n)


def fact_parts(
    principal: Principal,
    f: StatsFilter,
    group: Grouping,
    days: list[tuple[date, date]] | None = None,
) -> tuple[CountParts, HourParts]:
    """One pass over the facts: a hash aggregate with two grouping sets, (key, flags) and
    (key, handling time). A few hundred flag combinations occur, so the flags set is summed
    bit by bit only after grouping."""
    c = fact_columns()
    key = fact_key(group, f.area_path)
    keyed = [] if group == "none" else [key]  # (PostgreSQL refuses a constant in GROUP BY)
    sets = sa.func.grouping_sets(sa.tuple_(*keyed, c.flags), sa.tuple_(*keyed, c.handling_hours))
    grouped = (
        sa.select(
            key.label("key"),
            c.flags,
            c.handling_hours,
            sa.func.count().label("n"),
            sa.func.grouping(c.flags).label("by_hours"),
        )
        .where(*where(principal, f, days))
        .group_by(sets)
        .cte("grouped")
    )
    g = grouped.c
    counts = (
        sa.select(
            g.key,
            sa.func.sum(g.n).label("n"),
            *(
                sa.func.coalesce(sa.func.sum(g.n).filter(g.flags.op("&")(bit) != 0), 0)
                for bit in FLAG_BITS.values()
            ),
        )
        .where(g.by_hours == 0)
        .group_by(g.key)
    )
    hours = sa.select(
        g.key,
        sa.cast(sa.func.round(g.handling_hours * 10), sa.Integer).label("tenths"),
        g.n,
    ).where(g.by_hours == 1, g.handling_hours.is_not(None))
    return [counts], [hours]


def summary_parts(
    principal: Principal,
    f: StatsFilter,
    group: Grouping,
    dim: str,
    months: tuple[date, date],
) -> tuple[CountParts, HourParts]:
    """The same rows as :func:`fact_parts`, for whole months (whole weeks: dim ``week``),
    from the summary."""
    parts: list[sa.Select[Any]] = []
    for table in (TALLY, TALLY_HOURS):
        c = table.c
        conds: list[sa.ColumnElement[bool]] = [
            c.dim == dim,
            c.received_month >= months[0],
            c.received_month <= months[1],
        ]
        if not principal.has_role(Role.admin):
            conds.append(sa.or_(*(subtree(c.area_path, p) for p in principal.area_paths)))
        if f.area_path is not None:
            conds.append(subtree(c.area_path, f.area_path))
        if f.department_id is not None:
            conds.append(c.key == f.department_id)
        if f.category_code is not None:
            conds.append(category_match(c.key, f.category_code))
        key = summary_key(group, f.area_path, c).label("key")
        if table is TALLY:
            parts.append(sa.select(key, c.n, *(c[name] for name in FLAGS)).where(*conds))
        else:
            parts.append(sa.select(key, c.tenths, c.n).where(*conds))
    return [parts[0]], [parts[1]]


def tally_statement(counts: CountParts, hours: HourParts) -> sa.Select[Any]:
    """Per group: the case count, one count per flag, and from the handling-time histogram
    (summed over the parts) the resolved count, the sum of value × cases added up in value
    order, and the values at the floor and the ceiling of the p90 position. One row per group
    leaves the server."""
    every = sa.union_all(*counts).subquery("every_count")
    e = every.c
    flag_columns = list(e)[2:]
    per_key = (
        sa.select(
            e.key,
            sa.func.sum(e.n).label("n"),
            *(sa.func.sum(col).label(name) for name, col in zip(FLAGS, flag_columns, strict=True)),
        )
        .group_by(e.key)
        .having(sa.func.sum(e.n) > 0)  # rows emptied by the rollup stay, at zero
        .subquery("per_key")
    )
    spread = sa.union_all(*hours).subquery("every_hour")
    hist = (
        sa.select(
            spread.c.key,
            spread.c.tenths,
            sa.cast(sa.func.sum(spread.c.n), sa.BigInteger).label("n"),
        )
        .group_by(spread.c.key, spread.c.tenths)
        .having(sa.func.sum(spread.c.n) > 0)
        .subquery("hist")
    )
    h = hist.c
    running = (
        sa.select(
            h.key,
            h.tenths,
            h.n,
            sa.func.sum(h.n).over(partition_by=h.key, order_by=h.tenths).label("upto"),
            sa.func.sum(h.n).over(partition_by=h.key).label("total"),
        )
    ).subquery("running")
    r = running.c
    position = sa.literal_column(f"{P90!r}::float8", sa.Float) * sa.cast(r.total - 1, sa.Float)
    value = sa.cast(r.tenths, sa.Float) / sa.literal_column("10::float8", sa.Float)
    handling = (
        sa.select(
            r.key,
            sa.cast(sa.func.max(r.total), sa.BigInteger).label("timed"),
            sa.func.sum(aggregate_order_by(value * sa.cast(r.n, sa.Float), r.tenths)).label(
                "hours_sum"
            ),
            sa.func.min(r.tenths).filter(r.upto > sa.func.floor(position)).label("low"),
            sa.func.min(r.tenths).filter(r.upto > sa.func.ceil(position)).label("high"),
        )
        .group_by(r.key)
        .subquery("handling")
    )
    k, t = per_key.c, handling.c
    return sa.select(
        sa.func.coalesce(k.key, t.key).label("key"),
        sa.func.coalesce(k.n, 0).label("n"),
        *(sa.func.coalesce(k[name], 0).label(name) for name in FLAGS),
        sa.func.coalesce(t.timed, 0).label("timed"),
        t.hours_sum,
        t.low,
        t.high,
    ).select_from(per_key.join(handling, k.key == t.key, full=True))


def summary_dim(principal: Principal, f: StatsFilter, group: Grouping) -> str | None:
    """The summary cuboid (``stats.models``) that answers exactly, or None: read the facts.

    A department handler's scope (department_ids overlap), a lead department together with a
    category, an area deeper than the cuboid keeps, series by day, and series by week of a
    street, a department or a category are not in the summary."""
    if group == "day":
        return None
    by_department = f.department_id is not None or group == "department"
    by_category = f.category_code is not None or group == "category"
    if by_department and by_category:
        return None
    if group == "week":
        if by_department or by_category:
            return None
        dim = "week"
    else:
        dim = "department" if by_department else "category" if by_category else "area"
    deepest = SUMMARY_DEPTH[dim]
    if principal.has_role(Role.admin):
        areas: list[str] = []
    elif principal.has_role(Role.department_handler) or not principal.has_role(*AREA_ROLES):
        return None  # department handlers: facts; residents and platforms: 403 from where()
    else:
        areas = list(principal.area_paths)
    if f.area_path is not None:
        areas.append(f.area_path)
    if any(depth(p) > deepest for p in areas):
        return None
    if group == "area" and (depth(f.area_path) if f.area_path else 0) + 1 > deepest:
        return None
    return dim


def whole_months(f: StatsFilter) -> tuple[date, date] | None:
    """The first days of the first and the last whole calendar month of the period, if any."""
    first = f.date_from if f.date_from.day == 1 else next_month(f.date_from)
    after = f.date_to + timedelta(days=1)
    last = (after.replace(day=1) - timedelta(days=1)).replace(day=1)
    return (first, last) if first <= last else None


def next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def whole_weeks(f: StatsFilter) -> tuple[date, date] | None:
    """The Mondays of the first and the last whole week (Monday to Sunday) of the period."""
    first = f.date_from + timedelta(days=-f.date_from.weekday() % 7)
    last = f.date_to - timedelta(days=(f.date_to.weekday() + 1) % 7 + 6)
    return (first, last) if first <= last else None


def whole_periods(f: StatsFilter, dim: str) -> tuple[date, date] | None:
    """The first and the last whole period of the cuboid ``dim`` in the filter's period."""
    return whole_weeks(f) if dim == "week" else whole_months(f)


def next_period(day: date, dim: str) -> date:
    return day + timedelta(days=7) if dim == "week" else next_month(day)


async def tallies(
    session: AsyncSession,
    principal: Principal,
    f: StatsFilter,
    group: Grouping,
    *,
    source: Source = "auto",
) -> dict[Any, Tally]:
    """The counts of each group, in one statement: whole months from the summary where it
    answers exactly (:func:`summary_dim`), the rest of the period from the facts.
    ``source="facts"`` reads the facts only (the tests compare both)."""
    scope_clause(principal)  # residents and platforms: 403, whichever source answers
    dim = summary_dim(principal, f, group) if source == "auto" else None
    periods = whole_periods(f, dim) if dim is not None else None
    if dim is None or periods is None:
        counts, hours = fact_parts(principal, f, group)
    else:
        counts, hours = summary_parts(principal, f, group, dim, periods)
        edges = [
            (start, end)
            for start, end in (
                (f.date_from, periods[0] - timedelta(days=1)),
                (next_period(periods[1], dim), f.date_to),
            )
            if start <= end
        ]
        if edges:
            more_counts, more_hours = fact_parts(principal, f, group, edges)
            counts += more_counts
            hours += more_hours
    await custom_plans(session)
    out: dict[Any, Tally] = {}
    for r in (await session.execute(tally_statement(counts, hours))).mappings():
        k = r["key"]
        if group in ("none", "department") and k == NO_DEPARTMENT:
            k = None
        out[k] = Tally(
            received=int(r["n"]),
            counts={name: int(r[name]) for name in FLAGS},
            resolved=int(r["timed"]),
            hours_sum=r["hours_sum"] or 0.0,
            p90_low=None if r["low"] is None else r["low"] / 10,
            p90_high=None if r["high"] is None else r["high"] / 10,
        )
    return out


async def indicators(
    session: AsyncSession,
    principal: Principal,
    f: StatsFilter,
    *,
    group_by: GroupBy,
    settings: Settings,
    source: Source = "auto",
) -> list[IndicatorRow]:
    found = await tallies(session, principal, f, group_by.value, source=source)
    if group_by is GroupBy.none:
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
    source: Source = "auto",
) -> list[IndicatorRow]:
    """One row per day/week/month of the period (empty periods included, all zero)."""
    found = await tallies(session, principal, f, interval.value, source=source)
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
    source: Source = "auto",
) -> Ranking:
    """Areas (children of the area asked) or departments ranked by one rate. Below
    ``stats_red_threshold`` is the red list, below ``stats_yellow_threshold`` the yellow list;
    for rates where higher is worse (overdue, rework …) ``1 - rate`` is compared instead."""
    spec = BY_NAME[indicator]
    rows = await indicators(session, principal, f, group_by=by, settings=settings, source=source)
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
    overdue or were rated dissatisfied, worst first.

    The counts come from the facts' covering area index (index-only); the case ids only from
    the few facts that are overdue or dissatisfied (a partial index, migration stat04)."""
    c = fact_columns()
    overdue_bits = FLAG_BITS["overdue_open"] | FLAG_BITS["overdue_closed"]
    overdue = c.flags.op("&")(overdue_bits) != 0
    bad = c.flags.op("&")(FLAG_BITS["dissatisfied"]) != 0
    negative = c.flags.op("&")(sa.literal_column(str(NEGATIVE_BITS))) != 0
    conds = [*where(principal, f), c.handler_id.is_not(None)]
    counts = (
        sa.select(
            c.handler_id,
            sa.func.count().label("cases"),
            sa.func.count().filter(overdue).label("overdue"),
            sa.func.count().filter(bad).label("dissatisfied"),
        )
        .where(*conds)
        .group_by(c.handler_id)
        .subquery("counts")
    )
    ids = sa.cast(c.case_id, sa.Text)
    listed = (
        sa.select(
            c.handler_id,
            sa.func.array_agg(aggregate_order_by(ids, c.received_at))
            .filter(overdue)
            .label("overdue_ids"),
            sa.func.array_agg(aggregate_order_by(ids, c.received_at)).filter(bad).label("bad_ids"),
        )
        .where(*conds, negative)
        .group_by(c.handler_id)
        .subquery("listed")
    )
    stmt = sa.select(
        counts.c.handler_id,
        counts.c.cases,
        counts.c.overdue,
        counts.c.dissatisfied,
        listed.c.overdue_ids,
        listed.c.bad_ids,
    ).join_from(counts, listed, counts.c.handler_id == listed.c.handler_id)
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
