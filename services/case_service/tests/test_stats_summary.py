"""The monthly summary (``case_tally``, ``case_tally_hours``) gives exactly the figures of the
facts: on a random set of cases spread over late September to early November 2026, after
further changes (rework, reopen, rating), and after several rollups ran at once over every
case. Each check also compares the running summary with one derived afresh from the facts."""

from __future__ import annotations

import asyncio
import math
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import (
    ADMIN,
    DISPATCHER_C1,
    DISPATCHER_S1,
    DISTRICT,
    RESIDENT,
    ROADS,
    STREET1,
    URBAN,
    WORKER_A,
    Api,
    Person,
)

from case_service.sla.calendar import SHANGHAI
from case_service.stats import rollup, service
from case_service.stats.models import TALLY, TALLY_HOURS, fact_columns
from case_service.stats.schemas import INDICATORS, GroupBy, Interval
from case_service.stats.service import StatsFilter
from shared.auth import Principal

DISPATCHER_D = Person("disp-d", ("dispatcher",), (DISTRICT,))
HANDLERS = {"dept-urban": URBAN, "dept-roads": ROADS}
OCTOBER = (date(2026, 10, 1), date(2026, 10, 31))  # a whole month: the summary answers
WITH_EDGES = (date(2026, 9, 25), date(2026, 11, 6))  # October + days from the facts
PERIODS = (OCTOBER, WITH_EDGES, (date(2026, 9, 1), date(2026, 11, 30)))
FILTERS: list[dict[str, Any]] = [
    {},
    {"area_path": DISTRICT},
    {"area_path": STREET1},
    {"category_code": "0802"},
    {"category_code": "05"},
    {"department_id": "dept-urban"},
    {"area_path": DISTRICT, "category_code": "0501"},
]


@dataclass
class Clock:
    now: datetime


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock(datetime(2026, 10, 1, 9, tzinfo=SHANGHAI))
    for module in (
        "case_service.cases.service",
        "case_service.intake",
        "case_service.evaluations.service",
        "case_service.evaluations.flows",
    ):
        monkeypatch.setattr(f"{module}.utcnow", lambda: c.now)
    return c


def principal(p: Person) -> Principal:
    return Principal(
        subject=p.sub, roles=frozenset(p.roles), area_paths=p.areas, department_ids=p.depts
    )


async def random_case(api: Api, clock: Clock, rng: random.Random) -> dict[str, Any]:
    """One case reported on a random working morning, taken a random way through its life."""
    day = datetime(2026, 9, 25, tzinfo=SHANGHAI) + timedelta(days=rng.randrange(42))
    clock.now = day.replace(hour=9, minute=rng.randrange(60))

    def later(hours: float) -> None:
        clock.now += timedelta(hours=hours)

    if rng.random() < 0.1:
        case = await api.report(WORKER_A, channel="patrol", self_handled={"result": "已现场处置"})
        later(0.2)
        await api.act(ADMIN, case["id"], "verify")
        return {"id": case["id"], "stage": "self_handled"}
    lat = rng.choice([30.2, 31.2, 32.2, 33.2])
    category = rng.choice(["0802", "0802", "0501"])
    case = await api.report(
        RESIDENT,
        category_code=category,
        location={"lat": lat, "lng": 120.1, "crs": "wgs84"},
    )
    cid = case["id"]
    stage = rng.randrange(8)
    if stage == 0:
        return {"id": cid, "stage": "reported"}
    later(rng.choice([0.3, 3]))
    if stage == 1:
        await api.act(ADMIN, cid, "reject", reason="重复诉求")
        return {"id": cid, "stage": "rejected"}
    await api.act(ADMIN, cid, "accept")
    if stage == 2:
        return {"id": cid, "stage": "accepted"}
    later(0.5)
    department = rng.choice([None, "dept-urban", "dept-roads"])
    lead = {"department_id": department} if department else {"account_id": WORKER_A.sub}
    await api.act(ADMIN, cid, "dispatch", assignees=[{**lead, "role": "lead"}])
    handler = HANDLERS[department] if department else WORKER_A
    if stage == 3:
        if rng.random() < 0.5:
            await api.act(handler, cid, "return", reason="不归我们管")
        return {"id": cid, "stage": "dispatched"}
    await api.act(handler, cid, "claim")
    if stage == 4:
        if rng.random() < 0.5:
            later(1)
            await api.act(handler, cid, "escalate", reason="需要协调")
        return {"id": cid, "stage": "in_progress"}
    later(rng.choice([0.5, 2, 6, 30, 80]))
    await api.act(handler, cid, "resolve", result="已处理")
    out = {"id": cid, "stage": "resolved", "handler": handler}
    if stage == 5:
        return out
    later(1)
    await api.act(ADMIN, cid, "verify")
    out["stage"] = "closed"
    if stage >= 6:
        later(1)
        await api.act(RESIDENT, cid, "rate", rating=rng.randint(1, 5))
        out["stage"] = "rated"
    return out


