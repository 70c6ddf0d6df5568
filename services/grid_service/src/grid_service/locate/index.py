"""The in-memory spatial index of the area tree (shapely 2 STRtree).

Every replica holds one, with a snapshot of who holds which post, and a locate request reads
only these: no database session, no query. They are kept current two ways:

* a background task of each replica reads the tree and members versions (one primary-key
  read, in a session of its own) every ``locate_version_check_seconds`` and rebuilds what
  changed, while the old snapshot keeps answering — so a change made through any replica
  reaches all of them within that interval plus the rebuild's time;
* a transaction of this replica that changed a version (``areas.repository.bump_version``)
  marks the locator stale when it commits, and the next locate waits for the rebuild — so
  whoever changed the tree through a replica sees the change in that replica's next answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import gc
import sys
import time
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import shapely
import sqlalchemy as sa
from shapely.geometry import shape
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session
from sqlmodel import col

from grid_service.areas import repository as areas_repository
from grid_service.areas.models import Area
from grid_service.members.holders import PostHolder
from grid_service.members.models import Member
from grid_service.members.service import answering
from shared.contracts.grids import AreaLevel, AreaRef
from shared.logging import get_logger

log = get_logger(__name__)

# Rows are read from a server-side cursor this many at a time, so that only one chunk of raw
# rows (and, for the tree, of GeoJSON text) is alive at once next to the old snapshot.
CHUNK_ROWS = 2_000


class IndexedArea:
    """One area of a :class:`SpatialIndex`, made on demand from the index's columns."""

    __slots__ = ("_index", "position")

    def __init__(self, index: SpatialIndex, position: int) -> None:
        self._index = index
        self.position = position

    @property
    def ref(self) -> AreaRef:
        return self._index.ref(self.position)

    @property
    def depth(self) -> int:
        return int(self._index.depths[self.position])

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, IndexedArea)
            and other._index is self._index
            and other.position == self.position
        )

    def __hash__(self) -> int:
        return hash((id(self._index), self.position))


class SpatialIndex:
    """An immutable snapshot: areas, their polygons and an STRtree over them.

    Kept compact, as every replica holds one (and briefly two, while a rebuild replaces it):
    the areas are columns (ids as one 16-byte array, codes, names, levels, paths), an
    ``AreaRef`` is made only when an answer needs one (ancestors' are cached: there are few),
    and each polygon exists once, as the shapely geometry the STRtree holds."""

    __slots__ = (
        "_by_path",
        "_codes",
        "_geoms",
        "_ids",
        "_levels",
        "_names",
        "_paths",
        "_refs",
        "_tree",
        "depths",
        "version",
    )

    def __init__(
        self,
        *,
        ids: Sequence[uuid.UUID],
        codes: list[str],
        names: list[str],
        levels: list[AreaLevel],
        paths: list[str],
        depths: Sequence[int],
        geometries: Any,
        version: int,
    ) -> None:
        self.version = version
        self._ids = b"".join(i.bytes for i in ids)  # 16 bytes an area
        self._codes, self._names, self._levels, self._paths = codes, names, levels, paths
        self.depths = np.asarray(depths, dtype=np.int32)
        self._by_path = {p: i for i, p in enumerate(paths)}
        self._geoms = (
            geometries if isinstance(geometries, np.ndarray) else _object_array(geometries)
        )
        shapely.prepare(self._geoms)
        self._tree = shapely.STRtree(self._geoms)
        self._refs: dict[int, AreaRef] = {}

    @classmethod
    def empty(cls, version: int = -1) -> SpatialIndex:
        return cls(
            ids=[],
            codes=[],
            names=[],
            levels=[],
            paths=[],
            depths=[],
            geometries=[],
            version=version,
        )

    @classmethod
    def build(cls, rows: Iterable[Sequence[Any]], version: int) -> SpatialIndex:
        """From ``(id, code, name, level, path, depth, boundary)`` rows; the boundary is GeoJSON,
        as a ``dict`` or as text."""
        builder = _Builder()
        builder.add(rows)
        return builder.finish(version)

    def __len__(self) -> int:
        return len(self._paths)

    def ref(self, position: int) -> AreaRef:
        return AreaRef(
            id=uuid.UUID(bytes=self._ids[16 * position : 16 * position + 16]),
            code=self._codes[position],
            name=self._names[position],
            level=self._levels[position],
            path=self._paths[position],
        )

    def area_id(self, position: int) -> uuid.UUID:
        return uuid.UUID(bytes=self._ids[16 * position : 16 * position + 16])

    def locate(self, lat: float, lng: float) -> IndexedArea | None:
        """The deepest area whose polygon covers the point (boundary points included)."""
        hits = self._tree.query(shapely.Point(lng, lat), predicate="intersects")
        if len(hits) == 0:
            return None
        best = hits[int(np.argmax(self.depths[hits]))]
        return IndexedArea(self, int(best))

    def locate_many(self, lats: np.ndarray, lngs: np.ndarray) -> list[IndexedArea | None]:
        points = shapely.points(lngs, lats)
        point_idx, geom_idx = self._tree.query(points, predicate="intersects")
        best: dict[int, int] = {}
        depths = self.depths
        for p, g in zip(point_idx.tolist(), geom_idx.tolist(), strict=True):
            current = best.get(p)
            if current is None or depths[g] > depths[current]:
                best[p] = g
        return [IndexedArea(self, best[i]) if i in best else None for i in range(len(points))]

    def _ancestor_positions(self, area: IndexedArea) -> list[int]:
        codes = self._paths[area.position].split(".")
        out: list[int] = []
        for i in range(1, len(codes)):
            found = self._by_path.get(".".join(codes[:i]))
            if found is not None:
                out.append(found)
        return out

    def ancestors(self, area: IndexedArea) -> list[AreaRef]:
        out: list[AreaRef] = []
        for position in self._ancestor_positions(area):
            ref = self._refs.get(position)
            if ref is None:  # an ancestor is never a leaf: this cache stays small
                ref = self._refs[position] = self.ref(position)
            out.append(ref)
        return out

    def chain_ids(self, area: IndexedArea) -> list[uuid.UUID]:
        """The area and its ancestors' ids, lowest first."""
        positions = [area.position, *reversed(self._ancestor_positions(area))]
        return [self.area_id(p) for p in positions]


