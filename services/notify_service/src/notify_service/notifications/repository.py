"""Every query on notifications, their history and delivery receipts."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from notify_service.notifications.models import (
    DUE_STATUSES,
    DeliveryReceipt,
    Notification,
    NotificationEvent,
    NotificationStatus,
    Priority,
)

N = Notification.__table__  # type: ignore[attr-defined]
E = NotificationEvent.__table__  # type: ignore[attr-defined]
R = DeliveryReceipt.__table__  # type: ignore[attr-defined]


async def get(session: AsyncSession, notification_id: uuid.UUID) -> Notification | None:
    return await session.get(Notification, notification_id)


async def get_for_update(session: AsyncSession, notification_id: uuid.UUID) -> Notification | None:
    stmt = sa.select(Notification).where(col(Notification.id) == notification_id).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def find_by_provider_ref_for_update(
    session: AsyncSession, provider: str, provider_message_id: str
) -> Notification | None:
    stmt = (
        sa.select(Notification)
        .where(
            col(Notification.provider) == provider,
            col(Notification.provider_message_id) == provider_message_id,
        )
        .with_for_update()
    )
    return (await session.execute(stmt)).scalars().first()


async def history(session: AsyncSession, notification_id: uuid.UUID) -> list[NotificationEvent]:
    stmt = (
        sa.select(NotificationEvent)
        .where(col(NotificationEvent.notification_id) == notification_id)
        .order_by(col(NotificationEvent.id))
    )
    return list((await session.execute(stmt)).scalars().all())


def _unnest(table: sa.Table, names: Sequence[str]) -> tuple[str, str, str]:
    """For ``names`` of ``table``: the column list, the ``unnest(…)`` of one array parameter
    per column (named after it) and the typed values of ``u``. JSONB travels as text."""
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    arrays, values = [], []
    for name in names:
        column = table.c[name]
        jsonb = isinstance(column.type, postgresql.JSONB)
        element = "text" if jsonb else column.type.compile(dialect=dialect)
        arrays.append(f"CAST(:{name} AS {element}[])")
        values.append(f"CAST(u.{name} AS jsonb)" if jsonb else f"u.{name}")
    unnest = f"unnest({', '.join(arrays)}) AS u({', '.join(names)})"
    return ", ".join(names), unnest, ", ".join(values)


def _arrays(
    table: sa.Table, names: Sequence[str], rows: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    params: dict[str, list[Any]] = {}
    for name in names:
        if isinstance(table.c[name].type, postgresql.JSONB):
            params[name] = [_json(r[name]) for r in rows]
        else:
            params[name] = [r.get(name) for r in rows]
    return params


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# One statement with one parameter per column whatever the number of rows (a page of 500
# recipients is 33 arrays, not 16,500 bind parameters in VALUES lists split into several
# statements or an executemany): INSERT … SELECT FROM unnest(…), UPDATE … FROM unnest(…).
_N_NAMES = [c.name for c in N.columns]
_cols, _unnested, _values = _unnest(N, _N_NAMES)
_INSERT_MANY = sa.text(
    f"INSERT INTO notification ({_cols}) SELECT {_values} FROM {_unnested} "  # noqa: S608 - the model's names; values bound
    "ON CONFLICT (dedup_key) DO NOTHING RETURNING id"
)
_E_NAMES = [c.name for c in E.columns if c.name != "id"]
_cols, _unnested, _values = _unnest(E, _E_NAMES)
_ADD_EVENTS = sa.text(
    f"INSERT INTO notification_event ({_cols}) SELECT {_values} FROM {_unnested}"  # noqa: S608 - the model's names; values bound
)


def _update_many(names: tuple[str, ...]) -> sa.TextClause:
    _, unnested, _ = _unnest(N, ("id", *names))
    sets = ", ".join(
        f"{n} = CAST(u.{n} AS jsonb)"
        if isinstance(N.c[n].type, postgresql.JSONB)
        else f"{n} = u.{n}"
        for n in names
    )
    return sa.text(f"UPDATE notification SET {sets} FROM {unnested} WHERE notification.id = u.id")  # noqa: S608 - the model's names; values bound


_UPDATES: dict[tuple[str, ...], sa.TextClause] = {}


async def insert_many(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> list[uuid.UUID]:
    """Insert notifications; a row whose ``dedup_key`` exists already is skipped."""
    if not rows:
        return []
    result = await session.execute(_INSERT_MANY, _arrays(N, _N_NAMES, rows))
    return list(result.scalars().all())


async def update_many(
    session: AsyncSession, rows: Sequence[dict[str, Any]], names: tuple[str, ...]
) -> None:
    """Write ``names`` of each row (by ``id``) in one statement."""
    if not rows:
        return
    stmt = _UPDATES.get(names)
    if stmt is None:
        stmt = _UPDATES[names] = _update_many(names)
    await session.execute(stmt, _arrays(N, ("id", *names), rows))


async def add_events(session: AsyncSession, events: Sequence[dict[str, Any]]) -> None:
    if events:
        await session.execute(_ADD_EVENTS, _arrays(E, _E_NAMES, events))


async def claim_due(
    session: AsyncSession, *, now: datetime, lease_until: datetime, limit: int
) -> list[Notification]:
    """Claim due notifications, critical ones first (``FOR UPDATE SKIP LOCKED``: several
    workers and replicas never claim the same row)."""
    claimed: list[Notification] = []
    for priority in (Priority.critical, Priority.normal):
        room = limit - len(claimed)
        if room <= 0:
            break
        picked = (
            sa.select(N.c.id)
            .where(
                N.c.priority == priority,
                N.c.status.in_([s.value for s in DUE_STATUSES if s != "unconfirmed"]),
                N.c.next_attempt_at <= now,
            )
            .order_by(N.c.next_attempt_at)
            .limit(room)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        stmt = (
            sa.update(Notification)
            .where(col(Notification.id).in_(picked))
            .values(status=NotificationStatus.sending, claimed_until=lease_until, updated_at=now)
            .returning(Notification)
            .execution_options(synchronize_session=False)
        )
        rows = list((await session.execute(stmt)).scalars().all())
        claimed += sorted(rows, key=lambda n: (n.next_attempt_at, n.created_at))
    return claimed


async def claim_unconfirmed(
    session: AsyncSession, *, now: datetime, lease_until: datetime, limit: int
) -> list[Notification]:
    """Ambiguous sends whose receipt wait is over, to settle through the provider's query API.

    They stay ``unconfirmed`` (a late receipt may still land); ``next_attempt_at`` moves to
    ``lease_until`` so another worker leaves them alone meanwhile.
    """
    due = (
        sa.select(N.c.id)
        .where(N.c.status == NotificationStatus.unconfirmed, N.c.next_attempt_at <= now)
        .order_by(N.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    stmt = (
        sa.update(Notification)
        .where(col(Notification.id).in_(due))
        .values(next_attempt_at=lease_until, updated_at=now)
        .returning(Notification)
        .execution_options(synchronize_session=False)
    )
    return list((await session.execute(stmt)).scalars().all())


async def release_stale_claims(
    session: AsyncSession, *, now: datetime, wait_until: datetime
) -> list[uuid.UUID]:
    """A worker that died mid-batch may have sent: its claims become ``unconfirmed``."""
    stale = (
        sa.select(N.c.id)
        .where(N.c.status == NotificationStatus.sending, N.c.claimed_until < now)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    stmt = (
        sa.update(N)
        .where(N.c.id.in_(stale))
        .values(
            status=NotificationStatus.unconfirmed,
            next_attempt_at=wait_until,
            claimed_until=None,
            last_error_code="claim_expired",
            updated_at=now,
        )
        .returning(N.c.id)
    )
    return list((await session.execute(stmt)).scalars().all())


async def lock_numbers(session: AsyncSession, phones: Sequence[str]) -> None:
    """Transaction-scoped advisory locks on these numbers, taken in a fixed order."""
    await session.execute(
        sa.text(
            "SELECT pg_advisory_xact_lock(hashtext(p)) "
            "FROM (SELECT DISTINCT p FROM unnest(CAST(:phones AS text[])) AS p ORDER BY p) AS s"
        ),
        {"phones": list(phones)},
    )


async def reserve_sms(
    session: AsyncSession, *, providers: dict[uuid.UUID, str], at: datetime
) -> None:
    """Count these SMS as sent at ``at`` for the caps until their result is recorded, and note
    the provider each goes to: if the worker dies mid-send, the expired claim is settled by
    asking that provider's query API (without it the send could only be dead-lettered)."""
    by_provider: dict[str, list[uuid.UUID]] = {}
    for notification_id, provider in providers.items():
        by_provider.setdefault(provider, []).append(notification_id)
    for provider, ids in by_provider.items():
        await session.execute(
            sa.update(N).where(N.c.id.in_(ids)).values(sent_at=at, channel="sms", provider=provider)
        )


