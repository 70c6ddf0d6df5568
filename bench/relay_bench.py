"""Outbox relay benchmark of case_service: CPU per relayed event, per event vs in batches.

A scratch database (on the PostgreSQL the tests use) is migrated and ``--events`` outbox rows
are written (the foreign key to ``case`` dropped: only the relay is measured). notify_service
is an in-process ``httpx.MockTransport`` answering at once, so what is counted is
case_service's own work: claims, HTTP encoding, settling. Two ways are timed on the same rows:

* ``per_event`` — the relay as it was: one claim, then per event one POST /api/v1/events and
  one settling transaction (``shared.outbox.settle``);
* ``batched`` — ``case_service.outbox.relay.relay_once``: one claim, one POST
  /api/v1/events/batch per ≤ 100 events, one settling statement (``settle_many``).

Printed: CPU ms (``time.process_time``) and wall ms per event for each, as JSON.

    uv run python bench/relay_bench.py [--events 2000] [--batch 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from typing import Any

import httpx
import sqlalchemy as sa

from case_service.clients.notify import NotifyClient
from case_service.config import ALEMBIC_INI
from case_service.outbox.models import OutboxEvent
from case_service.outbox.relay import _claim, relay_once
from shared.db import make_engine, make_sessionmaker, utcnow
from shared.http import ServiceClient
from shared.migrate import upgrade_head
from shared.outbox import settle
from shared.testing import create_database, drop_database


def fake_notify() -> NotifyClient:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if "events" in body:
            return httpx.Response(
                200, json={"results": [{"result": "accepted"} for _ in body["events"]]}
            )
        return httpx.Response(202, json={"event_id": body["id"]})

    return NotifyClient(
        ServiceClient(
            "http://notify.bench",
            name="notify_service",
            retries=0,
            transport=httpx.MockTransport(handler),
        ),
        static_token="bench",  # noqa: S106 - an in-process fake, no real token
    )


async def per_event_once(maker: Any, notify: NotifyClient, batch: int) -> int:
    """The relay before batching (one post and one settling transaction per event)."""
    events = await _claim(maker, batch)
    for event in events:
        status = await notify.post_event(event)
        await settle(maker, OutboxEvent, event.id, error=None if status < 300 else str(status))
    return len(events)


async def fill(maker: Any, n: int) -> None:
    now = utcnow()
    rows: list[dict[str, Any]] = [
        {
            "id": uuid.uuid4(),
            "case_id": uuid.uuid4(),
            "type": "case.accepted",
            "case_version": 2,
            "area_path": "330100.330106.330106001",
            "payload": {"case_number": f"XH20261207-{i:04d}", "title": "小区门口路灯不亮"},
            "created_at": now,
            "next_attempt_at": now,
        }
        for i in range(n)
    ]
    async with maker() as session, session.begin():
        await session.execute(sa.insert(OutboxEvent), rows)


async def run(events: int, batch: int) -> dict[str, Any]:
    url = await create_database("bench_relay")
    try:
        await asyncio.to_thread(upgrade_head, ALEMBIC_INI, url)
        engine = make_engine(url)
        maker = make_sessionmaker(engine)
        async with engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "DO $$ DECLARE c text; BEGIN FOR c IN SELECT conname FROM pg_constraint "
                    "WHERE conrelid = 'outbox_event'::regclass AND contype = 'f' LOOP "
                    "EXECUTE 'ALTER TABLE outbox_event DROP CONSTRAINT ' || quote_ident(c); "
                    "END LOOP; END $$"
                )
            )
        notify = fake_notify()
        out: dict[str, Any] = {"events": events, "batch": batch}
        ways = {
            "per_event": lambda: per_event_once(maker, notify, batch),
            "batched": lambda: relay_once(maker, notify, batch=batch),
        }
        for name, once in ways.items():
            await fill(maker, events)
            cpu, wall, sent = time.process_time(), time.perf_counter(), 0
            while (n := await once()) > 0:
                sent += n
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            assert sent == events, (name, sent)
            out[name] = {
                "cpu_ms_per_event": round(cpu * 1000 / events, 3),
                "wall_ms_per_event": round(wall * 1000 / events, 3),
            }
        await notify.aclose()
        await engine.dispose()
        return out
    finally:
        await drop_database(url)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    print(json.dumps(await run(args.events, args.batch), indent=2))


if __name__ == "__main__":
    asyncio.run(main())
