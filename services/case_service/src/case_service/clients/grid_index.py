"""Point location in process, from a replica-local copy of grid_service's area index.

:class:`SnapshotLocator` holds the index grid_service answers ``GET /api/v1/grids/locate``
from (``shared.geo.areaindex``), loaded from ``GET /api/v1/grids/index-snapshot`` (scope
``areas:snapshot``). A background task of each replica loads it at start-up and asks again
every ``CASE_LOCATE_SNAPSHOT_CHECK_SECONDS`` with ``If-None-Match`` (a 304 while the tree is
unchanged); a new version is read and built off the event loop while the old copy keeps
answering. The answer is :func:`shared.geo.areaindex.locate_compact`, the function grid_service's
compact view answers with: the same area, ancestors and WGS84 point.

Until the first copy is loaded, or while grid_service refuses it (an older grid_service, or a
platform client without the scope), :class:`~case_service.clients.grid.GridClient` asks
grid_service over HTTP as before.

Freshness: a change of the tree reaches this replica's answers within grid_service's own bound
(``GRID_LOCATE_VERSION_CHECK_SECONDS`` plus its rebuild) plus this check interval plus the
download and build (about a second for a 30,000-grid city).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from shared.contracts.grids import CoordinateSystem, LocateCompact
from shared.geo.areaindex import SpatialIndex, locate_compact, release_freed_memory
from shared.geo.snapshot import SnapshotError, decode_snapshot, snapshot_etag
from shared.logging import get_logger
from shared.oauth import ClientCredentials

log = get_logger(__name__)

SNAPSHOT_PATH = "/api/v1/grids/index-snapshot"


class SnapshotLocator:
    """This replica's copy of grid_service's area index (see the module's description)."""

    def __init__(self, credentials: ClientCredentials, *, check_interval: float) -> None:
        if check_interval <= 0:
            raise ValueError("check_interval must be positive")
        self.credentials = credentials
        self.check_interval = check_interval
        self.index: SpatialIndex | None = None
        self.etag: str | None = None
        #: when grid_service last confirmed or replaced the copy (``time.monotonic()``)
        self.checked_at = float("-inf")
        self._failing = False
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    @property
    def ready(self) -> bool:
        return self.index is not None

    @property
    def version(self) -> int | None:
        return None if self.index is None else self.index.version

    def locate(self, *, lat: float, lng: float, crs: CoordinateSystem) -> LocateCompact | None:
        """The answer of ``GET /api/v1/grids/locate?view=compact`` from the copy: ``None``
        outside every area. Only when :attr:`ready`."""
        if self.index is None:
            raise RuntimeError("no snapshot loaded yet")
        return locate_compact(self.index, lat, lng, crs)

    async def refresh(self) -> bool:
        """Ask grid_service whether the tree changed and load it if so; ``True`` when a new
        copy was loaded. Raises when grid_service cannot be asked or answers otherwise."""
        async with self._lock:
            headers = {"If-None-Match": self.etag} if self.etag and self.index else {}
            response = await self.credentials.request("GET", SNAPSHOT_PATH, headers=headers)
            if response.status_code == 304:
                self.checked_at = time.monotonic()
                return False
            if response.status_code != 200:
                raise SnapshotRefused(response.status_code)
            body = response.content
            del response
            started = time.perf_counter()
            try:
                index = await asyncio.to_thread(decode_snapshot, body)
            finally:
                del body
            old, self.index = self.index, index
            self.etag = snapshot_etag(index.version)
            self.checked_at = time.monotonic()
            del old
            await asyncio.to_thread(release_freed_memory)
            log.info(
                "locate_snapshot_loaded",
                version=index.version,
                areas=len(index),
                seconds=round(time.perf_counter() - started, 3),
            )
            return True

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="locate-snapshot")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:  # the first load at once (start-up does not wait for it), then each tick
            try:
                await self.refresh()
            except Exception as exc:  # grid_service away, refusing, or an unreadable answer
                if not self._failing:  # once, not every tick; locate falls back to HTTP
                    log.warning(
                        "locate_snapshot_failed",
                        error=type(exc).__name__,
                        detail=str(exc)[:200],
                        serving=self.version,
                    )
                self._failing = True
            else:
                if self._failing:
                    log.info("locate_snapshot_recovered", version=self.version)
                self._failing = False
            await asyncio.sleep(self.check_interval)


class SnapshotRefused(Exception):
    """grid_service answered the snapshot with neither 200 nor 304 (403: the platform client
    lacks the scope ``areas:snapshot``; 404: a grid_service without the endpoint)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"grid_service answered {status} to the index snapshot")
        self.status = status


__all__ = ["SNAPSHOT_PATH", "SnapshotError", "SnapshotLocator", "SnapshotRefused"]
