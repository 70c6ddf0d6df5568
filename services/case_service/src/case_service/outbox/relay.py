"""The outbox relay: posts pending case events to notify_service until accepted.

``relay_once`` claims a batch with ``SELECT … FOR UPDATE SKIP LOCKED`` and pushes each row's
``next_attempt_at`` forward by a lease, then *commits* — so no transaction is open during the
HTTP calls, and another relay (another process) skips the claimed rows until the lease ends.
Each row is then posted (``Idempotency-Key`` = the row id, so a repeat after a crash is
harmless) and marked relayed, or rescheduled with exponential backoff, in its own short
transaction. :class:`OutboxRelay` runs ``relay_once`` in a loop until stopped; a stop (SIGTERM)
lets the event being posted finish and hands the rest of the batch back at once (lease and
attempt undone), so another replica — or this one after its restart — relays them without
waiting for the lease to run out.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from case_service.clients.notify import NotifyClient
from case_service.outbox.models import OutboxEvent
from case_service.outbox.responsible import NEEDS, Resolver
from shared.contracts.events import CaseEvent
from shared.db import utcnow
from shared.logging import get_logger
from shared.problem import AppError

log = get_logger(__name__)

LEASE = timedelta(seconds=60)
MAX_BACKOFF_SECONDS = 600


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(MAX_BACKOFF_SECONDS, 2 ** min(attempts, 10)))


async def _claim(maker: async_sessionmaker[AsyncSession], batch: int) -> list[CaseEvent]:
    now = utcnow()
    async with maker() as session, session.begin():
        rows = (
            (
                await session.execute(
                    sa.select(OutboxEvent)
                    .where(
                        col(OutboxEvent.relayed_at).is_(None),
                        col(OutboxEvent.next_attempt_at) <= now,
                    )
                    .order_by(col(OutboxEvent.next_attempt_at), col(OutboxEvent.created_at))
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                )
            )
            .scalars()
            .all()
        )
        events = []
        for row in rows:
            row.attempts += 1
            row.next_attempt_at = now + LEASE
            events.append(
                CaseEvent(
                    id=row.id,
                    type=row.type,
                    case_id=row.case_id,
                    case_version=row.case_version,
                    occurred_at=row.created_at,
                    area_path=row.area_path,
                    payload=row.payload,
                )
            )
        await session.flush()
    return events


async def _settle(
    maker: async_sessionmaker[AsyncSession], event_id: uuid.UUID, *, error: str | None
) -> None:
    async with maker() as session, session.begin():
        row = await session.get(OutboxEvent, event_id)
        if row is None:
            return
        now = utcnow()
        if error is None:
            row.relayed_at = now
            row.last_error = None
        else:
            row.last_error = error[:500]
            row.next_attempt_at = now + backoff(row.attempts)


async def _release(maker: async_sessionmaker[AsyncSession], ids: list[uuid.UUID]) -> None:
    """Give back claimed events that were not posted: due now, the claim's attempt undone."""
    async with maker() as session, session.begin():
        await session.execute(
            sa.update(OutboxEvent)
            .where(col(OutboxEvent.id).in_(ids), col(OutboxEvent.relayed_at).is_(None))
            .values(next_attempt_at=utcnow(), attempts=OutboxEvent.attempts - 1)
        )
    log.info("outbox_relay_released", count=len(ids))


async def _complete(
    maker: async_sessionmaker[AsyncSession], event: CaseEvent, resolve: Resolver | None
) -> CaseEvent:
    """Fill in who is responsible (see outbox.responsible), once, stored on the row."""
    need = NEEDS.get(event.type)
    if need is None or resolve is None or need.key in event.payload:
        return event
    paths = need.paths(event.area_path, event.payload)
    ids = await resolve(paths, need.roles, need.match) if paths else []
    payload = {**event.payload, need.key: ids}
    async with maker() as session, session.begin():
        await session.execute(
            sa.update(OutboxEvent).where(col(OutboxEvent.id) == event.id).values(payload=payload)
        )
    return event.model_copy(update={"payload": payload})


async def relay_once(
    maker: async_sessionmaker[AsyncSession],
    notify: NotifyClient,
    *,
    batch: int = 50,
    resolve: Resolver | None = None,
    stopping: asyncio.Event | None = None,
) -> int:
    """Relay one batch; return how many events notify_service accepted. Once ``stopping`` is
    set, the events not yet posted are released instead."""
    events = await _claim(maker, batch)
    accepted = 0
    for i, event in enumerate(events):
        if stopping is not None and stopping.is_set():
            await _release(maker, [e.id for e in events[i:]])
            break
        try:
            event = await _complete(maker, event, resolve)
            status = await notify.post_event(event)
        except AppError as exc:
            await _settle(maker, event.id, error=exc.instance_code)
            continue
        if 200 <= status < 300:
            await _settle(maker, event.id, error=None)
            accepted += 1
        else:
            log.warning("outbox_relay_refused", event_id=str(event.id), status=status)
            await _settle(maker, event.id, error=f"notify_service answered {status}")
    return accepted


class OutboxRelay:
    """Background loop around :func:`relay_once`; ``start()`` in lifespan, ``stop()`` at exit."""

    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        notify: NotifyClient,
        *,
        poll_seconds: float = 1.0,
        batch: int = 50,
        resolve: Resolver | None = None,
    ) -> None:
        self.maker = maker
        self.notify = notify
        self.resolve = resolve
        self.poll_seconds = poll_seconds
        self.batch = batch
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._run(), name="outbox-relay")

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
                sent = await relay_once(
                    self.maker,
                    self.notify,
                    batch=self.batch,
                    resolve=self.resolve,
                    stopping=self._stopping,
                )
            except Exception as exc:  # keep relaying after a database hiccup
                log.error("outbox_relay_failed", exc_info=exc)
                sent = 0
            if sent < self.batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=self.poll_seconds)
