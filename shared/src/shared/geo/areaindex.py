"""The in-memory index of the area tree: which area a point is in (shapely 2 STRtree).

grid_service builds one in every replica from its database (``grid_service.locate.index``) and
serves it as a versioned snapshot (``GET /api/v1/grids/index-snapshot``,
:mod:`shared.geo.snapshot`); case_service builds the same index from that snapshot and
locates a case's point in process. Both answer :func:`locate_compact` from it, so the two give
the same answer for the same tree.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import sys
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape

from shared.contracts.grids import AreaLevel, AreaRef, CoordinateSystem, LocateCompact
from shared.geo.coords import to_wgs84


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
        self._geoms = geometries if isinstance(geometries, np.ndarray) else object_array(geometries)
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
        builder = AreaIndexBuilder()
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

    def columns(
        self, start: int, stop: int
    ) -> tuple[list[uuid.UUID], list[str], list[str], list[AreaLevel], list[str], Any, Any]:
        """Areas ``start:stop`` as columns: ids, codes, names, levels, paths, depths (numpy)
        and geometries (a numpy array of the polygons the tree holds) — what the snapshot
        writes."""
        stop = min(stop, len(self))
        ids = [self.area_id(p) for p in range(start, stop)]
        return (
            ids,
            self._codes[start:stop],
            self._names[start:stop],
            self._levels[start:stop],
            self._paths[start:stop],
            self.depths[start:stop],
            self._geoms[start:stop],
        )

    def chain_ids(self, area: IndexedArea) -> list[uuid.UUID]:
        """The area and its ancestors' ids, lowest first."""
        positions = [area.position, *reversed(self._ancestor_positions(area))]
        return [self.area_id(p) for p in positions]


class AreaIndexBuilder:
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
        """A chunk of ``(id, code, name, level, path, depth, boundary)`` rows; the boundaries
        of one chunk are all GeoJSON text, all WKB ``bytes`` (the snapshot), or all
        GeoJSON mappings."""
        texts: list[str] = []
        wkbs: list[bytes] = []
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
            elif isinstance(boundary, bytes):
                wkbs.append(boundary)
            else:
                shapes.append(shape(boundary))
        if sum(1 for kind in (texts, wkbs, shapes) if kind) > 1:
            raise ValueError("boundaries of one chunk must all be text, all WKB or all mappings")
        # GEOS parses the GeoJSON text (or the WKB) itself: no Python dicts and lists of every
        # coordinate
        if texts:
            self.geometries.append(shapely.from_geojson(texts))
        elif wkbs:
            self.geometries.append(shapely.from_wkb(wkbs))
        else:
            self.geometries.append(object_array(shapes))

    def finish(self, version: int) -> SpatialIndex:
        geometries: np.ndarray = (
            np.concatenate(self.geometries) if self.geometries else object_array([])
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


def object_array(items: Sequence[object]) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


def release_freed_memory() -> None:
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


def locate_compact(
    index: SpatialIndex, lat: float, lng: float, crs: CoordinateSystem
) -> LocateCompact | None:
    """Where the point is: the lowest-level area containing it (boundary included), its
    ancestors from the root, and the WGS84 point used; ``None`` outside every area. The answer
    of grid_service's ``GET /api/v1/grids/locate?view=compact`` and of case_service's
    in-process locate alike."""
    w_lat, w_lng = to_wgs84(lat, lng, crs)
    found = index.locate(w_lat, w_lng)
    if found is None:
        return None
    return LocateCompact(area=found.ref, ancestors=index.ancestors(found), lat=w_lat, lng=w_lng)
