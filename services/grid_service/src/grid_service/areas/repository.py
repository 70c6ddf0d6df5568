"""Every query of the area tree."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from grid_service.areas.models import (
    MEMBERS_VERSION_ID,
    TREE_VERSION_ID,
    Area,
    AreaTreeVersion,
)


def under(path: str) -> sa.ColumnElement[bool]:
    """The area at ``path`` and everything below it (uses the varchar_pattern_ops index)."""
    escaped = path.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return sa.or_(col(Area.path) == path, col(Area.path).like(escaped + ".%"))


async def get(session: AsyncSession, area_id: uuid.UUID) -> Area | None:
    return await session.get(Area, area_id)


async def get_by_code(session: AsyncSession, code: str) -> Area | None:
    result = await session.execute(sa.select(Area).where(col(Area.code) == code))
    return result.scalar_one_or_none()


async def get_by_codes(session: AsyncSession, codes: Iterable[str]) -> dict[str, Area]:
    wanted = list(set(codes))
    if not wanted:
        return {}
    result = await session.execute(sa.select(Area).where(col(Area.code).in_(wanted)))
    return {a.code: a for a in result.scalars().all()}


async def get_by_paths(session: AsyncSession, paths: Iterable[str]) -> dict[str, Area]:
    wanted = list(set(paths))
    if not wanted:
        return {}
    result = await session.execute(sa.select(Area).where(col(Area.path).in_(wanted)))
    return {a.path: a for a in result.scalars().all()}


async def children(session: AsyncSession, parent_ids: Sequence[uuid.UUID]) -> list[Area]:
    if not parent_ids:
        return []
    result = await session.execute(
        sa.select(Area).where(col(Area.parent_id).in_(list(parent_ids))).order_by(col(Area.path))
    )
    return list(result.scalars().all())


async def roots(session: AsyncSession) -> list[Area]:
    result = await session.execute(sa.select(Area).where(col(Area.parent_id).is_(None)))
    return list(result.scalars().all())


async def has_children(session: AsyncSession, area_id: uuid.UUID) -> bool:
    result = await session.execute(
        sa.select(sa.literal(1)).where(col(Area.parent_id) == area_id).limit(1)
    )
    return result.first() is not None


async def subtree(session: AsyncSession, path: str | None) -> list[Area]:
    stmt = sa.select(Area).order_by(col(Area.path))
    if path is not None:
        stmt = stmt.where(under(path))
    result = await session.execute(stmt)
    return list(result.scalars().all())


def list_statement(
    *, parent_id: uuid.UUID | None, level: str | None, under_path: str | None
) -> sa.Select[Any]:
    stmt = sa.select(Area)
    if parent_id is not None:
        stmt = stmt.where(col(Area.parent_id) == parent_id)
    if level is not None:
        stmt = stmt.where(col(Area.level) == level)
    if under_path is not None:
        stmt = stmt.where(under(under_path))
    return stmt


_TREE_LOCK = 0x61726561  # pg advisory lock id ("area"): one tree change at a time


async def lock_tree(session: AsyncSession) -> None:
    """Serialise changes of the tree until the transaction ends, so two concurrent writes
    cannot both pass the overlap and duplicate checks."""
    await session.execute(sa.select(sa.func.pg_advisory_xact_lock(_TREE_LOCK)))


#: ``session.info`` key set by :func:`bump_version`: this transaction changed a version.
VERSIONS_CHANGED = "grid_service.versions_changed"


async def bump_version(session: AsyncSession, which: int = TREE_VERSION_ID) -> int:
    """Change a version (the tree's by default). Time-based (microseconds) and strictly
    increasing, so a version never repeats even if the table is emptied and refilled."""
    table = AreaTreeVersion.__table__  # type: ignore[attr-defined]
    now_us = sa.cast(sa.func.extract("epoch", sa.func.clock_timestamp()) * 1_000_000, sa.BigInteger)
    stmt = (
        insert(table)
        .values(id=which, version=now_us, updated_at=sa.func.now())
        .on_conflict_do_update(
            index_elements=[table.c.id],
            set_={
                "version": sa.func.greatest(table.c.version + 1, now_us),
                "updated_at": sa.func.now(),
            },
        )
        .returning(table.c.version)
    )
    version = int((await session.execute(stmt)).scalar_one())
    # read after commit by the locator of this replica (grid_service.locate.index), which
    # then answers its next locate from the changed tree or posts
    session.info[VERSIONS_CHANGED] = True
    return version


async def current_versions(session: AsyncSession) -> tuple[int, int]:
    """``(tree version, members version)`` in one primary-key read (0 when never changed)."""
    result = await session.execute(
        sa.select(col(AreaTreeVersion.id), col(AreaTreeVersion.version)).where(
            col(AreaTreeVersion.id).in_([TREE_VERSION_ID, MEMBERS_VERSION_ID])
        )
    )
    found = {int(row[0]): int(row[1]) for row in result.all()}
    return found.get(TREE_VERSION_ID, 0), found.get(MEMBERS_VERSION_ID, 0)
