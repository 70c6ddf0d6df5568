"""The mechanics every outbox relay shares (case_service's case events, grid_service's
messages to people): claim a batch, settle each row, give rows back on a stop, and the loop.

An outbox table has ``id``, ``created_at``, ``next_attempt_at``, ``attempts``, ``relayed_at``
and ``last_error``. :func:`claim` selects due rows with ``SELECT … FOR UPDATE SKIP LOCKED``,
pushes each row's ``next_attempt_at`` forward by a lease and *commits* — so no transaction is
open during the HTTP calls that follow, and another relay (another replica) skips the claimed
rows until the lease ends. Each row is then settled in its own short transaction: relayed, or
rescheduled with exponential backoff. A stop (SIGTERM) lets the row being posted finish and
hands the rest of the batch back at once (:func:`release`: lease and attempt undone).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.db import utcnow
from shared.logging import get_logger

log = get_logger(__name__)

LEASE = timedelta(seconds=60)
MAX_BACKOFF_SECONDS = 600

Row = TypeVar("Row")


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(MAX_BACKOFF_SECONDS, 2 ** min(attempts, 10)))


async def claim(maker: async_sessionmaker[AsyncSession], model: type[Row], batch: int) -> list[Row]:
    """Lease up to ``batch`` due rows, oldest due first; they come back detached, loaded."""
    table: Any = model.__table__  # type: ignore[attr-defined]
    now = utcnow()
    async with maker() as session, session.begin():
        rows = list(
            (
                await session.execute(
                    sa.select(model)
                    .where(table.c.relayed_at.is_(None), table.c.next_attempt_at <= now)
                    .order_by(table.c.next_attempt_at, table.c.created_at)
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                )
            )
            .scalars()
            .all()
        )
        for row in rows:
            row.attempts += 1  # type: ignore[attr-defined]
            row.next_attempt_at = now + LEASE  # type: ignore[attr-defined]
        await session.flush()
        session.expunge_all()  # detached before the commit: their attributes stay loaded
    return rows


async def settle(
    maker: async_sessionmaker[AsyncSession],
    model: type[Any],
    row_id: uuid.UUID,
    *,
    error: str | None,
) -> None:
    """Mark a row relayed (``error`` None), or keep the reason and retry it after a backoff."""
    async with maker() as session, session.begin():
        row = await session.get(model, row_id)
        if row is None:
            return
        now = utcnow()
        if error is None:
            row.relayed_at = now
            row.last_error = None
        else:
            row.last_error = error[:500]
            row.next_attempt_at = now + backoff(row.attempts)


async def settle_many(
    maker: async_sessionmaker[AsyncSession],
    model: type[Any],
    outcomes: Mapping[uuid.UUID, str | None],
) -> None:
    """Settle a whole batch in one statement: each row relayed (``None``) or kept with its
    reason and retried after the backoff of its attempts (as :func:`settle`)."""
    if not outcomes:
        return
    table: Any = model.__table__
    given = (
        sa.values(sa.column("id", UUID(as_uuid=True)), sa.column("error", sa.Text), name="given")
        .data([(row_id, None if e is None else e[:500]) for row_id, e in outcomes.items()])
        .alias("given")
    )
    now = utcnow()
    failed = given.c.error.is_not(None)
    seconds = sa.func.least(
        MAX_BACKOFF_SECONDS, sa.func.power(2, sa.func.least(table.c.attempts, 10))
    )
    async with maker() as session, session.begin():
        await session.execute(
            sa.update(table)
            .where(table.c.id == given.c.id, table.c.relayed_at.is_(None))
            .values(
                relayed_at=sa.case((failed, None), else_=now),
                last_error=given.c.error,
                next_attempt_at=sa.case(
                    (failed, now + sa.func.make_interval(0, 0, 0, 0, 0, 0, seconds)),
                    else_=table.c.next_attempt_at,
                ),
            )
        )


async def release(
    maker: async_sessionmaker[AsyncSession], model: type[Any], ids: list[uuid.UUID]
) -> None:
    """Give back claimed rows that were not posted: due now, the claim's attempt undone."""
    table: Any = model.__table__
    async with maker() as session, session.begin():
        await session.execute(
            sa.update(table)
            .where(table.c.id.in_(ids), table.c.relayed_at.is_(None))
            .values(next_attempt_at=utcnow(), attempts=table.c.attempts - 1)
        )
    log.info("outbox_relay_released", table=table.name, count=len(ids))


class RelayLoop:
    """Runs ``once(stopping)`` — one batch, returning how many rows it relayed — until stopped;
    waits ``poll_seconds`` (or until the stop) whenever a batch was not full."""

    def __init__(
        self,
        once: Callable[[asyncio.Event], Awaitable[int]],
        *,
        name: str,
        batch: int,
        poll_seconds: float = 1.0,
    ) -> None:
        self._once = once
        self.name = name
        self.batch = batch
        self.poll_seconds = poll_seconds
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                sent = await self._once(self._stopping)
            except Exception as exc:  # keep relaying after a database hiccup
                log.error(f"{self.name}_failed", exc_info=exc)
                sent = 0
            if sent < self.batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=self.poll_seconds)
