"""Plausibility of a patrol's track (the rules are in docs/fieldwork.md).

A point is an *outlier* when it lies outside the patrolled grid's district widened by
``GRID_PATROL_DISTRICT_MARGIN_M``, or when reaching it from the last plausible point before it
would take more than ``GRID_PATROL_MAX_SPEED_KMH``. Outliers are kept (the record is the
phone's), but left out of the distance and of coverage. Written here by hand: it is a dozen
lines over the haversine distance, which no GPS-cleaning library offers in this shape.
"""

from __future__ import annotations

import itertools
import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

EARTH_RADIUS_M = 6_371_008.8
METRES_PER_DEGREE_LAT = 111_320.0


def haversine_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lng1, lat2, lng2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


def track_length_m(points: Sequence[tuple[float, float]]) -> float:
    return sum(haversine_m(a, b) for a, b in itertools.pairwise(points))


@dataclass(frozen=True)
class Region:
    """A bounding box in degrees (south, west, north, east)."""

    south: float
    west: float
    north: float
    east: float

    @classmethod
    def around(cls, boundary: dict[str, Any], margin_m: float) -> Region:
        """The bounding box of a GeoJSON (Multi)Polygon widened by ``margin_m``."""
        coords = list(_positions(boundary.get("coordinates", [])))
        lngs = [c[0] for c in coords]
        lats = [c[1] for c in coords]
        mid = math.radians((min(lats) + max(lats)) / 2)
        dlat = margin_m / METRES_PER_DEGREE_LAT
        dlng = margin_m / (METRES_PER_DEGREE_LAT * max(math.cos(mid), 0.01))
        return cls(min(lats) - dlat, min(lngs) - dlng, max(lats) + dlat, max(lngs) + dlng)

    def contains(self, lat: float, lng: float) -> bool:
        return self.south <= lat <= self.north and self.west <= lng <= self.east


def _positions(value: Any) -> Iterable[Sequence[float]]:
    if value and isinstance(value[0], int | float):
        yield value
        return
    for item in value:
        yield from _positions(item)


@dataclass(frozen=True)
class Fix:
    id: uuid.UUID
    recorded_at: datetime
    lat: float
    lng: float


def outliers(
    fixes: Sequence[Fix], *, region: Region | None, max_speed_kmh: float
) -> set[uuid.UUID]:
    """The ids of the implausible fixes of one track (any order; judged in time order)."""
    flagged: set[uuid.UUID] = set()
    last: Fix | None = None
    max_mps = max_speed_kmh / 3.6
    for fix in sorted(fixes, key=lambda f: (f.recorded_at, f.id)):
        if region is not None and not region.contains(fix.lat, fix.lng):
            flagged.add(fix.id)
            continue
        if last is not None:
            metres = haversine_m((last.lat, last.lng), (fix.lat, fix.lng))
            seconds = (fix.recorded_at - last.recorded_at).total_seconds()
            # two fixes in the same second may be metres apart (GPS jitter): allow 50 m
            if metres > 50 and (seconds <= 0 or metres / seconds > max_mps):
                flagged.add(fix.id)
                continue
        last = fix
    return flagged
