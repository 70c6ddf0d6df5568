"""Every query of departments."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from grid_service.departments.models import Department


async def get(session: AsyncSession, department_id: uuid.UUID) -> Department | None:
    return await session.get(Department, department_id)


async def get_by_code(session: AsyncSession, code: str) -> Department | None:
    result = await session.execute(sa.select(Department).where(col(Department.code) == code))
    return result.scalar_one_or_none()


async def existing_ids(session: AsyncSession, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    if not ids:
        return set()
    result = await session.execute(sa.select(col(Department.id)).where(col(Department.id).in_(ids)))
    return set(result.scalars().all())


def list_statement(*, category: str | None, area_path: str | None) -> sa.Select[Any]:
    stmt = sa.select(Department)
    if category is not None:
        stmt = stmt.where(
            col(Department.categories).op("@>")(sa.cast([category], ARRAY(sa.String(100))))
        )
    if area_path is not None:
        # serving an area = serving it or one of its ancestors: array overlap (GIN index)
        codes = area_path.split(".")
        ancestors = [".".join(codes[: i + 1]) for i in range(len(codes))]
        stmt = stmt.where(
            col(Department.area_paths).op("&&")(sa.cast(ancestors, ARRAY(sa.String(400))))
        )
    return stmt
