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
from grid_service.patrols.plausibility import Fix


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


async def stored(
    session: AsyncSession, model: Any, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """id → the stored row (as a mapping) of the ids already stored."""
    if not ids:
        return {}
    table = model.__table__
    result = await session.execute(sa.select(table).where(table.c.id.in_(list(ids))))
    return {row.id: dict(row._mapping) for row in result}


async def open_patrol(session: AsyncSession, worker_id: str) -> Patrol | None:
    result = await session.execute(
        sa.select(Patrol).where(col(Patrol.worker_id) == worker_id, col(Patrol.ended_at).is_(None))
    )
    return result.scalars().first()


async def fixes(session: AsyncSession, patrol_id: uuid.UUID) -> list[Fix]:
    t = PatrolTrackPoint.__table__  # type: ignore[attr-defined]
    result = await session.execute(
        sa.select(t.c.id, t.c.recorded_at, t.c.lat, t.c.lng).where(t.c.patrol_id == patrol_id)
    )
    return [Fix(row.id, row.recorded_at, row.lat, row.lng) for row in result]


async def track_points(session: AsyncSession, patrol_id: uuid.UUID) -> list[PatrolTrackPoint]:
    result = await session.execute(
        sa.select(PatrolTrackPoint)
        .where(col(PatrolTrackPoint.patrol_id) == patrol_id)
        .order_by(col(PatrolTrackPoint.recorded_at), col(PatrolTrackPoint.id))
    )
    return list(result.scalars().all())


async def set_outliers(session: AsyncSession, patrol_id: uuid.UUID, ids: set[uuid.UUID]) -> None:
    t = PatrolTrackPoint.__table__  # type: ignore[attr-defined]
    await session.execute(
        sa.update(t)
        .where(t.c.patrol_id == patrol_id)
        .values(outlier=t.c.id.in_(list(ids)) if ids else sa.false())
    )


async def district_boundary(session: AsyncSession, area_path: str) -> dict[str, Any] | None:
    """The boundary of the district (区/县) above a grid; without one, the grid's own."""
    parts = area_path.split(".")
    prefixes = [".".join(parts[: i + 1]) for i in range(len(parts))]
    result = await session.execute(
        sa.select(col(Area.level), col(Area.boundary), col(Area.path)).where(
            col(Area.path).in_(prefixes)
        )
    )
    rows = {row.path: row for row in result}
    for path in prefixes:
        if path in rows and rows[path].level == "district":
            return dict(rows[path].boundary)
    own = rows.get(area_path)
    return dict(own.boundary) if own is not None else None


async def last_recorded_at(session: AsyncSession, patrol_id: uuid.UUID) -> datetime | None:
    times = [
        sa.select(sa.func.max(col(PatrolTrackPoint.recorded_at))).where(
            col(PatrolTrackPoint.patrol_id) == patrol_id
        ),
        sa.select(sa.func.max(col(PatrolCheckIn.checked_in_at))).where(
            col(PatrolCheckIn.patrol_id) == patrol_id
        ),
        sa.select(sa.func.max(col(PatrolFinding.found_at))).where(
            col(PatrolFinding.patrol_id) == patrol_id
        ),
    ]
    result = await session.execute(
        sa.select(sa.func.greatest(*(q.scalar_subquery() for q in times)))
    )
    value: datetime | None = result.scalar_one()
    return value


def findings_without_case_statement(paths: Sequence[str]) -> sa.Select[Any]:
    """Reported findings with no case id yet, inside ``paths`` (the partial index
    ix_patrol_finding_without_case)."""
    f = PatrolFinding.__table__  # type: ignore[attr-defined]
    p = Patrol.__table__  # type: ignore[attr-defined]
    return (
        sa.select(f, p.c.area_path, p.c.worker_id, p.c.worker_name)
        .join(p, p.c.id == f.c.patrol_id)
        .where(
            f.c.outcome == "reported",
            f.c.case_id.is_(None),
            under_any(p.c.area_path, paths),
        )
    )


async def check_in_count(session: AsyncSession, patrol_id: uuid.UUID) -> int:
    result = await session.execute(
        sa.select(sa.func.count()).where(col(PatrolCheckIn.patrol_id) == patrol_id)
    )
    return int(result.scalar_one())


async def outlier_count(session: AsyncSession, patrol_id: uuid.UUID) -> int:
    result = await session.execute(
        sa.select(sa.func.count()).where(
            col(PatrolTrackPoint.patrol_id) == patrol_id, col(PatrolTrackPoint.outlier)
        )
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
