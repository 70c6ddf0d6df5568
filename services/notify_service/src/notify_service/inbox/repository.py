"""Every query on inbox items."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from notify_service.inbox.models import InboxItem


def list_stmt(*, account_id: uuid.UUID, unread_only: bool) -> sa.Select[Any]:
    stmt = sa.select(InboxItem).where(col(InboxItem.account_id) == account_id)
    if unread_only:
        stmt = stmt.where(col(InboxItem.read_at).is_(None))
    return stmt


async def get_for_update(session: AsyncSession, item_id: uuid.UUID) -> InboxItem | None:
    stmt = sa.select(InboxItem).where(col(InboxItem.id) == item_id).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def unread_count(session: AsyncSession, account_id: uuid.UUID) -> int:
    stmt = sa.select(sa.func.count()).where(
        col(InboxItem.account_id) == account_id, col(InboxItem.read_at).is_(None)
    )
    return int((await session.execute(stmt)).scalar_one())