async def sms_sent_since(
    session: AsyncSession, *, phones: Sequence[str], since: datetime
) -> dict[str, list[datetime]]:
    """When SMS went to each of these numbers since ``since`` (newest first)."""
    if not phones:
        return {}
    stmt = (
        sa.select(N.c.phone, N.c.sent_at)
        .where(
            N.c.channel == "sms",
            N.c.sent_at.is_not(None),
            N.c.phone.in_(list(set(phones))),
            N.c.sent_at > since,
        )
        .order_by(N.c.sent_at.desc())
    )
    out: dict[str, list[datetime]] = {}
    for phone, sent_at in (await session.execute(stmt)).all():
        out.setdefault(phone, []).append(sent_at)
    return out


async def insert_receipt(session: AsyncSession, values: dict[str, Any]) -> int | None:
    """Store a receipt; ``None`` when the same receipt was stored before."""
    stmt = (
        insert(R)
        .values(**values)
        .on_conflict_do_nothing(
            index_elements=["provider", "provider_message_id", "outcome", "code"]
        )
        .returning(R.c.id)
    )
    found: int | None = (await session.execute(stmt)).scalar_one_or_none()
    return found


async def pending_receipts_for_many(
    session: AsyncSession,
    *,
    notification_ids: Sequence[uuid.UUID],
    refs: Sequence[tuple[str | None, str | None]],
) -> list[tuple[int, uuid.UUID]]:
    """Receipts that arrived before these notifications' send results: (receipt, notification).

    Reads only unapplied receipts (a partial index), so it stays cheap for big batches.
    """
    by_ref = {(p, m): nid for (p, m), nid in zip(refs, notification_ids, strict=True) if p and m}
    ids = set(notification_ids)
    message_ids = [m for _, m in by_ref]
    conditions = [R.c.notification_id.in_(list(ids))]
    if message_ids:
        conditions.append(R.c.provider_message_id.in_(message_ids))
    stmt = (
        sa.select(R.c.id, R.c.provider, R.c.provider_message_id, R.c.notification_id)
        .where(R.c.applied.is_(False), sa.or_(*conditions))
        .order_by(R.c.id)
    )
    out: list[tuple[int, uuid.UUID]] = []
    for rid, provider, message_id, nid in (await session.execute(stmt)).all():
        target = nid if nid in ids else by_ref.get((provider, message_id))
        if target is not None:
            out.append((rid, target))
    return out


async def matchable_pending_receipts(
    session: AsyncSession, *, limit: int
) -> list[tuple[int, uuid.UUID]]:
    """Unapplied receipts whose notification is now known (sweeps a narrow race)."""
    stmt = (
        sa.select(R.c.id, N.c.id)
        .join(
            N,
            sa.or_(
                sa.and_(
                    N.c.provider == R.c.provider,
                    N.c.provider_message_id == R.c.provider_message_id,
                ),
                N.c.id == R.c.notification_id,
            ),
        )
        .where(
            R.c.applied.is_(False),
            N.c.status.in_([NotificationStatus.sent, NotificationStatus.unconfirmed]),
        )
        .limit(limit)
    )
    return [(rid, nid) for rid, nid in (await session.execute(stmt)).all()]