class _Builder:
    """Collects the columns of a :class:`SpatialIndex` chunk by chunk."""

    def __init__(self) -> None:
        self.ids: list[uuid.UUID] = []
        self.codes: list[str] = []
        self.names: list[str] = []
        self.levels: list[AreaLevel] = []
        self.paths: list[str] = []
        self.depths: list[int] = []
        self.geometries: list[np.ndarray] = []

    def add(self, rows: Iterable[Sequence[Any]]) -> None:
        texts: list[str] = []
        shapes: list[object] = []
        for area_id, code, name, level, path, depth, boundary in rows:
            self.ids.append(area_id if isinstance(area_id, uuid.UUID) else uuid.UUID(str(area_id)))
            self.codes.append(str(code))
            self.names.append(str(name))
            self.levels.append(AreaLevel(str(level)))
            self.paths.append(str(path))
            self.depths.append(int(depth))
            if isinstance(boundary, str):
                texts.append(boundary)
            else:
                shapes.append(shape(boundary))
        if texts and shapes:
            raise ValueError("boundaries of one chunk must all be text or all be mappings")
        # GEOS parses the GeoJSON text itself: no Python dicts and lists of every coordinate
        self.geometries.append(shapely.from_geojson(texts) if texts else _object_array(shapes))

    def finish(self, version: int) -> SpatialIndex:
        geometries: np.ndarray = (
            np.concatenate(self.geometries) if self.geometries else _object_array([])
        )
        self.geometries = []
        return SpatialIndex(
            ids=self.ids,
            codes=self.codes,
            names=self.names,
            levels=self.levels,
            paths=self.paths,
            depths=self.depths,
            geometries=geometries,
            version=version,
        )


def _object_array(items: Sequence[object]) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


def _release_freed_memory() -> None:
    """Hand memory freed by a rebuild back to the operating system.

    A rebuild allocates and frees a lot of small blocks (rows of the old snapshot, GeoJSON text,
    GEOS temporaries) in the C heap; glibc keeps freed blocks in its arenas and the process's
    RSS stays at its peak even though nothing uses them. ``malloc_trim(0)`` returns the free
    pages of every arena (including those in the middle of the heap) to the kernel. Not glibc
    (musl, macOS): nothing to do."""
    gc.collect()
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return
    trim.argtypes = [ctypes.c_size_t]
    trim(0)


#: ``session.info`` key of the :class:`Locator` told when a version-changing transaction commits
LOCATOR_INFO_KEY = "grid_service.locator"


@event.listens_for(Session, "after_commit")
def _tell_locator(session: Session) -> None:
    """After the COMMIT (not before it: a refresh must read the committed version)."""
    if session.info.pop(areas_repository.VERSIONS_CHANGED, False):
        locator = session.info.get(LOCATOR_INFO_KEY)
        if isinstance(locator, Locator):
            locator.changed()


@event.listens_for(Session, "after_rollback")
def _forget_change(session: Session) -> None:
    session.info.pop(areas_repository.VERSIONS_CHANGED, None)


