"""Timer-scan benchmark of case_service: the cost of one scan must follow the due timers, not
the open cases.

A scratch database (on the PostgreSQL the tests use) is migrated; open cases are added in
steps up to ``--cases`` (default 1,000,000), each with two pending timers far in the future
(its reminder and its overdue moment), plus ``--due`` (default 1,000) timers that are due now.
At each step the worker's own claim query (``case_service.sla.timers.claim_due``: the partial
index of unfired timers, ``FOR UPDATE SKIP LOCKED``) is run ``--runs`` times in a rolled-back
transaction; p50/p95 per scan are printed with the plan's index, then the ratio of the largest
to the smallest step. Rows are generated inside PostgreSQL (``generate_series``); the scratch
database is dropped at the end.

    uv run python bench/timer_scan_bench.py [--cases 1000000] [--due 1000] [--runs 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from case_service.config import ALEMBIC_INI
from case_service.sla.timers import claim_due
from shared.db import make_engine, make_sessionmaker
from shared.migrate import upgrade_head
from shared.testing import create_database, drop_database

CATEGORY = """
INSERT INTO category (id, code, version, is_current, name, kind, routing, default_priority,
  handling_class, duplicate_radius_m, duplicate_window_hours, attributes, public_disclosure,
  active, created_at)
VALUES ('00000000-0000-0000-0000-000000000001', '0802', 1, true, '井盖缺失破损', 'report',
  'locality', 'high', 'promised', 50, 72, '[]', 'none', true, now())
"""

CASES = """
INSERT INTO "case" (id, case_number, version, status, category_id, category_code, category_name,
  kind, routing, handling_class, priority, major, title, description, attributes, channel,
  area_path, area_chain, handling_area_path, handling_level, anonymous, reported_by_account_id,
  on_behalf, self_handled, supporter_count, location_status, created_at, updated_at)
SELECT md5('case' || g)::uuid, 'B' || lpad(g::text, 12, '0'), 1, 'in_progress',
  '00000000-0000-0000-0000-000000000001', '0802', '井盖缺失破损', 'report', 'locality',
  'promised', 'normal', false, '井盖缺失', '学院路口井盖缺失', '{}', 'mini_program',
  '330100.330106.330106001.330106001001', '[]', '330100.330106.330106001.330106001001',
  'community', false, 'bench', false, false, 0, 'located', now(), now()
FROM generate_series(CAST(:lo AS int), CAST(:hi AS int)) AS g
"""

TIMERS = """
INSERT INTO sla_timer (id, case_id, kind, due_at, attempts, created_at)
SELECT md5(k || g)::uuid, md5('case' || g)::uuid, k, :due_at, 0, now()
FROM generate_series(CAST(:lo AS int), CAST(:hi AS int)) AS g,
  (VALUES ('reminder'), ('overdue')) AS kinds(k)
"""


async def scan_times(maker: object, now: datetime, due: int, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        async with maker() as session, session.begin():  # type: ignore[operator]
            started = time.perf_counter()
            claimed = await claim_due(session, now, due)
            out.append((time.perf_counter() - started) * 1000)
            assert len(claimed) == due, len(claimed)
            await session.rollback()
    return out


async def measure(cases: int = 1_000_000, due: int = 1_000, runs: int = 30) -> dict[str, Any]:
    """One row per step of open cases (printed as JSON lines) and the largest/smallest ratio."""
    args = argparse.Namespace(cases=cases, due=due, runs=runs)
    url = await create_database("bench_timers")
    results = []
    try:
        await asyncio.to_thread(upgrade_head, ALEMBIC_INI, url)
        engine = make_engine(url, statement_timeout_ms=900_000)
        maker = make_sessionmaker(engine)
        now = datetime(2026, 11, 23, 12, tzinfo=UTC)
        future = datetime(2027, 6, 1, tzinfo=UTC)
        async with engine.begin() as conn:
            await conn.execute(sa.text(CATEGORY))
            # The due timers belong to the first --due cases.
            await conn.execute(sa.text(CASES), {"lo": 1, "hi": args.due})
            await conn.execute(
                sa.text(TIMERS.replace("(VALUES ('reminder'), ('overdue'))", "(VALUES ('due'))")),
                {"lo": 1, "hi": args.due, "due_at": now},
            )
        steps = [s for s in (10_000, 100_000, 1_000_000, 10_000_000) if s < args.cases]
        steps.append(args.cases)
        loaded = args.due
        for step in steps:
            started = time.perf_counter()
            chunk = 100_000
            for lo in range(loaded + 1, step + 1, chunk):
                hi = min(step, lo + chunk - 1)
                async with engine.begin() as conn:
                    await conn.execute(sa.text(CASES), {"lo": lo, "hi": hi})
                    await conn.execute(sa.text(TIMERS), {"lo": lo, "hi": hi, "due_at": future})
            loaded = step
            async with engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(sa.text("VACUUM ANALYZE sla_timer"))
                await conn.execute(sa.text('ANALYZE "case"'))
            load_s = time.perf_counter() - started
            times = await scan_times(maker, now, args.due, args.runs)
            async with engine.connect() as conn:
                plan = "\n".join(
                    r[0]
                    for r in await conn.execute(
                        sa.text(
                            "EXPLAIN SELECT * FROM sla_timer WHERE fired_at IS NULL AND "
                            "due_at <= :now ORDER BY due_at LIMIT :n FOR UPDATE SKIP LOCKED"
                        ),
                        {"now": now, "n": args.due},
                    )
                )
            index = "ix_sla_timer_due" if "ix_sla_timer_due" in plan else "NO INDEX"
            row = {
                "open_cases": step,
                "pending_timers": 2 * (step - args.due) + args.due,
                "due": args.due,
                "scan_p50_ms": round(statistics.median(times), 2),
                "scan_p95_ms": round(sorted(times)[int(len(times) * 0.95) - 1], 2),
                "index": index,
                "load_s": round(load_s, 1),
            }
            results.append(row)
            print(json.dumps(row, ensure_ascii=False), flush=True)
        await engine.dispose()
    finally:
        await drop_database(url)
    first, last = results[0], results[-1]
    ratio = last["scan_p50_ms"] / first["scan_p50_ms"]
    print(
        f"\nscan of {args.due} due timers: p50 {first['scan_p50_ms']} ms at "
        f"{first['open_cases']:,} open cases, {last['scan_p50_ms']} ms at "
        f"{last['open_cases']:,} ({ratio:.2f}x for {last['open_cases'] / first['open_cases']:.0f}x "
        "the open cases)"
    )
    return {"steps": results, "ratio": round(ratio, 2), "due": args.due}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    await measure(args.cases, args.due, args.runs)


if __name__ == "__main__":
    asyncio.run(main())
