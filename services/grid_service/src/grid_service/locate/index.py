"""The in-memory spatial index of the area tree (shapely 2 STRtree).

Every replica holds one. Before answering it compares the tree version in the database (one
primary-key read, at most every ``locate_version_check_seconds``) with the version it was built
at, and rebuilds when they differ — so a change made through any replica reaches all of them.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import shapely
import sqlalchemy as sa
from shapely.geometry import shape
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from grid_service.areas import repository as areas_repository
from grid_service.areas.models import Area
from grid_service.members.holders import PostHolder
from grid_service.members.models import Member
from grid_service.members.service import answering
from shared.contracts.grids import AreaLevel, AreaRef
from shared.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class IndexedArea:
    ref: AreaRef
    depth: int


class SpatialIndex:
    """An immutable snapshot: areas, their polygons and an STRtree over them."""

    def __init__(self, areas: list[IndexedArea], geometries: list[object], version: int) -> None:
        self.version = version
        self.areas = areas
        self.by_path = {a.ref.path: a for a in areas}
        self._depths = np.array([a.depth for a in areas], dtype=np.int32)
        self._geoms = np.array(geometries, dtype=object)
        shapely.prepare(self._geoms)
        self._tree = shapely.STRtree(self._geoms)

    @classmethod
    def build(cls, rows: list[tuple[Any, ...]], version: int) -> SpatialIndex:
        areas: list[IndexedArea] = []
        geometries: list[object] = []
        for area_id, code, name, level, path, depth, boundary in rows:
            areas.append(
                IndexedArea(
                    ref=AreaRef(
                        id=area_id,
                        code=str(code),
                        name=str(name),
                        level=AreaLevel(str(level)),
                        path=str(path),
                    ),
                    depth=int(depth),
                )
            )
            geometries.append(shape(boundary))
        return cls(areas, geometries, version)

    def __len__(self) -> int:
        return len(self.areas)

    def locate(self, lat: float, lng: float) -> IndexedArea | None:
        """The deepest area whose polygon covers the point (boundary points included)."""
        hits = self._tree.query(shapely.Point(lng, lat), predicate="intersects")
        if len(hits) == 0:
            return None
        best = hits[int(np.argmax(self._depths[hits]))]
        return self.areas[int(best)]

    def locate_many(self, lats: np.ndarray, lngs: np.ndarray) -> list[IndexedArea | None]:
        points = shapely.points(lngs, lats)
        point_idx, geom_idx = self._tree.query(points, predicate="intersects")
        best: dict[int, int] = {}
        for p, g in zip(point_idx.tolist(), geom_idx.tolist(), strict=True):
            current = best.get(p)
            if current is None or self._depths[g] > self._depths[current]:
                best[p] = g
        return [self.areas[best[i]] if i in best else None for i in range(len(points))]

    def ancestors(self, area: IndexedArea) -> list[AreaRef]:
        codes = area.ref.path.split(".")
        out: list[AreaRef] = []
        for i in range(1, len(codes)):
            found = self.by_path.get(".".join(codes[:i]))
            if found is not None:
                out.append(found.ref)
        return out

    def chain_ids(self, area: IndexedArea) -> list[uuid.UUID]:
        """The area and its ancestors' ids, lowest first."""
        return [area.ref.id] + [a.id for a in reversed(self.ancestors(area))]


class Locator:
    """Holds one replica's :class:`SpatialIndex` and who holds which post in each area, and
    keeps both fresh: a locate request then needs no database query at all, except the
    version read at most every ``check_interval`` seconds."""

    def __init__(self, *, check_interval: float) -> None:
        self.check_interval = check_interval
        self.index = SpatialIndex([], [], version=-1)
        self.members_version = -1
        self.members_by_area: dict[uuid.UUID, list[PostHolder]] = {}
        self._checked_at = float("-inf")
        self._lock = asyncio.Lock()

    async def current(self, session: AsyncSession) -> SpatialIndex:
        if time.monotonic() - self._checked_at < self.check_interval:
            return self.index
        tree_version, members_version = await areas_repository.current_versions(session)
        if tree_version != self.index.version or members_version != self.members_version:
            async with self._lock:
                if tree_version != self.index.version:
                    await self._rebuild(session, tree_version)
                if members_version != self.members_version:
                    await self._reload_members(session, members_version)
        self._checked_at = time.monotonic()
        return self.index

    def responsible(self, chain: list[uuid.UUID], now: datetime) -> list[tuple[PostHolder, bool]]:
        """Who answers now in the lowest area of ``chain`` (lowest first) that has anyone."""
        for area_id in chain:
            found = answering(self.members_by_area.get(area_id, []), now)
            if found:
                return found
        return []

    async def _reload_members(self, session: AsyncSession, version: int) -> None:
        result = await session.execute(
            sa.select(Member).order_by(col(Member.area_id), col(Member.created_at), col(Member.id))
        )
        by_area: dict[uuid.UUID, list[PostHolder]] = {}
        for m in result.scalars().all():
            by_area.setdefault(m.area_id, []).append(
                PostHolder(
                    id=m.id,
                    area_id=m.area_id,
                    post=m.post,
                    name=m.name,
                    phone=m.phone,
                    duties=m.duties,
                    account_id=m.account_id,
                    public_consent=m.public_consent,
                    backup_for_id=m.backup_for_id,
                    away_since=m.away_since,
                    away_until=m.away_until,
                    created_at=m.created_at,
                )
            )
        self.members_by_area = by_area
        self.members_version = version

    async def _rebuild(self, session: AsyncSession, version: int) -> None:
        started = time.perf_counter()
        result = await session.execute(
            sa.select(
                col(Area.id),
                col(Area.code),
                col(Area.name),
                col(Area.level),
                col(Area.path),
                col(Area.depth),
                col(Area.boundary),
            )
        )
        rows: list[tuple[Any, ...]] = [tuple(r) for r in result.all()]
        self.index = await asyncio.to_thread(SpatialIndex.build, rows, version)
        log.info(
            "spatial_index_rebuilt",
            version=version,
            areas=len(rows),
            seconds=round(time.perf_counter() - started, 3),
        )
