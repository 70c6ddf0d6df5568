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

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from case_service.clients.notify import NotifyClient
from case_service.outbox.models import OutboxEvent
from case_service.outbox.responsible import NEEDS, Resolver
from shared.contracts.events import CaseEvent
from shared.logging import get_logger
from shared.outbox import RelayLoop, claim, release, settle
from shared.problem import AppError

log = get_logger(__name__)


async def _claim(maker: async_sessionmaker[AsyncSession], batch: int) -> list[CaseEvent]:
    return [
        CaseEvent(
            id=row.id,
            type=row.type,
            case_id=row.case_id,
            case_version=row.case_version,
            occurred_at=row.created_at,
            area_path=row.area_path,
            payload=row.payload,
        )
        for row in await claim(maker, OutboxEvent, batch)
    ]


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


def _open_contacts(event: CaseEvent) -> CaseEvent:
    """A mediation session's parties: their phones travel sealed in the outbox and are opened
    only into the body posted (never stored in clear)."""
    sealed = event.payload.get("contacts_sealed")
    if not sealed:
        return event
    from case_service.mediation.service import open_phone

    payload = {k: v for k, v in event.payload.items() if k != "contacts_sealed"}
    payload["contacts"] = [{"phone": open_phone(s)} for s in sealed]
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
            await release(maker, OutboxEvent, [e.id for e in events[i:]])
            break
        try:
            event = await _complete(maker, event, resolve)
            status = await notify.post_event(_open_contacts(event))
        except AppError as exc:
            await settle(maker, OutboxEvent, event.id, error=exc.instance_code)
            continue
        if 200 <= status < 300:
            await settle(maker, OutboxEvent, event.id, error=None)
            accepted += 1
        else:
            log.warning("outbox_relay_refused", event_id=str(event.id), status=status)
            await settle(maker, OutboxEvent, event.id, error=f"notify_service answered {status}")
    return accepted


class OutboxRelay(RelayLoop):
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

        async def once(stopping: asyncio.Event) -> int:
            return await relay_once(
                self.maker, self.notify, batch=batch, resolve=self.resolve, stopping=stopping
            )

        super().__init__(once, name="outbox_relay", batch=batch, poll_seconds=poll_seconds)
