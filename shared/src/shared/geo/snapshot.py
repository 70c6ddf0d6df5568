"""The area index on the wire: grid_service's ``GET /api/v1/grids/index-snapshot``.

Newline-delimited JSON (``application/x-ndjson``), written and read a chunk of areas at a time
so that neither side holds a second copy of the whole tree as Python objects:

* the first line is the header ``{"format": "gridgov.area-index.v1", "version": 12,
  "areas": 33317}`` — ``version`` is the area tree's version the index was built from;
* then one line per area: ``[id, code, name, level, path, depth, boundary]``, the boundary as
  base64 of its WKB (the exact doubles of the polygon grid_service's index holds, so a point on
  a border falls on the same side in both services; a third smaller than GeoJSON text).

The response's ``ETag`` is :func:`snapshot_etag` of the version: a reader that has it sends
``If-None-Match`` and gets a 304 until the tree changes.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

import shapely

from shared.geo.areaindex import AreaIndexBuilder, SpatialIndex

FORMAT = "gridgov.area-index.v1"
MEDIA_TYPE = "application/x-ndjson"
#: areas encoded or decoded at a time
CHUNK_AREAS = 2_000


class SnapshotError(ValueError):
    """The body is not a snapshot of this format (or was cut short)."""


def snapshot_etag(version: int) -> str:
    """The strong ETag of the snapshot of tree version ``version``."""
    return f'"area-tree-{version}"'


def encode_snapshot(index: SpatialIndex, *, chunk: int = CHUNK_AREAS) -> Iterator[bytes]:
    """The snapshot of ``index``, one block of lines per ``chunk`` areas (the header first)."""
    header = {"format": FORMAT, "version": index.version, "areas": len(index)}
    yield json.dumps(header).encode() + b"\n"
    for start in range(0, len(index), chunk):
        ids, codes, names, levels, paths, depths, geoms = index.columns(start, start + chunk)
        wkbs = shapely.to_wkb(geoms)
        lines = [
            json.dumps(
                [
                    str(ids[i]),
                    codes[i],
                    names[i],
                    levels[i].value,
                    paths[i],
                    int(depths[i]),
                    base64.b64encode(wkbs[i]).decode("ascii"),
                ],
                ensure_ascii=False,
                separators=(",", ":"),
            )
            for i in range(len(ids))
        ]
        yield ("\n".join(lines) + "\n").encode()


def _row(line: bytes) -> list[Any]:
    try:
        row = json.loads(line)
    except ValueError as exc:
        raise SnapshotError("an area line is not JSON") from exc
    if not isinstance(row, list) or len(row) != 7 or not isinstance(row[6], str):
        raise SnapshotError("an area line is not [id, code, name, level, path, depth, wkb]")
    row[6] = base64.b64decode(row[6])
    return row


def read_snapshot(lines: Iterable[bytes], *, chunk: int = CHUNK_AREAS) -> SpatialIndex:
    """The index of a snapshot given as its lines (CPU-bound: run it off the event loop)."""
    it = iter(lines)
    try:
        header = json.loads(next(it))
    except (StopIteration, ValueError) as exc:
        raise SnapshotError("no snapshot header") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise SnapshotError(f"not a {FORMAT} snapshot")
    version, expected = header.get("version"), header.get("areas")
    if not isinstance(version, int) or not isinstance(expected, int):
        raise SnapshotError("the header has no version or area count")
    builder = AreaIndexBuilder()
    rows: list[list[Any]] = []
    count = 0
    try:
        for line in it:
            if not line.strip():
                continue
            rows.append(_row(line))
            if len(rows) == chunk:
                builder.add(rows)
                count += len(rows)
                rows = []
        if rows:
            builder.add(rows)
            count += len(rows)
    except (ValueError, TypeError, shapely.errors.GEOSException) as exc:
        if isinstance(exc, SnapshotError):
            raise
        raise SnapshotError(f"an area line is unreadable ({type(exc).__name__})") from exc
    if count != expected:
        raise SnapshotError(f"the snapshot has {count} areas, its header says {expected}")
    return builder.finish(version)


def decode_snapshot(body: bytes, *, chunk: int = CHUNK_AREAS) -> SpatialIndex:
    """The index of a whole snapshot body, read line by line (no list of every line)."""
    return read_snapshot(io.BytesIO(body), chunk=chunk)
