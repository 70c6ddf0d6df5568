"""Every query of patrols."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from grid_service.areas.models import Area
from grid_service.basicinfo.repository import under_any
from grid_service.patrols.models import Patrol, PatrolCheckIn, PatrolFinding, PatrolTrackPoint


async def get(session: AsyncSession, patrol_id: uuid.UUID, *, lock: bool = False) -> Patrol | None:
    stmt = sa.select(Patrol).where(col(Patrol.id) == patrol_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def insert_new(session: AsyncSession, model: Any, rows: Sequence[dict[str, Any]]) -> int:
    """INSERT … ON CONFLICT (id) DO NOTHING; the number of rows that were new."""
    if not rows:
        return 0
    table = model.__table__
    result = await session.execute(
        insert(table)
        .values(list(rows))
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(table.c.id)
    )
    return len(result.all())


async def owners(
    session: AsyncSession, model: Any, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    """id → patrol id of rows already stored (a client id reused for another patrol)."""
    if not ids:
        return {}
    table = model.__table__
    result = await session.execute(
        sa.select(table.c.id, table.c.patrol_id).where(table.c.id.in_(list(ids)))
    )
    return {row.id: row.patrol_id for row in result}


async def track(session: AsyncSession, patrol_id: uuid.UUID) -> list[tuple[float, float]]:
    result = await session.execute(
        sa.select(col(PatrolTrackPoint.lat), col(PatrolTrackPoint.lng))
        .where(col(PatrolTrackPoint.patrol_id) == patrol_id)
        .order_by(col(PatrolTrackPoint.recorded_at), col(PatrolTrackPoint.id))
    )
    return [(row[0], row[1]) for row in result]


async def check_in_count(session: AsyncSession, patrol_id: uuid.UUID) -> int:
    result = await session.execute(
        sa.select(sa.func.count()).where(col(PatrolCheckIn.patrol_id) == patrol_id)
    )
    return int(result.scalar_one())


async def findings(session: AsyncSession, patrol_id: uuid.UUID) -> list[PatrolFinding]:
    result = await session.execute(
        sa.select(PatrolFinding)
        .where(col(PatrolFinding.patrol_id) == patrol_id)
        .order_by(col(PatrolFinding.found_at), col(PatrolFinding.id))
    )
    return list(result.scalars().all())


async def finding(
    session: AsyncSession, patrol_id: uuid.UUID, finding_id: uuid.UUID
) -> PatrolFinding | None:
    result = await session.execute(
        sa.select(PatrolFinding)
        .where(col(PatrolFinding.id) == finding_id, col(PatrolFinding.patrol_id) == patrol_id)
        .with_for_update()
    )
    return result.scalar_one_or_none()


async def grids_under(session: AsyncSession, path: str) -> list[Area]:
    result = await session.execute(
        sa.select(Area)
        .where(under_any(col(Area.path), [path]), col(Area.level) == "grid")
        .order_by(col(Area.path))
    )
    return list(result.scalars().all())


async def patrols_between(
    session: AsyncSession, path: str, start: datetime, end: datetime
) -> list[Patrol]:
    result = await session.execute(
        sa.select(Patrol).where(
            col(Patrol.started_at) >= start,
            col(Patrol.started_at) < end,
            under_any(col(Patrol.area_path), [path]),
        )
    )
    return list(result.scalars().all())


def list_statement(
    paths: Sequence[str], *, worker_id: str | None, start: datetime | None, end: datetime | None
) -> sa.Select[Any]:
    stmt = sa.select(Patrol).where(under_any(col(Patrol.area_path), paths))
    if worker_id is not None:
        stmt = stmt.where(col(Patrol.worker_id) == worker_id)
    if start is not None and end is not None:
        stmt = stmt.where(col(Patrol.started_at) >= start, col(Patrol.started_at) < end)
    return stmt
