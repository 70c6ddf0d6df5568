"""The replica's locator: the in-memory index of the area tree (``shared.geo.areaindex``, a
shapely 2 STRtree) and who holds which post, kept fresh.

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
import sys
import time
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session
from sqlmodel import col

from grid_service.areas import repository as areas_repository
from grid_service.areas.models import Area
from grid_service.members.holders import PostHolder
from grid_service.members.models import Member
from grid_service.members.service import answering
from shared.geo.areaindex import (
    AreaIndexBuilder,
    IndexedArea,
    SpatialIndex,
    release_freed_memory,
)
from shared.logging import get_logger

__all__ = ["CHUNK_ROWS", "IndexedArea", "Locator", "SpatialIndex"]

log = get_logger(__name__)

# Rows are read from a server-side cursor this many at a time, so that only one chunk of raw
# rows (and, for the tree, of GeoJSON text) is alive at once next to the old snapshot.
CHUNK_ROWS = 2_000


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
        release_freed_memory()

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
        builder = AreaIndexBuilder()
        async for rows in result.partitions(CHUNK_ROWS):
            await asyncio.to_thread(builder.add, rows)
            del rows
        self.index = await asyncio.to_thread(builder.finish, version)
        del builder
        release_freed_memory()
        log.info(
            "spatial_index_rebuilt",
            version=version,
            areas=len(self.index),
            seconds=round(time.perf_counter() - started, 3),
        )
