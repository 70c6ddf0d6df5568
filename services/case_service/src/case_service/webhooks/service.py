"""Webhooks: every case event a platform subscribed to, delivered signed, retried, replayable.

Signature (documented in docs/integration.md)::

    X-Gridgov-Delivery: <delivery id>         the same on every try and on a replay
    X-Gridgov-Event: case.accepted
    X-Gridgov-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>

The subscription secret is derived, not stored: HMAC-SHA256(CASE_WEBHOOK_SIGNING_KEY,
subscription id), shown once when the subscription is made.

Deliveries are rows written in the transaction of the event (so none is lost) and sent by a
worker: it claims due rows with ``FOR UPDATE SKIP LOCKED``, commits the claim (a lease), posts
outside any transaction, then records the outcome. Failures back off exponentially with
jitter until ``expires_at`` (24 hours after the event), then the delivery is ``failed``; a
replay puts it back with a new window. Case handling never waits for a receiver.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import random
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from case_service.cases.models import Case
from case_service.webhooks.models import WebhookDelivery, WebhookSubscription
from shared.db import utcnow
from shared.logging import get_logger

log = get_logger(__name__)

RETRY_WINDOW = timedelta(hours=24)
LEASE = timedelta(minutes=2)
#: payload keys an outside platform is told (no reporter identity, no internal ids)
PUBLIC_KEYS = (
    "status",
    "previous_status",
    "action",
    "reason",
    "due_at",
    "rating",
    "escalated_to",
    "deadline_kind",
    "result",
    "master_case_number",
    # dispute mediation (mediation.*): the file's state, never the parties
    "dispute_id",
    "mediation_status",
    "mediation_level",
    "judicial_status",
    "risk_level",
    "session_number",
    "session_time",
    "session_place",
    "term_id",
    "deadline_on",
    "referred_to",
)


def subscription_secret(master: str, subscription_id: uuid.UUID) -> str:
    return hmac.new(master.encode(), str(subscription_id).encode(), hashlib.sha256).hexdigest()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, *, now: float, tolerance: float = 300) -> bool:
    """The receiver's recipe (also what docs/integration.md shows)."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def backoff(attempts: int) -> timedelta:
    """10 s, 20 s, 40 s … capped at an hour, with ±20 % jitter."""
    base = min(10 * 2 ** max(attempts - 1, 0), 3600)
    return timedelta(seconds=base * random.uniform(0.8, 1.2))


async def fan_out(
    session: AsyncSession,
    case: Case,
    *,
    event_id: uuid.UUID,
    type: str,
    payload: dict[str, Any],
    occurred_at: datetime,
) -> int:
    """Called with every outbox event: one delivery per matching subscription of the platform
    the case came from (platforms hear of their own cases)."""
    if not case.source:
        return 0
    subs = (
        (
            await session.execute(
                sa.select(WebhookSubscription).where(
                    col(WebhookSubscription.client_id) == case.source,
                    col(WebhookSubscription.active).is_(True),
                )
            )
        )
        .scalars()
        .all()
    )
    made = 0
    for sub in subs:
        if sub.event_types and type not in sub.event_types:
            continue
        session.add(
            WebhookDelivery(
                subscription_id=sub.id,
                event_id=event_id,
                event_type=type,
                case_id=case.id,
                body=delivery_body(case, event_id, type, payload, occurred_at),
                next_attempt_at=occurred_at,
                expires_at=occurred_at + RETRY_WINDOW,
            )
        )
        made += 1
    return made


def delivery_body(
    case: Case, event_id: uuid.UUID, type: str, payload: dict[str, Any], occurred_at: datetime
) -> dict[str, Any]:
    """What a receiver is sent of one event (the same on every attempt)."""
    return {
        "event_id": str(event_id),
        "type": type,
        "occurred_at": occurred_at.isoformat(),
        "case": {
            "id": str(case.id),
            "case_number": case.case_number,
            "external_id": case.external_id,
            "status": case.status,
        },
        "data": {k: payload[k] for k in PUBLIC_KEYS if payload.get(k) is not None},
    }


#: the event's (case, outbox event id, type, payload, occurred at), for :func:`fan_out_many`
Fanned = tuple[Case, uuid.UUID, str, dict[str, Any], datetime]

_ACTIVE_SUBSCRIPTIONS = sa.select(
    col(WebhookSubscription.id),
    col(WebhookSubscription.client_id),
    col(WebhookSubscription.event_types),
).where(
    col(WebhookSubscription.client_id)
    == sa.any_(sa.bindparam("sources", type_=ARRAY(sa.String()))),
    col(WebhookSubscription.active).is_(True),
)
_INSERT_DELIVERY = sa.insert(WebhookDelivery.__table__)  # type: ignore[attr-defined]


