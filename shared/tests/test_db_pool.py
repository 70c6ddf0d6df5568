"""The pool pings a connection only after it sat idle, and replaces a dead one before use."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection
from sqlalchemy.ext.asyncio import AsyncEngine

from shared import db


async def _pid(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one())


async def test_a_connection_in_steady_use_is_not_pinged(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings = 0
    adapter = AsyncAdapt_asyncpg_connection
    real = adapter.ping

    def counting(self: object) -> None:
        nonlocal pings
        pings += 1
        real(self)

    monkeypatch.setattr(adapter, "ping", counting)
    for _ in range(20):
        await _pid(engine)
    assert pings == 0
    monkeypatch.setattr(db, "PING_IDLE_SECONDS", 0.0)
    await _pid(engine)
    assert pings == 1  # idle (here: at all) — pinged before it is handed out


async def test_a_dead_idle_connection_is_replaced_before_use(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with engine.connect() as other:
        victim = await _pid(engine)  # another pooled connection, back in the pool now
        await other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": victim})
    monkeypatch.setattr(db, "PING_IDLE_SECONDS", 0.0)
    # The pool hands the terminated connection out again: pinged, found dead, replaced.
    seen = {await _pid(engine) for _ in range(3)}
    assert victim not in seen
