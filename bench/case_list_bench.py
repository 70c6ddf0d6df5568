"""Case-list benchmark of case_service: list-query latency at 1,000,000 cases.

1. A fresh scratch database on the PostgreSQL the tests use (127.0.0.1:5432 or
   TEST_DATABASE_URL), migrated to head.
2. ``--cases`` cases (default 1,000,000) written with COPY (asyncpg binary copy, in chunks):
   a tree of 10 districts × 10 streets × 10 communities × 5 grids (5,000 grids), 31 categories,
   a realistic status mix (most cases closed), a year of creation times, Chinese descriptions
   drawn from a phrase pool, grid workers and departments as handlers. Then ANALYZE.
3. The list queries the API runs — built by the same code (``cases.repository.list_statement``
   + ``cases.access.scope_clause`` + ``shared.pagination.paginate``) — for each role's scope and
   each common filter, ``--runs`` times with random parameters: p50 / p95 / max in
   milliseconds, and the indexes the plan uses (EXPLAIN). The scratch database is dropped
   unless ``--keep``.

    uv run python bench/case_list_bench.py [--cases 1000000] [--runs 40] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from case_service.cases import access, repository
from case_service.cases.models import Case
from case_service.cases.repository import CaseFilters
from case_service.config import ALEMBIC_INI
from shared.auth import Principal
from shared.db import make_engine, make_sessionmaker
from shared.migrate import upgrade_head
from shared.pagination import PageParams, paginate
from shared.testing import create_database, drop_database

DISTRICTS, STREETS, COMMUNITIES, GRIDS = 10, 10, 10, 5
STATUSES = [
    ("closed", 60),
    ("in_progress", 10),
    ("dispatched", 8),
    ("resolved", 6),
    ("reported", 5),
    ("accepted", 4),
    ("returned", 1),
    ("escalated", 1),
    ("suspended", 1),
    ("rejected", 2),
    ("voided", 1),
    ("merged", 1),
]
CHANNELS = (
    ["mini_program"] * 40
    + ["app"] * 10
    + ["hotline"] * 25
    + ["patrol"] * 20
    + ["video", "web", "platform", "web", "video"]
)
PRIORITIES = ["normal"] * 80 + ["high"] * 15 + ["urgent"] * 3 + ["low"] * 2
DEPARTMENTS = [f"dept-{i:02d}" for i in range(15)]
PLACES = [
    "小区门口",
    "学院路口",
    "菜市场旁",
    "公交站台",
    "老旧楼道",
    "河道边",
    "学校附近",
    "地铁口",
    "商业街",
    "停车场",
    "公园里",
    "桥下",
]
PROBLEMS = [
    "井盖缺失",
    "路灯不亮",
    "流动摊点占道",
    "夜间施工扰民",
    "垃圾暴露",
    "电动车楼道充电",
    "邻里噪音纠纷",
    "拖欠工资",
    "路面坑槽",
    "乱停车",
    "油烟扰民",
    "墙面乱张贴",
    "树枝断裂",
    "消防通道堵塞",
    "积水严重",
]
TAILS = ["，请尽快处理", "，已经好几天了", "，存在安全隐患", "，影响出行", "，群众反映强烈", ""]
CATEGORY_CODES = [f"{major:02d}{minor:02d}" for major in range(1, 11) for minor in range(1, 4)] + [
    "1201"
]

COLUMNS = [
    "id",
    "case_number",
    "version",
    "status",
    "category_id",
    "category_code",
    "category_name",
    "kind",
    "routing",
    "handling_class",
    "priority",
    "major",
    "title",
    "description",
    "attributes",
    "channel",
    "lat",
    "lng",
    "area_code",
    "area_path",
    "area_chain",
    "handling_area_path",
    "handling_level",
    "reporter_account_id",
    "anonymous",
    "reported_by_account_id",
    "on_behalf",
    "assignee_account_ids",
    "department_ids",
    "self_handled",
    "supporter_count",
    "due_at",
    "created_at",
    "updated_at",
]


def tree() -> tuple[list[str], list[str], list[str], list[str]]:
    districts, streets, communities, grids = [], [], [], []
    for d in range(1, DISTRICTS + 1):
        dp = f"330100.3301{d:02d}"
        districts.append(dp)
        for s in range(1, STREETS + 1):
            sp = f"{dp}.3301{d:02d}{s:03d}"
            streets.append(sp)
            for c in range(1, COMMUNITIES + 1):
                cp = f"{sp}.3301{d:02d}{s:03d}{c:03d}"
                communities.append(cp)
                for g in range(1, GRIDS + 1):
                    grids.append(f"{cp}.3301{d:02d}{s:03d}{c:03d}{g:03d}")
    return districts, streets, communities, grids


def weighted(pairs: list[tuple[str, int]]) -> list[str]:
    return [value for value, weight in pairs for _ in range(weight)]


async def seed(url: str, n: int, rng: random.Random) -> dict[str, Any]:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda v: b"\x01" + json.dumps(v).encode(),
        decoder=lambda b: json.loads(b[1:]),
        schema="pg_catalog",
        format="binary",
    )
    category_ids: dict[str, uuid.UUID] = {}
    for code in CATEGORY_CODES:
        category_ids[code] = uuid.uuid4()
        await conn.execute(
            "INSERT INTO category (id, code, version, is_current, parent_code, name, kind, routing,"
            " default_priority, handling_class, duplicate_radius_m, duplicate_window_hours,"
            " attributes, active, created_at) VALUES ($1, $2, 1, true, $3, $4, 'report',"
            " 'locality', 'normal', 'promised', 50, 72, '[]', true, now())",
            category_ids[code],
            code,
            code[:2],
            f"类别{code}",
        )
    _, _, _, grids = tree()
    statuses = weighted(STATUSES)
    now = datetime.now(UTC)
    start = now - timedelta(days=365)
    residents = [f"resident-{i}" for i in range(200_000)]
    chunk = 50_000
    written = 0
    started = time.perf_counter()
    while written < n:
        rows = []
        for i in range(written, min(n, written + chunk)):
            grid = rng.choice(grids)
            parts = grid.split(".")
            community = ".".join(parts[:4])
            status = rng.choice(statuses)
            created = start + timedelta(seconds=365 * 86400 * i / n + rng.random())
            updated = min(now, created + timedelta(hours=rng.random() * 72))
            handled = status not in {"reported", "accepted", "rejected", "voided", "merged"}
            worker = f"worker-{parts[-1]}"
            depts = rng.sample(DEPARTMENTS, rng.choice([0, 1, 1, 2])) if handled else []
            code = rng.choice(CATEGORY_CODES)
            description = rng.choice(PLACES) + rng.choice(PROBLEMS) + rng.choice(TAILS)
            rows.append(
                (
                    uuid.uuid4(),
                    f"{created:%Y%m%d}{i:08d}",
                    rng.randint(1, 9),
                    status,
                    category_ids[code],
                    code,
                    f"类别{code}",
                    "report",
                    "locality",
                    "promised",
                    rng.choice(PRIORITIES),
                    rng.random() < 0.001,
                    description[:20],
                    description,
                    {},
                    rng.choice(CHANNELS),
                    30.2 + rng.random() * 0.1,
                    120.0 + rng.random() * 0.2,
                    parts[-1],
                    grid,
                    [],
                    community,
                    "community",
                    rng.choice(residents),
                    False,
                    rng.choice(residents),
                    False,
                    [worker] if handled and rng.random() < 0.7 else [],
                    depts,
                    False,
                    0,
                    created + timedelta(days=rng.choice([1, 3, 7, 15])),
                    created,
                    updated,
                )
            )
        await conn.copy_records_to_table("case", records=rows, columns=COLUMNS)
        written += len(rows)
        print(f"  copied {written:>9,} cases  ({time.perf_counter() - started:6.1f} s)", flush=True)
    t = time.perf_counter()
    await conn.execute('VACUUM ANALYZE "case"')
    print(f"  vacuum analyze {time.perf_counter() - t:.1f} s", flush=True)
    await conn.close()
    return {"grids": grids}


def plan_indexes(plan: str) -> str:
    names = sorted(
        set(
            re.findall(
                r"(?:Index|Bitmap Index) (?:Only )?Scan (?:Backward )?(?:using|on) (\w+)", plan
            )
        )
    )
    seq = "Seq Scan" in plan
    return ", ".join(names) + (" + SEQ SCAN" if seq else "") if names or seq else "?"


async def run(url: str, runs: int, rng: random.Random, context: dict[str, Any]) -> None:
    engine = make_engine(url, pool_size=2)
    maker = make_sessionmaker(engine)
    districts, streets, communities, grids = tree()
    now = datetime.now(UTC)

    def p(**kw: Any) -> Principal:
        return Principal(subject=kw.pop("sub", "bench"), **kw)

    def gw() -> tuple[Principal, CaseFilters]:
        g = rng.choice(grids)
        return p(
            sub=f"worker-{g.split('.')[-1]}", roles=frozenset({"grid_worker"}), area_paths=(g,)
        ), CaseFilters()

    cases: list[tuple[str, Callable[[], tuple[Principal, CaseFilters]], bool]] = [
        ("admin, no filter", lambda: (p(roles=frozenset({"admin"})), CaseFilters()), False),
        ("admin, deep page (10th)", lambda: (p(roles=frozenset({"admin"})), CaseFilters()), True),
        (
            "resident: own cases",
            lambda: (
                p(sub=f"resident-{rng.randrange(200_000)}", roles=frozenset({"resident"})),
                CaseFilters(),
            ),
            False,
        ),
        ("grid worker: own grid + assigned", gw, False),
        (
            "community dispatcher: open cases",
            lambda: (
                p(roles=frozenset({"dispatcher"}), area_paths=(rng.choice(communities),)),
                CaseFilters(status=["reported", "accepted", "returned", "escalated"]),
            ),
            False,
        ),
        (
            "street dispatcher: subtree",
            lambda: (
                p(roles=frozenset({"dispatcher"}), area_paths=(rng.choice(streets),)),
                CaseFilters(),
            ),
            False,
        ),
        (
            "district supervisor: overdue",
            lambda: (
                p(roles=frozenset({"supervisor"}), area_paths=(rng.choice(districts),)),
                CaseFilters(overdue=True),
            ),
            False,
        ),
        (
            "department handler: assigned",
            lambda: (
                p(
                    roles=frozenset({"department_handler"}),
                    department_ids=(rng.choice(DEPARTMENTS),),
                ),
                CaseFilters(),
            ),
            False,
        ),
        (
            "status = in_progress",
            lambda: (p(roles=frozenset({"admin"})), CaseFilters(status=["in_progress"])),
            False,
        ),
        (
            "status = escalated (rare)",
            lambda: (p(roles=frozenset({"admin"})), CaseFilters(status=["escalated"])),
            False,
        ),
        (
            "category",
            lambda: (
                p(roles=frozenset({"admin"})),
                CaseFilters(category_code=rng.choice(CATEGORY_CODES)),
            ),
            False,
        ),
        (
            "area subtree (community)",
            lambda: (p(roles=frozenset({"admin"})), CaseFilters(area_path=rng.choice(communities))),
            False,
        ),
        (
            "assignee",
            lambda: (
                p(roles=frozenset({"admin"})),
                CaseFilters(assignee=f"worker-{rng.choice(grids).split('.')[-1]}"),
            ),
            False,
        ),
        (
            "department",
            lambda: (
                p(roles=frozenset({"admin"})),
                CaseFilters(department_id=rng.choice(DEPARTMENTS)),
            ),
            False,
        ),
        (
            "priority = urgent",
            lambda: (p(roles=frozenset({"admin"})), CaseFilters(priority="urgent")),
            False,
        ),
        (
            "channel = hotline",
            lambda: (p(roles=frozenset({"admin"})), CaseFilters(channel="hotline")),
            False,
        ),
        ("overdue", lambda: (p(roles=frozenset({"admin"})), CaseFilters(overdue=True)), False),
        (
            "created in the last 7 days",
            lambda: (
                p(roles=frozenset({"admin"})),
                CaseFilters(created_from=now - timedelta(days=7)),
            ),
            False,
        ),
        (
            "created in one old week",
            lambda: (
                p(roles=frozenset({"admin"})),
                CaseFilters(
                    created_from=now - timedelta(days=200), created_to=now - timedelta(days=193)
                ),
            ),
            False,
        ),
        (
            "q: Chinese substring (common)",
            lambda: (p(roles=frozenset({"admin"})), CaseFilters(q=rng.choice(PROBLEMS))),
            False,
        ),
        (
            "q: Chinese substring (rare)",
            lambda: (p(roles=frozenset({"admin"})), CaseFilters(q="桥下消防通道堵塞，已经")),
            False,
        ),
        (
            "q + street scope",
            lambda: (
                p(roles=frozenset({"dispatcher"}), area_paths=(rng.choice(streets),)),
                CaseFilters(q=rng.choice(PROBLEMS)),
            ),
            False,
        ),
        (
            "updated_since feed (last hour)",
            lambda: (
                p(roles=frozenset({"platform"}), client_id="bench"),
                CaseFilters(updated_from=now - timedelta(hours=1)),
            ),
            False,
        ),
    ]
    print(f"\n{'query':40} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  rows  indexes (EXPLAIN)")
    table = Case.__table__  # type: ignore[attr-defined]
    for name, make, deep in cases:
        timings: list[float] = []
        rows = 0
        plan = ""
        feed = name.startswith("updated_since")
        order = [table.c.updated_at, table.c.id] if feed else [table.c.created_at, table.c.id]
        for i in range(runs):
            principal, filters = make()
            stmt = repository.list_statement(filters, scope=access.scope_clause(principal), now=now)
            async with maker() as session:
                cursor = None
                if deep:
                    for _ in range(9):
                        page = await paginate(
                            session,
                            stmt,
                            order_by=order,
                            params=PageParams(cursor=cursor, limit=20),
                            descending=not feed,
                            to_item=lambda r: r,
                        )
                        cursor = page.next_cursor
                t = time.perf_counter()
                page = await paginate(
                    session,
                    stmt,
                    order_by=order,
                    params=PageParams(cursor=cursor, limit=20),
                    descending=not feed,
                    to_item=lambda r: r,
                )
                timings.append((time.perf_counter() - t) * 1000)
                rows = len(page.items)
                if i == 0:
                    ordered = stmt.order_by(*[c.asc() if feed else c.desc() for c in order]).limit(
                        21
                    )
                    sql = str(
                        ordered.compile(
                            dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
                        )
                    )
                    sql = re.sub(r"(ARRAY\[[^\]]*\])", r"\1::varchar[]", sql)
                    plan = "\n".join(
                        (await session.execute(sa.text("EXPLAIN " + sql))).scalars().all()
                    )
        timings.sort()
        p95 = timings[max(0, round(0.95 * len(timings)) - 1)]
        print(
            f"{name:40} {statistics.median(timings):8.1f} {p95:8.1f} {timings[-1]:8.1f}"
            f"  {rows:>4}  {plan_indexes(plan)}",
            flush=True,
        )
    await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--url", help="reuse an already seeded database (skips seeding)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    if args.url:
        await run(args.url, args.runs, rng, {})
        return
    url = await create_database("bench_case")
    print(f"scratch database {url.rsplit('/', 1)[-1]}; migrating", flush=True)
    try:
        await asyncio.to_thread(upgrade_head, ALEMBIC_INI, url)
        print(f"seeding {args.cases:,} cases with COPY", flush=True)
        t = time.perf_counter()
        context = await seed(url, args.cases, rng)
        print(f"seeded in {time.perf_counter() - t:.0f} s", flush=True)
        await run(url, args.runs, rng, context)
    finally:
        if args.keep:
            print(f"kept: {url}")
        else:
            await drop_database(url)


if __name__ == "__main__":
    asyncio.run(main())
