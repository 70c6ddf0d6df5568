"""Statistics benchmark of case_service: indicator endpoints' latency at 1,000,000 cases in
one district.

1. A fresh scratch database on the PostgreSQL the tests use (127.0.0.1:5432 or
   TEST_DATABASE_URL), migrated to head.
2. ``--cases`` cases (default 1,000,000) in ONE district — 20 streets × 10 communities × 5
   grids (1,000 grids), 31 categories, 15 departments, a year of report times — written by
   ``INSERT … SELECT generate_series`` on the server, with the statistics triggers disabled
   for the load. Their fact rows (``case_fact``, the running aggregate the indicators read)
   are then derived in SQL from each case's status, with the on-time / overdue / rating flags
   drawn at realistic rates. ANALYZE.
3. The rollup's own cost: ``--dirty`` cases (default 5,000) marked changed and recomputed by
   ``stats.rollup.refresh`` (the Python path every real change takes): cases per second.
4. The endpoints themselves, over ASGI in-process (auth, validation, JSON or streamed file),
   ``--runs`` times each with random periods and areas: p50 / p95 / max in milliseconds.
   The scratch database is dropped unless ``--keep``.

    uv run python bench/stats_bench.py [--cases 1000000] [--runs 20] [--keep]
    uv run python bench/stats_bench.py --url <kept database>   (migrates, derives, times)
    uv run python bench/stats_bench.py --url <kept database> --only "series"   (a subset)

The facts are also summed into the summary (``case_tally`` / ``case_tally_hours``: by month,
260 / ~62k rows by street, 403 / ~153k by category, 208 / ~74k by department; by week, 53 /
~21k for the district); whole months (whole weeks for series by week) come from it, the edge
days of a period from the facts, all in ONE statement per question that returns one row per
group: the per-flag counts, and from the handling-time histogram the resolved count, the sum
of value × cases (added in value order) and the two values the p90 interpolates between
(``stats.service.tally_statement``). The facts are read in one pass (two grouping sets); below
the street level and for the negative list from covering / partial indexes (index-only).

Last run (2026-11-23 22:44, --url on a seeded 1,000,000, 20 runs; 2 shared cores, load average
4.3 → 4.6 during the run), p50 / p95 ms; "was" = the same database and machine just before
(summary by month, histogram shipped to Python, two passes over the facts; load 5.2 → 7.1):

    indicators: district, 30 days               67 /   82   (was 146 /  209)
    indicators: district, whole year            90 /  102   (was 223 /  387)
    indicators: district dispatcher, year       93 /  214   (was 199 /  330)
    indicators: one street, year                43 /   58   (was  90 /  104)
    indicators: by street, year                146 /  246   (was 315 /  469)
    indicators: by department, year            140 /  154   (was 284 /  422)
    indicators: by category, 30 days           158 /  188   (was 189 /  294)  facts
    indicators: by category, year              234 /  249   (was 458 /  480)
    indicators: by community of a street, yr    69 /   85   (was 270 /  313)  facts, index-only
    indicators: one category, year              65 /   70   (was  63 /   87)
    series: by month, year                     102 /  122   (was 105 /  235)
    series: by day, 30 days                    129 /  182   (was 156 /  296)  facts
    series: by week, 13 weeks                   47 /   62   (was 219 /  368)  week summary
    series: by week, year                       81 /  123   (was 876 /  979)  week summary
    ranking: streets, year                     133 /  188   (was 391 /  590)
    ranking: departments, year                 161 /  223   (was 251 /  543)
    negative list: a street's year              58 /   73   (was 121 /  178)  index-only
    heat map: one community, year               10 /   18   (was   7 /    8)
    export csv: by street, year                136 /  205   (was 356 /  749)
    export xlsx: by street, year               205 /  265   (was 682 / 1178)

A year of a district is 11 whole months from the summary and ~30 edge days (~80k facts) from
the facts; those days are most of what a year's figures still cost. Index-only scans need the
visibility map: the bench vacuums ``case_fact`` after loading (autovacuum does in service).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from asgi_lifespan import LifespanManager

from case_service.config import ALEMBIC_INI, Settings
from case_service.main import create_app
from case_service.sla.calendar import SHANGHAI
from case_service.stats import rollup
from case_service.stats.models import FLAG_BITS
from shared.db import make_engine, make_sessionmaker
from shared.migrate import upgrade_head
from shared.testing import TestKeys, create_database, drop_database, install_test_keys

DISTRICT = "330100.330106"
STREETS, COMMUNITIES, GRIDS = 20, 10, 5
CATEGORIES = [f"{major:02d}{minor:02d}" for major in range(1, 11) for minor in range(1, 4)] + [
    "1201"
]
DEPARTMENTS = 15
TRIGGERS = (("case", "stats_dirty_case"), ("case_deadline", "stats_dirty_case_deadline"))

SEED_CASES = """
INSERT INTO "case" (
    id, case_number, version, status, category_id, category_code, category_name, kind,
    routing, handling_class, priority, major, title, description, attributes, channel, lat, lng,
    area_code, area_path, area_chain, handling_area_path, handling_level, reporter_account_id,
    anonymous, reported_by_account_id, on_behalf, assignee_account_ids, department_ids,
    self_handled, supporter_count, created_at, updated_at, resolved_at, closed_at,
    location_status
)
SELECT
    gen_random_uuid(),
    'B' || lpad(i::text, 10, '0'),
    1,
    s.status,
    $2::uuid,
    (ARRAY[{categories}])[1 + (i::bigint * 7919) % {n_categories}],
    '类别',
    'report', 'locality', 'promised', 'normal', false, '井盖缺失', '学院路口井盖缺失', '{{}}',
    (ARRAY['mini_program','hotline','patrol','app'])[1 + i % 4],
    30.2, 120.1,
    g.code,
    g.path,
    '[]',
    g.community,
    'community',
    'resident-' || (i % 200000),
    false,
    'resident-' || (i % 200000),
    false,
    CASE WHEN s.handled THEN ARRAY['worker-' || g.code] ELSE '{{}}'::varchar[] END,
    CASE WHEN s.handled AND i % 3 = 0
         THEN ARRAY['dept-' || lpad(((i / 3) % {departments})::text, 2, '0')]
         ELSE '{{}}'::varchar[] END,
    i % 20 = 0,
    0,
    t.created,
    t.created,
    CASE WHEN s.status IN ('resolved', 'closed') THEN t.created + interval '20 hours' END,
    CASE WHEN s.status = 'closed' THEN t.created + interval '30 hours' END,
    'located'