async def change(api: Api, clock: Clock, case: dict[str, Any], rng: random.Random) -> None:
    """Later changes that move a case's facts: rework, reopen, a rating."""
    cid, stage = case["id"], case["stage"]
    clock.now += timedelta(hours=2)
    if stage == "resolved":
        await api.act(ADMIN, cid, "rework", reason="没修好")
        clock.now += timedelta(hours=rng.choice([1, 20]))
        await api.act(case["handler"], cid, "resolve", result="已返工")
        clock.now += timedelta(hours=1)
        await api.act(ADMIN, cid, "verify")
    elif stage == "rated":
        await api.act(ADMIN, cid, "reopen", reason="回访发现未解决")
    elif stage == "closed":
        await api.act(RESIDENT, cid, "rate", rating=rng.randint(1, 5))


async def summary_matches_the_facts(app: Any) -> None:
    """The running summary equals the one derived from the facts (empty rows aside)."""
    async with app.state.sessionmaker() as session, session.begin():
        kept = {}
        for table in (TALLY, TALLY_HOURS):
            rows = (await session.execute(sa.select(table).where(table.c.n > 0))).all()
            kept[table.name] = sorted(tuple(r) for r in rows)
            await session.execute(sa.delete(table))
        for statement in rollup.summary_from_facts_sql():
            await session.execute(sa.text(statement))
        for table in (TALLY, TALLY_HOURS):
            derived = sorted(tuple(r) for r in (await session.execute(sa.select(table))).all())
            assert kept[table.name] == derived, table.name
            assert derived, table.name
        await session.rollback()


async def figures_match(app: Any) -> int:
    """Every indicator, grouping, series and ranking of the summary path equals the facts';
    returns how many of the questions the summary answered."""
    settings = app.state.settings
    answered = 0
    async with app.state.sessionmaker() as session, session.begin():
        for who in (ADMIN, DISPATCHER_D, DISPATCHER_S1, DISPATCHER_C1, URBAN):
            p = principal(who)
            for date_from, date_to in PERIODS:
                for filters in FILTERS:
                    f = StatsFilter(date_from=date_from, date_to=date_to, **filters)
                    if f.area_path and not (
                        who is ADMIN or any(f.area_path.startswith(a) for a in who.areas)
                    ):
                        continue
                    for group in GroupBy:
                        if service.summary_dim(p, f, group.value) and service.whole_months(f):
                            answered += 1
                        both = [
                            await service.indicators(
                                session, p, f, group_by=group, settings=settings, source=source
                            )
                            for source in ("auto", "facts")
                        ]
                        assert both[0] == both[1], (who.sub, f, group)
                    for interval in Interval:
                        both = [
                            await service.series(
                                session, p, f, interval=interval, settings=settings, source=s
                            )
                            for s in ("auto", "facts")
                        ]
                        assert both[0] == both[1], (who.sub, f, interval)
                    for by in (GroupBy.area, GroupBy.department):
                        both_r = [
                            await service.ranking(
                                session,
                                p,
                                f,
                                by=by,
                                indicator=INDICATORS[5].name,
                                settings=settings,
                                source=s,
                            )
                            for s in ("auto", "facts")
                        ]
                        assert both_r[0] == both_r[1], (who.sub, f, by)
    return answered


def handling_from(values: list[float]) -> dict[str, Any]:
    """Average and p90 the way they were computed before SQL did it: the histogram summed in
    Python in value order, ``percentile_cont`` by walking it."""
    hist: dict[float, int] = {}
    for v in values:
        hist[v] = hist.get(v, 0) + 1
    total = len(values)
    if not total:
        return {"resolved": 0, "average": None, "p90": None}
    ordered = sorted(hist.items())
    average = sum(v * n for v, n in ordered) / total
    position = 0.9 * (total - 1)
    low, high = math.floor(position), math.ceil(position)
    ranked = sorted(values)
    p90 = ranked[low] + (position - low) * (ranked[high] - ranked[low])
    return {"resolved": total, "average": round(average, 2), "p90": round(p90, 2)}


