"""GCJ-02 / BD-09 → WGS84 against published reference points (accuracy about 1 m)."""

from __future__ import annotations

import math

import pytest

from shared.geo.coords import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    wgs84_to_gcj02,
)

# (wgs lat, wgs lng, gcj lat, gcj lng): the reference table of googollee/eviltransform
WGS_GCJ = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),  # Shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),  # Shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),  # Beijing
]
# (gcj lat, gcj lng, bd lat, bd lng): wandergis/coordtransform, gcoord
GCJ_BD = [
    (39.915, 116.404, 39.92133699351021, 116.41036949371029),
    (45.0, 123.0, 45.00636899, 123.00636499),
]


def metres(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    dy = (lat2 - lat1) * 111_195
    dx = (lng2 - lng1) * 111_195 * math.cos(math.radians(lat1))
    return math.hypot(dx, dy)


@pytest.mark.parametrize(("w_lat", "w_lng", "g_lat", "g_lng"), WGS_GCJ)
def test_forward_gcj02_matches_reference(
    w_lat: float, w_lng: float, g_lat: float, g_lng: float
) -> None:
    lat, lng = wgs84_to_gcj02(w_lat, w_lng)
    assert metres(lat, lng, g_lat, g_lng) < 0.01


@pytest.mark.parametrize(("w_lat", "w_lng", "g_lat", "g_lng"), WGS_GCJ)
def test_gcj02_to_wgs84_within_a_metre(
    w_lat: float, w_lng: float, g_lat: float, g_lng: float
) -> None:
    lat, lng = gcj02_to_wgs84(g_lat, g_lng)
    assert metres(lat, lng, w_lat, w_lng) < 1.0


@pytest.mark.parametrize(("g_lat", "g_lng", "b_lat", "b_lng"), GCJ_BD)
def test_bd09_reference(g_lat: float, g_lng: float, b_lat: float, b_lng: float) -> None:
    assert metres(*gcj02_to_bd09(g_lat, g_lng), b_lat, b_lng) < 0.05
    assert metres(*bd09_to_gcj02(b_lat, b_lng), g_lat, g_lng) < 1.0


def test_bd09_to_wgs84_chains_both_references() -> None:
    # Beijing: WGS84 reference → GCJ-02 reference → BD-09 by the published forward formula
    w_lat, w_lng, g_lat, g_lng = WGS_GCJ[2]
    b_lat, b_lng = gcj02_to_bd09(g_lat, g_lng)
    lat, lng = bd09_to_wgs84(b_lat, b_lng)
    assert metres(lat, lng, w_lat, w_lng) < 1.0


def test_points_outside_china_are_unchanged() -> None:
    assert gcj02_to_wgs84(48.8584, 2.2945) == (48.8584, 2.2945)
    assert wgs84_to_gcj02(48.8584, 2.2945) == (48.8584, 2.2945)