async def fan_out_many(session: AsyncSession, events: list[Fanned]) -> int:
    """:func:`fan_out` for many events in at most two statements (the subscriptions of every
    platform concerned, then every delivery in one insert), whatever their number."""
    sources = sorted({case.source for case, *_ in events if case.source})
    if not sources:
        return 0
    by_source: dict[str, list[tuple[uuid.UUID, list[str]]]] = {}
    for sub_id, client_id, event_types in await session.execute(
        _ACTIVE_SUBSCRIPTIONS, {"sources": sources}
    ):
        by_source.setdefault(client_id, []).append((sub_id, event_types))
    rows: list[dict[str, Any]] = []
    for case, event_id, type, payload, occurred_at in events:
        for sub_id, event_types in by_source.get(case.source or "", []):
            if event_types and type not in event_types:
                continue
            rows.append(
                {
                    "id": uuid.uuid4(),
                    "subscription_id": sub_id,
                    "event_id": event_id,
                    "event_type": type,
                    "case_id": case.id,
                    "body": delivery_body(case, event_id, type, payload, occurred_at),
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": occurred_at,
                    "expires_at": occurred_at + RETRY_WINDOW,
                    "last_status_code": None,
                    "last_error": None,
                    "delivered_at": None,
                    "created_at": utcnow(),
                }
            )
    if rows:
        await session.execute(_INSERT_DELIVERY, rows)
    return len(rows)


async def _claim(
    maker: async_sessionmaker[AsyncSession], now: datetime, limit: int
) -> list[tuple[uuid.UUID, str, dict[str, Any], str, uuid.UUID]]:
    async with maker() as session, session.begin():
        rows = (
            (
                await session.execute(
                    sa.select(WebhookDelivery)
                    .where(
                        col(WebhookDelivery.status) == "pending",
                        col(WebhookDelivery.next_attempt_at) <= now,
                    )
                    .order_by(col(WebhookDelivery.next_attempt_at))
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            )
            .scalars()
            .all()
        )
        if not rows:
            return []
        urls = dict(
            (
                await session.execute(
                    sa.select(col(WebhookSubscription.id), col(WebhookSubscription.url)).where(
                        col(WebhookSubscription.id).in_({r.subscription_id for r in rows})
                    )
                )
            ).all()
        )
        claimed = []
        for row in rows:
            row.next_attempt_at = now + LEASE  # a lease: another worker skips it meanwhile
            session.add(row)
            claimed.append(
                (row.id, urls[row.subscription_id], row.body, row.event_type, row.subscription_id)
            )
        return claimed


async def deliver_due(
    maker: async_sessionmaker[AsyncSession],
    http: httpx.AsyncClient,
    *,
    master_key: str,
    now: datetime,
    limit: int = 50,
    concurrency: int = 20,
) -> int:
    """Send up to ``limit`` due deliveries; returns how many were tried."""
    claimed = await _claim(maker, now, limit)
    gate = asyncio.Semaphore(concurrency)

    async def send(
        item: tuple[uuid.UUID, str, dict[str, Any], str, uuid.UUID],
    ) -> tuple[uuid.UUID, int | None, str | None]:
        delivery_id, url, body, event_type, sub_id = item
        raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        secret = subscription_secret(master_key, sub_id)
        headers = {
            "Content-Type": "application/json",
            "X-Gridgov-Delivery": str(delivery_id),
            "X-Gridgov-Event": event_type,
            "X-Gridgov-Signature": signature(secret, int(now.timestamp()), raw),
        }
        async with gate:
            try:
                response = await http.post(url, content=raw, headers=headers)
            except httpx.HTTPError as exc:
                return delivery_id, None, type(exc).__name__
        return delivery_id, response.status_code, None

    outcomes = await asyncio.gather(*(send(item) for item in claimed))
    if outcomes:
        async with maker() as session, session.begin():
            rows = {
                r.id: r
                for r in (
                    await session.execute(
                        sa.select(WebhookDelivery)
                        .where(col(WebhookDelivery.id).in_([o[0] for o in outcomes]))
                        .with_for_update()
                    )
                ).scalars()
            }
            for delivery_id, status_code, error in outcomes:
                row = rows[delivery_id]
                row.attempts += 1
                row.last_status_code, row.last_error = status_code, error
                if status_code is not None and 200 <= status_code < 300:
                    row.status, row.delivered_at = "delivered", now
                else:
                    row.next_attempt_at = now + backoff(row.attempts)
                    if row.next_attempt_at >= row.expires_at:
                        row.status = "failed"
                session.add(row)
    return len(claimed)


class WebhookWorker:
    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        *,
        master_key: str,
        timeout_seconds: float,
        poll_seconds: float = 1.0,
    ) -> None:
        self.maker = maker
        self.master_key = master_key
        self.poll_seconds = poll_seconds
        self.http = httpx.AsyncClient(timeout=timeout_seconds, follow_redirects=False)
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="webhook-worker")

    async def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                sent = await deliver_due(
                    self.maker, self.http, master_key=self.master_key, now=utcnow()
                )
            except Exception as exc:  # keep going through database hiccups
                log.warning("webhook_batch_failed", error=type(exc).__name__)
                sent = 0
            if not sent:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._stop.wait(),
                        max(0.0, self.poll_seconds - (time.monotonic() - started)),
                    )

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
        await self.http.aclose()
