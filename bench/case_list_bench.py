"""Case-list benchmark of case_service: list-query latency at 1,000,000 cases.

1. A fresh scratch database on the PostgreSQL the tests use (127.0.0.1:5432 or
   TEST_DATABASE_URL), migrated to head.
2. ``--cases`` cases (default 1,000,000) of the generated city (``bench/city.py``: 16
   districts, 30,000 grids, the real category catalogue, 60,000 new cases a day, statuses by
   age, the grid's worker and the owning departments as handlers) written with COPY. ANALYZE.
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
import random
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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

if str(Path(__file__).resolve().parents[1]) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.city import PROBLEMS, City, Shape, generate, load_cases, resident_id


@dataclass
class Context:
    """What the queries draw their parameters from: the city's areas, staff and catalogue."""

    districts: list[str]
    streets: list[str]
    communities: list[str]
    grids: list[str]
    grid_worker: dict[str, str]
    departments: list[str]
    categories: list[str]
    residents: int = 500_000

    @classmethod
    def of(cls, city: City, categories: list[str]) -> Context:
        return cls(
            city.paths("district"),
            city.paths("street"),
            city.paths("community"),
            city.paths("grid"),
            city.grid_worker,
            city.department_codes(),
            categories,
        )


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


async def run(
    url: str, runs: int, rng: random.Random, ctx: Context, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Each query's p50 / p95 / max in ms (printed as a table and returned)."""
    engine = make_engine(url, pool_size=2)
    maker = make_sessionmaker(engine)
    districts, streets, communities, grids = ctx.districts, ctx.streets, ctx.communities, ctx.grids
    now = now or datetime.now(UTC)
    results: list[dict[str, Any]] = []

    def p(**kw: Any) -> Principal:
        return Principal(subject=kw.pop("sub", "bench"), **kw)

    def gw() -> tuple[Principal, CaseFilters]:
        g = rng.choice(grids)
        return p(
            sub=ctx.grid_worker[g], roles=frozenset({"grid_worker"}), area_paths=(g,)
        ), CaseFilters()

    cases: list[tuple[str, Callable[[], tuple[Principal, CaseFilters]], bool]] = [
        ("admin, no filter", lambda: (p(roles=frozenset({"admin"})), CaseFilters()), False),
        ("admin, deep page (10th)", lambda: (p(roles=frozenset({"admin"})), CaseFilters()), True),
        (
            "resident: own cases",
            lambda: (
                p(sub=resident_id(rng.randrange(ctx.residents)), roles=frozenset({"resident"})),
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
                    department_ids=(rng.choice(ctx.departments),),
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
                CaseFilters(category_code=rng.choice(ctx.categories)),
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
                CaseFilters(assignee=ctx.grid_worker[rng.choice(grids)]),
            ),
            False,
        ),
        (
            "department",
            lambda: (
                p(roles=frozenset({"admin"})),
                CaseFilters(department_id=rng.choice(ctx.departments)),
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
            "created in a week 14-7 days ago",
            lambda: (
                p(roles=frozenset({"admin"})),
                CaseFilters(
                    created_from=now - timedelta(days=14), created_to=now - timedelta(days=7)
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
        for i in range(runs + 1):  # the first run warms the caches and is not timed
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
                if i:
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
        results.append(
            {
                "query": name,
                "p50_ms": round(statistics.median(timings), 2),
                "p95_ms": round(p95, 2),
                "max_ms": round(timings[-1], 2),
                "rows": rows,
                "indexes": plan_indexes(plan),
            }
        )
    await engine.dispose()
    return results


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    city = generate(args.seed, Shape.quick())
    url = await create_database("bench_case")
    print(f"scratch database {url.rsplit('/', 1)[-1]}; migrating", flush=True)
    try:
        await asyncio.to_thread(upgrade_head, ALEMBIC_INI, url)
        print(f"seeding {args.cases:,} cases of the generated city with COPY", flush=True)
        t = time.perf_counter()
        loaded = await load_cases(url, city, args.cases, now)
        print(f"seeded in {time.perf_counter() - t:.0f} s", flush=True)
        await run(url, args.runs, rng, Context.of(city, loaded["categories"]), now)
    finally:
        if args.keep:
            print(f"kept: {url}")
        else:
            await drop_database(url)


if __name__ == "__main__":
    asyncio.run(main())
