"""Boundary checks with shapely 2: parse GeoJSON, validity, containment, overlap, area."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from shared.validation_texts import InvalidValue

EARTH_RADIUS_M = 6_371_008.8
METRES_PER_DEGREE = math.pi * EARTH_RADIUS_M / 180.0


class BoundaryError(InvalidValue):
    """The boundary is not a usable polygon; ``text`` says why in both languages."""


@dataclass(frozen=True)
class Measured:
    geometry: BaseGeometry
    area_m2: float
    centroid_lat: float
    centroid_lng: float


def parse_boundary(geojson: Any) -> BaseGeometry:
    """A valid WGS84 Polygon or MultiPolygon from GeoJSON, or :class:`BoundaryError`."""
    if not isinstance(geojson, dict) or geojson.get("type") not in {"Polygon", "MultiPolygon"}:
        raise BoundaryError(
            "应为 GeoJSON Polygon 或 MultiPolygon", "must be a GeoJSON Polygon or MultiPolygon"
        )
    try:
        geometry = shape(geojson)
    except (ValueError, TypeError, IndexError, AttributeError, KeyError) as exc:
        raise BoundaryError(f"坐标格式有误：{exc}", f"malformed coordinates: {exc}") from exc
    if geometry.is_empty:
        raise BoundaryError("多边形为空", "the polygon is empty")
    coords = shapely.get_coordinates(geometry)
    if not np.isfinite(coords).all():
        raise BoundaryError("坐标必须是有限数值", "coordinates must be finite numbers")
    lng, lat = coords[:, 0], coords[:, 1]
    if (np.abs(lng) > 180).any() or (np.abs(lat) > 90).any():
        raise BoundaryError(
            "坐标须为 WGS84 度数的 [经度, 纬度]",
            "coordinates must be [longitude, latitude] in WGS84 degrees",
        )
    if not geometry.is_valid:
        raise BoundaryError(
            f"多边形无效：{explain_validity(geometry)}",
            f"invalid polygon: {explain_validity(geometry)}",
        )
    if geometry.area == 0:
        raise BoundaryError("多边形面积为零", "the polygon has no area")
    return geometry


def measure(geometry: BaseGeometry) -> Measured:
    """Area in square metres (local equirectangular projection, fine at grid scale) and centroid."""
    centroid = geometry.centroid
    scale_x = METRES_PER_DEGREE * math.cos(math.radians(centroid.y))
    projected = shapely.transform(geometry, lambda xy: xy * np.array([scale_x, METRES_PER_DEGREE]))
    return Measured(
        geometry=geometry,
        area_m2=float(projected.area),
        centroid_lat=float(centroid.y),
        centroid_lng=float(centroid.x),
    )


def tolerance_degrees(tolerance_m: float) -> float:
    return tolerance_m / METRES_PER_DEGREE


def inside(child: BaseGeometry, parent: BaseGeometry, *, tolerance_m: float) -> bool:
    """True when ``child`` lies inside ``parent``, allowing ``tolerance_m`` of slack."""
    if parent.covers(child):
        return True
    return bool(parent.buffer(tolerance_degrees(tolerance_m)).covers(child))


def overlaps(a: BaseGeometry, b: BaseGeometry, *, tolerance_m: float) -> bool:
    """True when the interiors of ``a`` and ``b`` share more than a sliver of ``tolerance_m``."""
    if not a.intersects(b) or a.touches(b):
        return False
    shared = a.intersection(b)
    if shared.is_empty:
        return False
    # a sliver thinner than the tolerance disappears when shrunk by it
    return not shared.buffer(-tolerance_degrees(tolerance_m) / 2).is_empty


def to_geojson(geometry: BaseGeometry) -> dict[str, Any]:
    out = mapping(geometry)
    return {"type": out["type"], "coordinates": _lists(out["coordinates"])}


def _lists(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_lists(v) for v in value]
    return value
