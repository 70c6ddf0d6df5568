"""Chinese map coordinate systems back to WGS84.

GCJ-02 (火星坐标, used by WeChat, AMap/高德, Tencent maps) is WGS84 with a published, deliberately
non-linear offset; BD-09 (Baidu) applies a further rotation/scale on top of GCJ-02. Only the
forward transforms (WGS84 → GCJ-02 → BD-09) are published. The inverses here iterate the forward
transform (fixed-point refinement) until the round trip agrees to about 1e-7 degrees
(≈ 1 cm), well inside the 1 m the issue asks for.

Written by hand on purpose: no maintained Python library does this well (the PyPI packages that
exist are unmaintained copies with the one-shot, ±5 m approximate inverse). The formulas are the
widely published ones (eviltransform, coordtransform) and are tested against their reference
points.
"""

from __future__ import annotations

import math

from shared.contracts.grids import CoordinateSystem

_A = 6378245.0  # Krasovsky 1940 semi-major axis used by GCJ-02
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = math.pi * 3000.0 / 180.0
_TOLERANCE_DEG = 1e-7
_MAX_ITERATIONS = 30


def out_of_china(lat: float, lng: float) -> bool:
    """GCJ-02 leaves points outside mainland China's bounding box unchanged."""
    return not (73.66 < lng < 135.05 and 3.86 < lat < 53.55)


def _transform_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lng(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def wgs84_to_gcj02(lat: float, lng: float) -> tuple[float, float]:
    """The published forward transform WGS84 → GCJ-02 (returns ``(lat, lng)``)."""
    if out_of_china(lat, lng):
        return lat, lng
    d_lat = _transform_lat(lng - 105.0, lat - 35.0)
    d_lng = _transform_lng(lng - 105.0, lat - 35.0)
    rad_lat = lat / 180.0 * math.pi
    magic = 1 - _EE * math.sin(rad_lat) ** 2
    sqrt_magic = math.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * math.pi)
    d_lng = (d_lng * 180.0) / (_A / sqrt_magic * math.cos(rad_lat) * math.pi)
    return lat + d_lat, lng + d_lng


def gcj02_to_bd09(lat: float, lng: float) -> tuple[float, float]:
    """The published forward transform GCJ-02 → BD-09 (returns ``(lat, lng)``)."""
    z = math.sqrt(lng * lng + lat * lat) + 0.00002 * math.sin(lat * _X_PI)
    theta = math.atan2(lat, lng) + 0.000003 * math.cos(lng * _X_PI)
    return z * math.sin(theta) + 0.006, z * math.cos(theta) + 0.0065


def _bd09_to_gcj02_approx(lat: float, lng: float) -> tuple[float, float]:
    x, y = lng - 0.0065, lat - 0.006
    z = math.sqrt(x * x + y * y) - 0.00002 * math.sin(y * _X_PI)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * _X_PI)
    return z * math.sin(theta), z * math.cos(theta)


def _invert(
    forward: object, lat: float, lng: float, start: tuple[float, float]
) -> tuple[float, float]:
    """Solve ``forward(p) == (lat, lng)`` for ``p`` by fixed-point iteration from ``start``."""
    assert callable(forward)
    p_lat, p_lng = start
    for _ in range(_MAX_ITERATIONS):
        f_lat, f_lng = forward(p_lat, p_lng)
        e_lat, e_lng = f_lat - lat, f_lng - lng
        if abs(e_lat) < _TOLERANCE_DEG and abs(e_lng) < _TOLERANCE_DEG:
            break
        p_lat, p_lng = p_lat - e_lat, p_lng - e_lng
    return p_lat, p_lng


def gcj02_to_wgs84(lat: float, lng: float) -> tuple[float, float]:
    if out_of_china(lat, lng):
        return lat, lng
    return _invert(wgs84_to_gcj02, lat, lng, (lat, lng))


def bd09_to_gcj02(lat: float, lng: float) -> tuple[float, float]:
    return _invert(gcj02_to_bd09, lat, lng, _bd09_to_gcj02_approx(lat, lng))


def bd09_to_wgs84(lat: float, lng: float) -> tuple[float, float]:
    return gcj02_to_wgs84(*bd09_to_gcj02(lat, lng))


def to_wgs84(lat: float, lng: float, crs: CoordinateSystem) -> tuple[float, float]:
    """Convert a point given in ``crs`` to WGS84 ``(lat, lng)``."""
    if crs is CoordinateSystem.gcj02:
        return gcj02_to_wgs84(lat, lng)
    if crs is CoordinateSystem.bd09:
        return bd09_to_wgs84(lat, lng)
    return lat, lng
