"""The outbox relay: posts pending case events to notify_service until accepted.

``relay_once`` claims a batch with ``SELECT … FOR UPDATE SKIP LOCKED`` and pushes each row's
``next_attempt_at`` forward by a lease, then *commits* — so no transaction is open during the
HTTP calls, and another relay (another process) skips the claimed rows until the lease ends.
The batch is then posted in calls of at most 100 events to notify_service's
``/api/v1/events/batch`` (each event idempotent by its id, so a repeat after a crash is
harmless; an older notify_service without it answers 404 and the relay posts singly for a
while) and settled in one statement (``shared.outbox.settle_many``): each event relayed, or
rescheduled with exponential backoff. :class:`OutboxRelay` runs ``relay_once`` in a loop
until stopped; a stop (SIGTERM)
lets the event being posted finish and hands the rest of the batch back at once (lease and
attempt undone), so another replica — or this one after its restart — relays them without
waiting for the lease to run out.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from case_service.clients.notify import NotifyClient
from case_service.outbox.models import OutboxEvent
from case_service.outbox.responsible import NEEDS, Resolver
from shared.contracts.events import CaseEvent
from shared.logging import get_logger
from shared.outbox import RelayLoop, claim, release, settle_many
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


BATCH_CALL = 100  # notify_service takes at most this many events a call
SINGLE_FALLBACK_SECONDS = 300.0


async def _complete_all(
    maker: async_sessionmaker[AsyncSession], events: list[CaseEvent], resolve: Resolver | None
) -> list[CaseEvent]:
    """Fill in who is responsible for every event that needs it; the filled payloads stored
    in one statement."""
    out: list[CaseEvent] = []
    filled: list[dict[str, Any]] = []
    for event in events:
        need = NEEDS.get(event.type)
        if need is None or resolve is None or need.key in event.payload:
            out.append(event)
            continue
        paths = need.paths(event.area_path, event.payload)
        ids = await resolve(paths, need.roles, need.match) if paths else []
        payload = {**event.payload, need.key: ids}
        filled.append({"row_id": event.id, "payload": payload})
        out.append(event.model_copy(update={"payload": payload}))
    if filled:
        table = OutboxEvent.__table__  # type: ignore[attr-defined]
        async with maker() as session, session.begin():
            await session.execute(
                sa.update(table)
                .where(table.c.id == sa.bindparam("row_id"))
                .values(payload=sa.bindparam("payload")),
                filled,
            )
    return out


class _Fallback:
    """Until when the batch endpoint is taken to be missing (notify_service not yet upgraded)."""

    until: float = 0.0


async def _post_singly(
    notify: NotifyClient, events: list[CaseEvent]
) -> dict[uuid.UUID, str | None]:
    outcomes: dict[uuid.UUID, str | None] = {}
    for event in events:
        try:
            status = await notify.post_event(_open_contacts(event))
        except AppError as exc:
            outcomes[event.id] = exc.instance_code
            continue
        outcomes[event.id] = None if 200 <= status < 300 else f"notify_service answered {status}"
    return outcomes


async def _post_batch(
    notify: NotifyClient, events: list[CaseEvent], fallback: _Fallback
) -> dict[uuid.UUID, str | None]:
    """One call for the whole chunk; each event's outcome (None: accepted or replayed)."""
    if time.monotonic() < fallback.until:
        return await _post_singly(notify, events)
    try:
        status, results = await notify.post_events([_open_contacts(e) for e in events])
    except AppError as exc:
        return dict.fromkeys((e.id for e in events), exc.instance_code)
    if status in (404, 405):  # an older notify_service: one call per event meanwhile
        log.warning("outbox_relay_batch_endpoint_missing", status=status)
        fallback.until = time.monotonic() + SINGLE_FALLBACK_SECONDS
        return await _post_singly(notify, events)
    if status == 413:  # a chunk larger than notify_service's body limit: this one singly
        return await _post_singly(notify, events)
    if status != 200 or len(results) != len(events):
        log.warning("outbox_relay_batch_refused", status=status, count=len(events))
        return dict.fromkeys((e.id for e in events), f"notify_service answered {status}")
    outcomes: dict[uuid.UUID, str | None] = {}
    for event, result in zip(events, results, strict=True):
        if result.get("result") in ("accepted", "replayed"):
            outcomes[event.id] = None
        else:
            problem = result.get("problem") or {}
            log.warning(
                "outbox_relay_refused",
                event_id=str(event.id),
                status=result.get("status"),
                code=problem.get("code"),
            )
            outcomes[event.id] = (
                f"notify_service answered {result.get('status')} {problem.get('code', '')}".strip()
            )
    return outcomes


async def relay_once(
    maker: async_sessionmaker[AsyncSession],
    notify: NotifyClient,
    *,
    batch: int = 50,
    resolve: Resolver | None = None,
    stopping: asyncio.Event | None = None,
    fallback: _Fallback | None = None,
    per_call: int = BATCH_CALL,
) -> int:
    """Relay one batch — one claim, one call per 100 events, one settling statement; return
    how many events notify_service accepted. Once ``stopping`` is set, the events not yet
    posted are released instead."""
    fallback = fallback or _Fallback()
    events = await _claim(maker, batch)
    if not events:
        return 0
    outcomes: dict[uuid.UUID, str | None] = {}
    try:
        for start in range(0, len(events), per_call):
            if stopping is not None and stopping.is_set():
                await release(maker, OutboxEvent, [e.id for e in events[start:]])
                break
            chunk = await _complete_all(maker, events[start : start + per_call], resolve)
            outcomes.update(await _post_batch(notify, chunk, fallback))
    finally:
        await settle_many(maker, OutboxEvent, outcomes)
    return sum(1 for error in outcomes.values() if error is None)


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

        self.fallback = _Fallback()

        async def once(stopping: asyncio.Event) -> int:
            return await relay_once(
                self.maker,
                self.notify,
                batch=batch,
                resolve=self.resolve,
                stopping=stopping,
                fallback=self.fallback,
            )

        super().__init__(once, name="outbox_relay", batch=batch, poll_seconds=poll_seconds)
