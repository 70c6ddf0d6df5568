"""Every query on attachments."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from case_service.attachments.models import Attachment


async def get(session: AsyncSession, attachment_id: uuid.UUID) -> Attachment | None:
    return await session.get(Attachment, attachment_id)


async def get_many(
    session: AsyncSession, ids: list[uuid.UUID], *, lock: bool = False
) -> list[Attachment]:
    stmt = sa.select(Attachment).where(col(Attachment.id).in_(ids))
    if lock:
        stmt = stmt.with_for_update()
    return list((await session.execute(stmt)).scalars().all())
