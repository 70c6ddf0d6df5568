"""Every query on broadcasts."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from notify_service.broadcasts.models import Broadcast, BroadcastStatus
from notify_service.notifications.models import Notification


async def get(session: AsyncSession, broadcast_id: uuid.UUID) -> Broadcast | None:
    return await session.get(Broadcast, broadcast_id)


async def claim_one(session: AsyncSession, *, now: datetime) -> Broadcast | None:
    stmt = (
        sa.select(Broadcast)
        .where(
            col(Broadcast.status) == BroadcastStatus.fanning_out,
            col(Broadcast.next_attempt_at) <= now,
        )
        .order_by(col(Broadcast.next_attempt_at))
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def status_counts(session: AsyncSession, broadcast_id: uuid.UUID) -> dict[str, int]:
    stmt = (
        sa.select(col(Notification.status), sa.func.count())
        .where(col(Notification.broadcast_id) == broadcast_id)
        .group_by(col(Notification.status))
    )
    return {status: int(count) for status, count in (await session.execute(stmt)).all()}