FROM generate_series(1, $1::int) AS i
CROSS JOIN LATERAL (
    SELECT now() - interval '365 days' + (i::float / $1) * interval '365 days' AS created
) t
CROSS JOIN LATERAL (
    SELECT
        (ARRAY['closed','closed','closed','closed','closed','closed','resolved','in_progress',
               'dispatched','reported','accepted','returned','escalated','rejected',
               'closed','closed','closed','closed','closed','reopened'])[1 + (i * 31) % 20]
            AS status,
        (i * 31) % 20 NOT IN (9, 10, 13) AS handled
) s
CROSS JOIN LATERAL (
    SELECT
        '{district}.' || st || '.' || st || co || '.' || st || co || gr AS path,
        '{district}.' || st || '.' || st || co AS community,
        st || co || gr AS code
    FROM (
        SELECT
            '330106' || lpad((1 + (i % {streets}))::text, 3, '0') AS st,
            lpad((1 + ((i / {streets}) % {communities}))::text, 3, '0') AS co,
            lpad((1 + ((i / {streets} / {communities}) % {grids}))::text, 3, '0') AS gr
    ) parts
) g
"""

#: Each fact's SQL condition, drawn at realistic rates from the case's status.
FACT_CONDITIONS = {
    "accepted": "r.accepted = 1",
    "accepted_on_time": "r.accepted = 1 AND random() < 0.95",
    "dispatched": "c.status NOT IN ('reported', 'accepted', 'rejected')",
    "resolved": "r.resolved = 1",
    "resolved_on_time": "r.resolved = 1 AND random() < 0.92",
    "resolved_ahead": "r.resolved = 1 AND random() < 0.4",
    "overdue_open": "r.resolved = 0 AND random() < 0.1",
    "overdue_closed": "r.resolved = 1 AND random() < 0.08",
    "self_handled": "c.self_handled",
    "on_spot": "c.self_handled",
    "escalated": "c.status = 'escalated' OR random() < 0.02",
    "returned": "c.status = 'returned' OR random() < 0.03",
    "rework": "r.resolved = 1 AND random() < 0.05",
    "reopened": "c.status = 'reopened'",
    "closed": "r.closed = 1",
    "rated": "r.rated = 1",
    "satisfied": "r.rated = 1 AND r.draw < 0.93",
    "dissatisfied": "r.rated = 1 AND r.draw >= 0.93",
}
FLAGS_SQL = " + ".join(
    f"(CASE WHEN {FACT_CONDITIONS[name]} THEN {bit} ELSE 0 END)" for name, bit in FLAG_BITS.items()
)

SEED_FACTS = f"""
INSERT INTO case_fact (case_id, received_on, received_week, received_month, received_at,
    area_path, category_code, department_id, department_ids, handler_id, status, handling_hours,
    flags)
