"""Every query of members."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from grid_service.accounts.models import Account
from grid_service.members.models import Member


async def get(session: AsyncSession, member_id: uuid.UUID) -> Member | None:
    return await session.get(Member, member_id)


async def area_has_members(session: AsyncSession, area_id: uuid.UUID) -> bool:
    result = await session.execute(
        sa.select(sa.literal(1)).where(col(Member.area_id) == area_id).limit(1)
    )
    return result.first() is not None


async def has_backups(session: AsyncSession, member_id: uuid.UUID) -> bool:
    result = await session.execute(
        sa.select(sa.literal(1)).where(col(Member.backup_for_id) == member_id).limit(1)
    )
    return result.first() is not None


async def of_areas(session: AsyncSession, area_ids: Sequence[uuid.UUID]) -> list[Member]:
    if not area_ids:
        return []
    result = await session.execute(
        sa.select(Member)
        .where(col(Member.area_id).in_(list(area_ids)))
        .order_by(col(Member.area_id), col(Member.created_at), col(Member.id))
    )
    return list(result.scalars().all())


def list_statement(*, area_id: uuid.UUID | None) -> sa.Select[Any]:
    stmt = sa.select(Member)
    if area_id is not None:
        stmt = stmt.where(col(Member.area_id) == area_id)
    return stmt


def published_of_department(department_id: str) -> sa.Select[Any]:
    """Members who consented to the contact card and whose account is an enabled handler of
    the department (paged by ``created_at, id``: ``ix_member_created_at_id``)."""
    handlers = sa.select(col(Account.id)).where(
        col(Account.department_ids).op("@>")(sa.cast([department_id], ARRAY(sa.String(64)))),
        col(Account.disabled).is_(False),
    )
    return sa.select(Member).where(
        col(Member.public_consent).is_(True), col(Member.account_id).in_(handlers)
    )
