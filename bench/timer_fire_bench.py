"""Timer-firing benchmark of case_service: statements and CPU per fired timer, one by one vs
together.

A scratch database (on the PostgreSQL the tests use) is migrated; for each way ``--timers``
due timers are made (half reminders, half overdues: each of ``--timers / 2`` in-progress cases
has an open resolve deadline with both its timers due). Rows are generated inside PostgreSQL
(``generate_series``). Then ``case_service.sla.timers.fire_due`` runs in-process, ``--batch``
timers a call, until nothing is due:

* ``one_by_one`` — ``fire_due(together=False)``: each timer in its own savepoint, its case and
  deadline loaded and its effects flushed one at a time (the path before batching, and the
  fallback of a failed batch);
* ``together`` — ``fire_due()``: the batch's rows locked with one statement per table and its
  effects written with one statement per table.

Printed as JSON: statements per timer (counted with SQLAlchemy's ``before_cursor_execute``;
an executemany counts once), CPU ms per timer of this process (``time.process_time``: the
worker's own work, not PostgreSQL's) and wall ms per timer. A small untimed round of each way
warms the caches first. The scratch database is dropped at the end.

    uv run python bench/timer_fire_bench.py [--timers 2000] [--batch 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from case_service.config import ALEMBIC_INI
from case_service.sla.timers import fire_due
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
  area_path, area_chain, handling_area_path, handling_level, anonymous, reporter_account_id,
  reported_by_account_id, on_behalf, self_handled, supporter_count, location_status,
  assignee_account_ids, department_ids, created_at, updated_at)
SELECT md5(:run || 'case' || g)::uuid, :run || lpad(g::text, 10, '0'), 4, 'in_progress',
  '00000000-0000-0000-0000-000000000001', '0802', '井盖缺失破损', 'report', 'locality',
  'promised', 'high', false, '井盖缺失', '学院路口井盖缺失，夜里很危险', '{}', 'mini_program',
  '330100.330106.330106001.330106001001.330106001001001', '[]',
  '330100.330106.330106001.330106001001', 'community', false, 'res-1', 'res-1', false, false,
  0, 'located', ARRAY['worker-a'], '{}', :started, :started
FROM generate_series(1, CAST(:cases AS int)) AS g
"""

DEADLINES = """
INSERT INTO case_deadline (id, case_id, kind, handling_level, handling_area_path, amount, unit,
  total_seconds, reminder_ratio, auto_escalate, status, started_at, due_at, extension_count)
SELECT md5(:run || 'deadline' || g)::uuid, md5(:run || 'case' || g)::uuid, 'resolve',
  'community', '330100.330106.330106001.330106001001', 1, 'working_days', 27000, 0.75, false,
  'open', :started, :due_at, 0
FROM generate_series(1, CAST(:cases AS int)) AS g
"""

TIMERS = """
INSERT INTO sla_timer (id, case_id, kind, deadline_id, due_at, attempts, created_at)
SELECT md5(:run || k || g)::uuid, md5(:run || 'case' || g)::uuid, k,
  md5(:run || 'deadline' || g)::uuid, :due_at, 0, now()
FROM generate_series(1, CAST(:cases AS int)) AS g, (VALUES ('reminder'), ('overdue')) AS kinds(k)
"""

STARTED = datetime(2026, 11, 23, 1, tzinfo=UTC)
DUE = datetime(2026, 11, 24, 10, tzinfo=UTC)
NOW = datetime(2026, 11, 25, 1, tzinfo=UTC)


async def fill(engine: Any, run: str, cases: int) -> None:
    params = {"run": run, "cases": cases, "started": STARTED, "due_at": DUE}
    async with engine.begin() as conn:
        for sql in (CASES, DEADLINES, TIMERS):
            await conn.execute(sa.text(sql), params)
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(sa.text("VACUUM ANALYZE sla_timer, case_deadline"))


async def fire_all(maker: Any, batch: int, together: bool) -> int:
    fired = 0
    while n := await fire_due(maker, now=NOW, limit=batch, together=together):
        fired += n
    return fired


async def run(timers: int, batch: int) -> dict[str, Any]:
    url = await create_database("bench_timer_fire")
    try:
        await asyncio.to_thread(upgrade_head, ALEMBIC_INI, url)
        engine = make_engine(url)
        maker = make_sessionmaker(engine)
        sent = [0]

        def count(*_: Any) -> None:
            sent[0] += 1

        async with engine.begin() as conn:
            await conn.execute(sa.text(CATEGORY))
        ways = {"one_by_one": False, "together": True}
        for name, together in ways.items():  # warm-up, untimed
            await fill(engine, f"w{name}", batch // 2)
            assert await fire_all(maker, batch, together) == batch // 2 * 2
        out: dict[str, Any] = {"timers": timers, "batch": batch}
        sa.event.listen(engine.sync_engine, "before_cursor_execute", count)
        for name, together in ways.items():
            cases = timers // 2
            await fill(engine, name, cases)
            sent[0] = 0
            cpu, wall = time.process_time(), time.perf_counter()
            fired = await fire_all(maker, batch, together)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            assert fired == 2 * cases, (name, fired)
            async with engine.connect() as conn:
                written = (
                    await conn.execute(
                        sa.text(
                            'SELECT (SELECT count(*) FROM timeline_entry t JOIN "case" c'
                            " ON c.id = t.case_id WHERE c.case_number LIKE :run || '%'),"
                            ' (SELECT count(*) FROM outbox_event o JOIN "case" c'
                            " ON c.id = o.case_id WHERE c.case_number LIKE :run || '%'),"
                            ' (SELECT count(*) FROM supervision s JOIN "case" c'
                            " ON c.id = s.case_id WHERE c.case_number LIKE :run || '%')"
                        ),
                        {"run": name},
                    )
                ).one()
            assert tuple(written) == (fired, fired, cases), (name, tuple(written))
            out[name] = {
                "statements_per_timer": round(sent[0] / fired, 3),
                "cpu_ms_per_timer": round(cpu * 1000 / fired, 3),
                "wall_ms_per_timer": round(wall * 1000 / fired, 3),
            }
        await engine.dispose()
        return out
    finally:
        await drop_database(url)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--timers", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    print(json.dumps(await run(args.timers, args.batch), indent=2))


if __name__ == "__main__":
    asyncio.run(main())