SELECT
    c.id,
    (c.created_at AT TIME ZONE 'Asia/Shanghai')::date,
    date_trunc('week', c.created_at AT TIME ZONE 'Asia/Shanghai')::date,
    date_trunc('month', c.created_at AT TIME ZONE 'Asia/Shanghai')::date,
    c.created_at,
    c.area_path,
    c.category_code,
    c.department_ids[1],
    c.department_ids,
    coalesce(c.department_ids[1], c.assignee_account_ids[1]),
    c.status,
    CASE WHEN r.resolved = 1 THEN round((random() * 40)::numeric, 1)::float END,
    {FLAGS_SQL}
FROM "case" c
CROSS JOIN LATERAL (
    SELECT
        CASE WHEN c.status IN ('reported', 'rejected') THEN 0 ELSE 1 END AS accepted,
        CASE WHEN c.status IN ('resolved', 'closed') THEN 1 ELSE 0 END AS resolved,
        CASE WHEN c.status = 'closed' THEN 1 ELSE 0 END AS closed,
        CASE WHEN c.status = 'closed' AND random() < 0.7 THEN 1 ELSE 0 END AS rated,
        random() AS draw
) r
"""


def streets() -> list[str]:
    return [f"{DISTRICT}.330106{s:03d}" for s in range(1, STREETS + 1)]


def communities() -> list[str]:
    return [
        f"{st}.{st.rsplit('.', 1)[1]}{c:03d}" for st in streets() for c in range(1, COMMUNITIES + 1)
    ]


async def seed(url: str, n: int) -> None:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        category_id = await conn.fetchval(
            "INSERT INTO category (id, code, version, is_current, parent_code, name, kind,"
            " routing, default_priority, handling_class, duplicate_radius_m,"
            " duplicate_window_hours, attributes, public_disclosure, active, created_at)"
            " VALUES (gen_random_uuid(), '0802', 1, true, '08', '井盖', 'report', 'locality',"
            " 'normal', 'promised', 50, 72, '[]', 'none', true, now()) RETURNING id"
        )
        for table, trigger in TRIGGERS:
            await conn.execute(f'ALTER TABLE "{table}" DISABLE TRIGGER {trigger}')
        sql = SEED_CASES.format(
            categories=",".join(f"'{c}'" for c in CATEGORIES),
            n_categories=len(CATEGORIES),
            departments=DEPARTMENTS,
            district=DISTRICT,
            streets=STREETS,
            communities=COMMUNITIES,
            grids=GRIDS,
        )
        chunk = 200_000
        started = time.perf_counter()
        for first in range(0, n, chunk):
            count = min(chunk, n - first)
            await conn.execute(
                sql.replace(
                    "generate_series(1, $1::int)", f"generate_series({first + 1}, {first + count})"
                ),
                n,
                category_id,
            )
            print(
                f"  cases {first + count:>9,}  ({time.perf_counter() - started:6.1f} s)", flush=True
            )
        for table, trigger in TRIGGERS:
            await conn.execute(f'ALTER TABLE "{table}" ENABLE TRIGGER {trigger}')
        t = time.perf_counter()
        await conn.execute(SEED_FACTS)
        print(f"  facts derived in {time.perf_counter() - t:.1f} s", flush=True)
        await derive_summary(conn)
        t = time.perf_counter()
        await conn.execute('VACUUM ANALYZE "case"')
        await conn.execute("VACUUM ANALYZE case_fact")
        await conn.execute("VACUUM ANALYZE case_tally")
        await conn.execute("VACUUM ANALYZE case_tally_hours")
        print(f"  vacuum analyze {time.perf_counter() - t:.1f} s", flush=True)
    finally:
        await conn.close()


async def derive_summary(conn: asyncpg.Connection) -> None:
    """The monthly summary (``case_tally``, ``case_tally_hours``) derived from the facts in
    SQL, as the migration does; the rollup keeps it from then on."""
    t = time.perf_counter()
    await conn.execute("DELETE FROM case_tally; DELETE FROM case_tally_hours")
    for statement in rollup.summary_from_facts_sql():
        await conn.execute(statement)
    sizes = [await conn.fetchval(f"SELECT count(*) FROM {t}") for t in TALLIES]
    print(
        f"  summary derived in {time.perf_counter() - t:.1f} s: "
        f"{sizes[0]:,} tally rows, {sizes[1]:,} handling-time rows",
        flush=True,
    )


TALLIES = ("case_tally", "case_tally_hours")


async def bench_rollup(url: str, dirty: int) -> None:
    """Mark ``dirty`` cases changed and time the rollup that recomputes their facts."""
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    await conn.execute(
        'INSERT INTO stats_dirty SELECT id FROM "case" TABLESAMPLE SYSTEM (1) LIMIT $1', dirty
    )
    marked = await conn.fetchval("SELECT count(*) FROM stats_dirty")
    await conn.close()
    engine = make_engine(url, pool_size=2)
    maker = make_sessionmaker(engine)
    settings = Settings(database_url=url, environment="test")
    t = time.perf_counter()
    async with maker() as session, session.begin():
        done = await rollup.refresh(session, settings)
    elapsed = time.perf_counter() - t
    await engine.dispose()
    print(
        f"rollup: {done:,} of {marked:,} marked cases recomputed in {elapsed:.2f} s "
        f"({done / elapsed:,.0f} cases/s, {1000 * elapsed / max(done, 1):.2f} ms per case)",
        flush=True,
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run(url: str, runs: int, rng: random.Random, only: str | None = None) -> None:
    settings = Settings(
        database_url=url,
        environment="test",
        relay_enabled=False,
        timer_enabled=False,
        webhook_enabled=False,
        log_level="WARNING",
        storage_dir=Path(tempfile.mkdtemp(prefix="stats-bench-")),
    )
    app = create_app(settings)
    keys = TestKeys()
    today = datetime.now(SHANGHAI).date()
    year_ago = today - timedelta(days=364)

    def token(roles: list[str], areas: list[str] | None = None) -> dict[str, str]:
        t = keys.mint(sub="bench", roles=roles, areas=areas or [], depts=[])
        return {"Authorization": f"Bearer {t}"}

    admin = token(["admin"])
    district_disp = token(["dispatcher"], [DISTRICT])

    def month() -> dict[str, str]:
        start = year_ago + timedelta(days=rng.randrange(330))
        return {"from": start.isoformat(), "to": (start + timedelta(days=30)).isoformat()}

    def quarter() -> dict[str, str]:
        start = year_ago + timedelta(days=rng.randrange(270))
        return {"from": start.isoformat(), "to": (start + timedelta(days=90)).isoformat()}

    def year() -> dict[str, str]:
        return {"from": year_ago.isoformat(), "to": today.isoformat()}

    def grid_geojson(request: httpx.Request) -> httpx.Response:
        under = request.url.params["under"]
        feats = [
            {
                "type": "Feature",
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [[[120, 30], [120.1, 30], [120, 30.1], [120, 30]]],
                },
                "properties": {"path": f"{under}.{under.rsplit('.', 1)[1]}{g:03d}"},
            }
            for g in range(1, GRIDS + 1)
        ]
        return httpx.Response(200, json={"type": "FeatureCollection", "features": feats})

    cases: list[tuple[str, Callable[[], tuple[str, dict[str, Any], dict[str, str]]]]] = [
        (
            "indicators: district, 30 days",
            lambda: ("indicators", {**month(), "area_path": DISTRICT}, admin),
        ),
        (
            "indicators: district, whole year (1M cases)",
            lambda: ("indicators", {**year(), "area_path": DISTRICT}, admin),
        ),
        (
            "indicators: district dispatcher (scope), year",
            lambda: ("indicators", year(), district_disp),
        ),
        (
            "indicators: one street, year",
            lambda: ("indicators", {**year(), "area_path": rng.choice(streets())}, admin),
        ),
        (
            "indicators: by street, year",
            lambda: ("indicators", {**year(), "area_path": DISTRICT, "group_by": "area"}, admin),
        ),
        (
            "indicators: by department, year",
            lambda: ("indicators", {**year(), "group_by": "department"}, admin),
        ),
        (
            "indicators: by category, 30 days",
            lambda: ("indicators", {**month(), "group_by": "category"}, admin),
        ),
        (
            "indicators: by category, year",
            lambda: ("indicators", {**year(), "group_by": "category"}, admin),
        ),
        (
            "indicators: by community of a street, year",
            lambda: (
                "indicators",
                {**year(), "area_path": rng.choice(streets()), "group_by": "area"},
                admin,
            ),
        ),
        (
            "indicators: one category, year",
            lambda: ("indicators", {**year(), "category_code": rng.choice(CATEGORIES)}, admin),
        ),
        ("series: by month, year", lambda: ("series", {**year(), "interval": "month"}, admin)),
        ("series: by day, 30 days", lambda: ("series", {**month(), "interval": "day"}, admin)),
        ("series: by week, 13 weeks", lambda: ("series", {**quarter(), "interval": "week"}, admin)),
        ("series: by week, year", lambda: ("series", {**year(), "interval": "week"}, admin)),
        ("ranking: streets, year", lambda: ("ranking", {**year(), "area_path": DISTRICT}, admin)),
        (
            "ranking: departments, year",
            lambda: (
                "ranking",
                {**year(), "by": "department", "indicator": "satisfaction_rate"},
                admin,
            ),
        ),
        (
            "negative list: year",
            lambda: (
                "negative-list",
                {"year": today.year, "area_path": rng.choice(streets())},
                admin,
            ),
        ),
        (
            "heat map: one community, year",
            lambda: ("heatmap", {**year(), "area_path": rng.choice(communities())}, admin),
        ),
        (
            "export csv: by street, year",
            lambda: (
                "indicators",
                {**year(), "area_path": DISTRICT, "group_by": "area", "format": "csv"},
                admin,
            ),
        ),
        (
            "export xlsx: by street, year",
            lambda: (
                "indicators",
                {**year(), "area_path": DISTRICT, "group_by": "area", "format": "xlsx"},
                admin,
            ),
        ),
        (
            "export csv: cases of a community, 30 days",
            lambda: ("cases/export", {**month(), "area_path": rng.choice(communities())}, admin),
        ),
    ]
    from case_service.clients.grid import GridClient
    from shared.http import ServiceClient

    async with LifespanManager(app, startup_timeout=60):
        install_test_keys(app, keys)
        app.state.grid_client = GridClient(
            ServiceClient(
                "http://grid.bench",
                name="grid_service",
                retries=0,
                transport=httpx.MockTransport(grid_geojson),
            )
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", timeout=120
        ) as client:
            print(f"\n{'endpoint':48} {'p50':>8} {'p95':>8} {'max':>8}  (ms, {runs} runs)")
            for name, make in cases:
                if only is not None and only not in name:
                    continue
                timings: list[float] = []
                for i in range(runs + 1):
                    path, params, headers = make()
                    t = time.perf_counter()
                    r = await client.get(f"/api/v1/stats/{path}", params=params, headers=headers)
                    elapsed = (time.perf_counter() - t) * 1000
                    assert r.status_code == 200, (name, r.status_code, r.text[:300])
                    if i:  # the first run warms the caches
                        timings.append(elapsed)
                print(
                    f"{name:48} {statistics.median(timings):8.1f} {percentile(timings, 0.95):8.1f} "
                    f"{max(timings):8.1f}",
                    flush=True,
                )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--dirty", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--url", help="reuse an already seeded database (skips seeding)")
    parser.add_argument("--only", help="time only the endpoints whose name contains this")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    if args.url:
        await asyncio.to_thread(upgrade_head, ALEMBIC_INI, args.url)
        conn = await asyncpg.connect(args.url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            if not await conn.fetchval("SELECT count(*) FROM case_tally"):
                await derive_summary(conn)  # (migrating to stat02 derives it too)
            for table in (*TALLIES, "case_fact"):  # (the visibility map: index-only scans)
                await conn.execute(f"VACUUM ANALYZE {table}")
        finally:
            await conn.close()
        await run(args.url, args.runs, rng, args.only)
        return
    url = await create_database("bench_stats")
    print(f"scratch database {url.rsplit('/', 1)[-1]}; migrating", flush=True)
    try:
        await asyncio.to_thread(upgrade_head, ALEMBIC_INI, url)
        print(f"seeding {args.cases:,} cases in one district", flush=True)
        t = time.perf_counter()
        await seed(url, args.cases)
        print(f"seeded in {time.perf_counter() - t:.0f} s", flush=True)
        await bench_rollup(url, args.dirty)
        await run(url, args.runs, rng, args.only)
    finally:
        if args.keep:
            print(f"kept: {url}")
        else:
            await drop_database(url)


if __name__ == "__main__":
    asyncio.run(main())
