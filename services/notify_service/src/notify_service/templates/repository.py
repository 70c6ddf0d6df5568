"""Every query on message templates."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from notify_service.templates.models import MessageTemplate


async def get(session: AsyncSession, template_id: uuid.UUID) -> MessageTemplate | None:
    return await session.get(MessageTemplate, template_id)


async def find(
    session: AsyncSession, *, key: str, channel: str, locale: str
) -> MessageTemplate | None:
    stmt = sa.select(MessageTemplate).where(
        col(MessageTemplate.key) == key,
        col(MessageTemplate.channel) == channel,
        col(MessageTemplate.locale) == locale,
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def for_keys(
    session: AsyncSession, keys: Iterable[str]
) -> dict[tuple[str, str, str], MessageTemplate]:
    """Templates of the given keys, indexed by (key, channel, locale)."""
    wanted = list(set(keys))
    if not wanted:
        return {}
    stmt = sa.select(MessageTemplate).where(col(MessageTemplate.key).in_(wanted))
    rows = (await session.execute(stmt)).scalars().all()
    return {(t.key, t.channel, t.locale): t for t in rows}


def list_stmt(*, key: str | None, channel: str | None) -> sa.Select[Any]:
    stmt = sa.select(MessageTemplate)
    if key:
        stmt = stmt.where(col(MessageTemplate.key) == key)
    if channel:
        stmt = stmt.where(col(MessageTemplate.channel) == channel)
    return stmt