async def handling_matches_python(app: Any) -> None:
    """The handling time computed in SQL (from the summary and the edge days) is the one
    Python computes from the facts' values, bit for bit before rounding."""
    c = fact_columns()
    async with app.state.sessionmaker() as session, session.begin():
        for date_from, date_to in PERIODS:
            f = StatsFilter(date_from=date_from, date_to=date_to)
            rows = (
                await session.execute(
                    sa.select(c.category_code, c.received_week, c.handling_hours).where(
                        c.received_on >= date_from,
                        c.received_on <= date_to,
                        c.handling_hours.is_not(None),
                    )
                )
            ).all()
            for group, pick in ((GroupBy.none, None), (GroupBy.category, 0)):
                got = await service.indicators(
                    session, principal(ADMIN), f, group_by=group, settings=app.state.settings
                )
                for row in got:
                    values = [r.handling_hours for r in rows if pick is None or r[pick] == row.key]
                    assert row.handling_hours == handling_from(values), (f, group, row.key)
            weeks = await service.series(
                session, principal(ADMIN), f, interval=Interval.week, settings=app.state.settings
            )
            for row in weeks:
                values = [r.handling_hours for r in rows if r.received_week.isoformat() == row.key]
                assert row.handling_hours == handling_from(values), (f, row.key)


async def test_summary_and_facts_agree(api: Api, app: Any, clock: Clock) -> None:
    rng = random.Random(20261123)
    cases = [await random_case(api, clock, rng) for _ in range(45)]
    await rollup.refresh_now(app.state.sessionmaker, app.state.settings, limit=None)
    await summary_matches_the_facts(app)
    assert await figures_match(app) > 100
    await handling_matches_python(app)
    # series by week of the district are answered by the week cuboid
    october = StatsFilter(date_from=OCTOBER[0], date_to=OCTOBER[1])
    assert service.summary_dim(principal(DISPATCHER_D), october, "week") == "week"
    assert service.whole_weeks(october) == (date(2026, 10, 5), date(2026, 10, 19))
    assert service.summary_dim(principal(DISPATCHER_S1), october, "week") is None

    # the October figures are not empty: the summary really answers them
    async with app.state.sessionmaker() as session, session.begin():
        [row] = await service.indicators(
            session,
            principal(ADMIN),
            StatsFilter(date_from=OCTOBER[0], date_to=OCTOBER[1]),
            group_by=GroupBy.none,
            settings=app.state.settings,
        )
    assert row.indicators["received"].numerator > 10
    assert row.indicators["resolved"].numerator > 0
    assert row.handling_hours["p90"] is not None

    for case in cases:
        await change(api, clock, case, rng)
    await rollup.refresh_now(app.state.sessionmaker, app.state.settings, limit=None)
    await summary_matches_the_facts(app)
    await figures_match(app)
    await handling_matches_python(app)


async def test_concurrent_rollups_count_each_case_once(api: Api, app: Any, clock: Clock) -> None:
    rng = random.Random(7)
    cases = [await random_case(api, clock, rng) for _ in range(30)]
    await rollup.refresh_now(app.state.sessionmaker, app.state.settings, limit=None)
    for case in cases[::2]:
        await change(api, clock, case, rng)
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(
            sa.text('INSERT INTO stats_dirty SELECT id FROM "case" ON CONFLICT DO NOTHING')
        )

    async def one_rollup() -> int:
        # no advisory lock here: the rollups claim markers side by side (SKIP LOCKED) and
        # change the same summary rows
        done = 0
        while True:
            async with app.state.sessionmaker() as session, session.begin():
                n = await rollup.refresh(session, app.state.settings, limit=3)
            done += n
            if not n:
                return done

    # the app's background rollup would claim markers too (it counts in none of these four):
    # holding the rollups' advisory lock makes it skip its rounds meanwhile
    async with app.state.sessionmaker() as holder, holder.begin():
        await holder.execute(sa.select(sa.func.pg_advisory_xact_lock(rollup.LOCK_KEY)))
        done = await asyncio.gather(*(one_rollup() for _ in range(4)))
    assert sum(done) == len(cases)
    await summary_matches_the_facts(app)
    await figures_match(app)


async def test_rebuild_repairs_a_summary_left_off_by_an_old_rollup(
    api: Api, app: Any, clock: Clock
) -> None:
    rng = random.Random(7)
    for _ in range(12):
        await random_case(api, clock, rng)
    await rollup.refresh_now(app.state.sessionmaker, app.state.settings, limit=None)
    # an old version's rollup rewrote facts without keeping the summary: here, half of it lost
    async with app.state.sessionmaker() as session, session.begin():
        await session.execute(sa.text("DELETE FROM case_tally WHERE dim = 'category'"))
        await session.execute(sa.text("UPDATE case_tally_hours SET n = n + 3"))
    with pytest.raises(AssertionError):
        await summary_matches_the_facts(app)
    await rollup.rebuild_summary(app.state.sessionmaker)
    await summary_matches_the_facts(app)
    assert await figures_match(app) > 0
