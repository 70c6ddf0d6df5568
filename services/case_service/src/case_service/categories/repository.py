"""Every query on the category catalogue."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from case_service.categories.models import Category


async def get_current(session: AsyncSession, code: str, *, lock: bool = False) -> Category | None:
    stmt = sa.select(Category).where(col(Category.code) == code, col(Category.is_current))
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_version(session: AsyncSession, category_id: uuid.UUID) -> Category | None:
    return await session.get(Category, category_id)


async def list_current(
    session: AsyncSession,
    *,
    parent_code: str | None = None,
    top_level: bool = False,
    kind: str | None = None,
    include_inactive: bool = False,
) -> list[Category]:
    stmt = sa.select(Category).where(col(Category.is_current))
    if parent_code is not None:
        stmt = stmt.where(col(Category.parent_code) == parent_code)
    if top_level:
        stmt = stmt.where(col(Category.parent_code).is_(None))
    if kind is not None:
        stmt = stmt.where(col(Category.kind) == kind)
    if not include_inactive:
        stmt = stmt.where(col(Category.active))
    stmt = stmt.order_by(col(Category.code))
    return list((await session.execute(stmt)).scalars().all())


async def versions(session: AsyncSession, code: str) -> list[Category]:
    stmt = (
        sa.select(Category).where(col(Category.code) == code).order_by(col(Category.version).desc())
    )
    return list((await session.execute(stmt)).scalars().all())