class Locator:
    """Holds one replica's :class:`SpatialIndex` and who holds which post in each area, and
    keeps both fresh (see the module's description): a locate request needs no database."""

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], *, check_interval: float
    ) -> None:
        if check_interval <= 0:
            raise ValueError("check_interval must be positive")
        self.sessionmaker = sessionmaker
        self.check_interval = check_interval
        self.index = SpatialIndex.empty()
        self.members_version = -1
        self.members_by_area: dict[uuid.UUID, list[PostHolder]] = {}
        #: when the versions were last read (``time.monotonic()``)
        self.checked_at = float("-inf")
        self._stale = False
        self._failing = False
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def watch(self) -> None:
        """Be told by this sessionmaker's sessions when they commit a changed version."""
        self.sessionmaker.configure(info={LOCATOR_INFO_KEY: self})

    def changed(self) -> None:
        """A version changed in a committed transaction of this replica."""
        self._stale = True

    async def current(self) -> SpatialIndex:
        """The index to answer from: the snapshot in memory, rebuilt first only when this
        replica itself committed a change since the last refresh."""
        if self._stale:
            async with self._lock:
                if self._stale:  # not already refreshed by a request that waited before us
                    try:
                        await self._refresh_locked()
                    except Exception as exc:
                        # the database away: answer from what is here (not marked stale again,
                        # or every locate would wait on it); the background check catches up
                        log.warning("locator_refresh_failed", error=type(exc).__name__)
        return self.index

    async def refresh(self) -> None:
        """Read both versions and rebuild what changed (the start-up build, and each tick of
        the background task)."""
        async with self._lock:
            await self._refresh_locked()

    async def _refresh_locked(self) -> None:
        self._stale = False  # a change committed from here on marks it again
        async with self.sessionmaker() as session:
            tree_version, members_version = await areas_repository.current_versions(session)
            if tree_version != self.index.version:
                await self._rebuild(session, tree_version)
            if members_version != self.members_version:
                await self._reload_members(session, members_version)
        self.checked_at = time.monotonic()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="locator-refresh")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.check_interval)
            try:
                await self.refresh()
            except Exception as exc:  # the database away, or not migrated yet: try next tick
                if not self._failing:  # once, not every tick
                    log.warning("locator_refresh_failed", error=type(exc).__name__)
                self._failing = True
            else:
                if self._failing:
                    log.info("locator_refresh_recovered")
                self._failing = False

    def responsible(self, chain: list[uuid.UUID], now: datetime) -> list[tuple[PostHolder, bool]]:
        """Who answers now in the lowest area of ``chain`` (lowest first) that has anyone."""
        for area_id in chain:
            found = answering(self.members_by_area.get(area_id, []), now)
            if found:
                return found
        return []

    async def _reload_members(self, session: AsyncSession, version: int) -> None:
        # Core rows of the columns the rules need, a chunk at a time: ORM instances of every
        # post (with their identity map) cost several times the snapshot they are copied into.
        result = await session.stream(
            sa.select(
                col(Member.id),
                col(Member.area_id),
                col(Member.post),
                col(Member.name),
                col(Member.phone),
                col(Member.duties),
                col(Member.account_id),
                col(Member.public_consent),
                col(Member.backup_for_id),
                col(Member.away_since),
                col(Member.away_until),
                col(Member.created_at),
            )
            .order_by(col(Member.area_id), col(Member.created_at), col(Member.id))
            .execution_options(yield_per=CHUNK_ROWS)
        )
        by_area: dict[uuid.UUID, list[PostHolder]] = {}
        async for rows in result.partitions(CHUNK_ROWS):
            for row in rows:
                holders = by_area.get(row[1])
                if holders is None:
                    holders = by_area[row[1]] = []
                holders.append(
                    PostHolder(
                        id=row[0],
                        # one area id object per area, the post names interned
                        area_id=holders[0].area_id if holders else row[1],
                        post=sys.intern(row[2]),
                        name=row[3],
                        phone=row[4],
                        duties=row[5],
                        account_id=row[6],
                        public_consent=row[7],
                        backup_for_id=row[8],
                        away_since=row[9],
                        away_until=row[10],
                        created_at=row[11],
                    )
                )
            del rows
        self.members_by_area = by_area
        self.members_version = version
        _release_freed_memory()

    async def _rebuild(self, session: AsyncSession, version: int) -> None:
        started = time.perf_counter()
        # The boundary as JSON text, parsed by GEOS (no Python dict of every coordinate), from
        # a server-side cursor a chunk at a time; the old snapshot serves until the swap.
        result = await session.stream(
            sa.select(
                col(Area.id),
                col(Area.code),
                col(Area.name),
                col(Area.level),
                col(Area.path),
                col(Area.depth),
                sa.cast(col(Area.boundary), sa.Text),
            ).execution_options(yield_per=CHUNK_ROWS)
        )
        builder = _Builder()
        async for rows in result.partitions(CHUNK_ROWS):
            await asyncio.to_thread(builder.add, rows)
            del rows
        self.index = await asyncio.to_thread(builder.finish, version)
        del builder
        _release_freed_memory()
        log.info(
            "spatial_index_rebuilt",
            version=version,
            areas=len(self.index),
            seconds=round(time.perf_counter() - started, 3),
        )
