"""Every query of basic information."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

from grid_service.basicinfo.models import (
    Household,
    Resident,
    SpecialGroupTag,
    StandardAddress,
)

M = TypeVar("M", bound=SQLModel)


def under_any(column: Any, paths: Sequence[str]) -> sa.ColumnElement[bool]:
    """Rows whose area path is one of ``paths`` or lies below one (varchar_pattern_ops index)."""
    clauses: list[sa.ColumnElement[bool]] = []
    for path in paths:
        escaped = path.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        clauses.append(sa.or_(column == path, column.like(escaped + ".%")))
    return sa.or_(*clauses) if clauses else sa.false()


async def get(
    session: AsyncSession, model: type[M], row_id: uuid.UUID, *, lock: bool = False
) -> M | None:
    stmt = sa.select(model).where(model.id == row_id)  # type: ignore[attr-defined]
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


def list_statement(model: type[M], paths: Sequence[str], **equal: Any) -> sa.Select[Any]:
    stmt = sa.select(model).where(under_any(model.area_path, paths))  # type: ignore[attr-defined]
    for name, value in equal.items():
        if value is not None:
            stmt = stmt.where(getattr(model, name) == value)
    return stmt


async def resident_by_hash(session: AsyncSession, id_number_hash: str) -> Resident | None:
    result = await session.execute(
        sa.select(Resident).where(col(Resident.id_number_hash) == id_number_hash)
    )
    return result.scalar_one_or_none()


async def existing_hashes(session: AsyncSession, hashes: Iterable[str]) -> set[str]:
    wanted = list(set(hashes))
    if not wanted:
        return set()
    result = await session.execute(
        sa.select(col(Resident.id_number_hash)).where(col(Resident.id_number_hash).in_(wanted))
    )
    return set(result.scalars().all())


async def addresses_in(session: AsyncSession, area_id: uuid.UUID) -> list[StandardAddress]:
    result = await session.execute(
        sa.select(StandardAddress).where(col(StandardAddress.area_id) == area_id)
    )
    return list(result.scalars().all())


async def households_in(session: AsyncSession, area_id: uuid.UUID) -> dict[str, Household]:
    result = await session.execute(sa.select(Household).where(col(Household.area_id) == area_id))
    return {h.household_no: h for h in result.scalars().all()}


async def members(session: AsyncSession, household_id: uuid.UUID) -> list[Resident]:
    result = await session.execute(
        sa.select(Resident)
        .where(col(Resident.household_id) == household_id)
        .order_by(col(Resident.created_at), col(Resident.id))
    )
    return list(result.scalars().all())


async def tags_of(
    session: AsyncSession, resident_ids: Sequence[uuid.UUID], tags: Iterable[str]
) -> list[SpecialGroupTag]:
    wanted = list(tags)
    if not resident_ids or not wanted:
        return []
    result = await session.execute(
        sa.select(SpecialGroupTag)
        .where(
            col(SpecialGroupTag.resident_id).in_(list(resident_ids)),
            col(SpecialGroupTag.tag).in_(wanted),
        )
        .order_by(col(SpecialGroupTag.tag))
    )
    return list(result.scalars().all())


async def tag(session: AsyncSession, resident_id: uuid.UUID, tag: str) -> SpecialGroupTag | None:
    result = await session.execute(
        sa.select(SpecialGroupTag).where(
            col(SpecialGroupTag.resident_id) == resident_id, col(SpecialGroupTag.tag) == tag
        )
    )
    return result.scalar_one_or_none()


def tagged_statement(
    tags: Sequence[str], paths: Sequence[str], *, due_by: date | None = None
) -> sa.Select[Any]:
    """Tags of ``tags`` inside ``paths`` with their resident's name and current address (one
    statement; with ``due_by`` only the follow-ups due by then)."""
    t = SpecialGroupTag.__table__  # type: ignore[attr-defined]
    r = Resident.__table__  # type: ignore[attr-defined]
    a = StandardAddress.__table__  # type: ignore[attr-defined]
    stmt = (
        sa.select(
            t,
            r.c.name.label("resident_name"),
            a.c.street_address,
            a.c.building_no,
            a.c.unit_no,
            a.c.room_no,
        )
        .join(r, r.c.id == t.c.resident_id)
        .outerjoin(a, a.c.id == r.c.current_address_id)
        .where(t.c.tag.in_(list(tags)), under_any(t.c.area_path, paths))
    )
    if due_by is not None:
        stmt = stmt.where(t.c.next_follow_up_on.is_not(None), t.c.next_follow_up_on <= due_by)
    return stmt


async def addresses_by_id(
    session: AsyncSession, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, StandardAddress]:
    wanted = list(ids)
    if not wanted:
        return {}
    result = await session.execute(
        sa.select(StandardAddress).where(col(StandardAddress.id).in_(wanted))
    )
    return {a.id: a for a in result.scalars()}
