"""Point location in process from grid_service's index snapshot (``SnapshotLocator``): the
same answers as the HTTP path, a new tree version picked up, the 304 path, the fallback."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from conftest import (
    COMMUNITY1,
    COMMUNITY2,
    COMMUNITY3,
    DISTRICT,
    GRID_A,
    GRID_B,
    GRID_C,
    GRID_D,
    STREET1,
    STREET2,
    Api,
    FakeGrid,
    area_ref,
)

from case_service.clients.grid import GridClient
from case_service.clients.grid_index import SNAPSHOT_PATH, SnapshotLocator, SnapshotRefused
from case_service.config import Settings
from shared.contracts.grids import CoordinateSystem
from shared.geo.areaindex import SpatialIndex
from shared.geo.coords import to_wgs84
from shared.geo.snapshot import decode_snapshot, encode_snapshot, snapshot_etag
from shared.http import ServiceClient
from shared.oauth import ClientCredentials

# the conftest tree drawn as the fake grid_service answers it: a point's integer latitude picks
# its grid (30 → A, 31 → B, 32 → C, 33 → D), lng 120-121; everything else is outside
BOXES = {
    "330100": (120.0, 30.0, 121.0, 34.0),
    DISTRICT: (120.0, 30.0, 121.0, 34.0),
    STREET1: (120.0, 30.0, 121.0, 33.0),
    COMMUNITY1: (120.0, 30.0, 121.0, 32.0),
    GRID_A: (120.0, 30.0, 121.0, 31.0),
    GRID_B: (120.0, 31.0, 121.0, 32.0),
    COMMUNITY2: (120.0, 32.0, 121.0, 33.0),
    GRID_C: (120.0, 32.0, 121.0, 33.0),
    STREET2: (120.0, 33.0, 121.0, 34.0),
    COMMUNITY3: (120.0, 33.0, 121.0, 34.0),
    GRID_D: (120.0, 33.0, 121.0, 34.0),
}


def tree_index(version: int, *, without: tuple[str, ...] = ()) -> SpatialIndex:
    rows = []
    for path, (w, s, e, n) in BOXES.items():
        if path in without:
            continue
        ref = area_ref(path)
        ring = [[w, s], [e, s], [e, n], [w, n], [w, s]]
        rows.append(
            (
                ref["id"],
                ref["code"],
                ref["name"],
                ref["level"],
                path,
                path.count("."),
                {"type": "Polygon", "coordinates": [ring]},
            )
        )
    return SpatialIndex.build(rows, version)


class FakeSnapshots:
    """grid_service's token and index-snapshot endpoints, serving ``index`` (or ``status``)."""

    def __init__(self, index: SpatialIndex | None, status: int = 200) -> None:
        self.index = index
        self.status = status
        self.calls: list[httpx.Request] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/auth/token":
            return httpx.Response(
                200, json={"access_token": "svc", "token_type": "Bearer", "expires_in": 900}
            )
        assert request.url.path == SNAPSHOT_PATH
        assert request.headers["Authorization"] == "Bearer svc"
        self.calls.append(request)
        if self.status != 200 or self.index is None:
            return httpx.Response(self.status, json={"code": "missing_scope"})
        etag = snapshot_etag(self.index.version)
        if request.headers.get("If-None-Match") == etag:
            return httpx.Response(304, headers={"ETag": etag})
        return httpx.Response(
            200, content=b"".join(encode_snapshot(self.index, chunk=4)), headers={"ETag": etag}
        )

    def locator(self, check_interval: float = 1.0) -> SnapshotLocator:
        return SnapshotLocator(
            ClientCredentials(
                ServiceClient(
                    "http://grid.test",
                    name="grid_service_snapshot",
                    retries=0,
                    transport=httpx.MockTransport(self.handler),
                ),
                client_id="case_service",
                client_secret="x",
            ),
            check_interval=check_interval,
        )


def http_client(fake: FakeGrid, locator: SnapshotLocator | None = None) -> GridClient:
    return GridClient(
        ServiceClient(
            "http://grid.test",
            name="grid_service",
            retries=0,
            transport=httpx.MockTransport(fake.handler),
        ),
        locator=locator,
    )


POINTS = [(30.5, 120.5), (31.2, 120.1), (32.9, 120.9), (33.5, 120.5), (35.0, 120.5), (45.0, 120)]


async def test_in_process_answers_equal_the_http_answers() -> None:
    snapshots = FakeSnapshots(tree_index(3))
    locator = snapshots.locator()
    assert await locator.refresh() is True
    assert locator.version == 3
    fake = FakeGrid()
    over_http, in_process = http_client(fake), http_client(FakeGrid(), locator)
    outside = 0
    for lat, lng in POINTS:
        expected = await over_http.locate(lat=lat, lng=lng, crs=CoordinateSystem.wgs84)
        got = await in_process.locate(lat=lat, lng=lng, crs=CoordinateSystem.wgs84)
        assert got == expected, (lat, lng)
        outside += got is None
    assert outside == 2
    assert len(fake.calls) == len(POINTS)
    assert in_process.locator is locator


async def test_a_converted_point_is_the_wgs84_point_grid_service_uses() -> None:
    locator = FakeSnapshots(tree_index(1)).locator()
    await locator.refresh()
    got = locator.locate(lat=30.5, lng=120.5, crs=CoordinateSystem.gcj02)
    assert got is not None
    assert (got.lat, got.lng) == to_wgs84(30.5, 120.5, CoordinateSystem.gcj02)
    assert (got.lat, got.lng) != (30.5, 120.5)
    assert got.area.path == GRID_A


async def test_unchanged_is_a_304_and_a_new_version_is_picked_up() -> None:
    snapshots = FakeSnapshots(tree_index(3))
    locator = snapshots.locator()
    assert await locator.refresh() is True
    assert await locator.refresh() is False  # 304: the copy stays
    assert snapshots.calls[1].headers["If-None-Match"] == '"area-tree-3"'
    assert locator.version == 3
    before = locator.locate(lat=31.5, lng=120.5, crs=CoordinateSystem.wgs84)
    assert before is not None
    assert before.area.path == GRID_B
    snapshots.index = tree_index(4, without=(GRID_B,))  # grid B deleted at grid_service
    assert await locator.refresh() is True
    assert locator.version == 4
    after = locator.locate(lat=31.5, lng=120.5, crs=CoordinateSystem.wgs84)
    assert after is not None
    assert after.area.path == COMMUNITY1  # the community is now the lowest


async def test_the_background_task_loads_at_once_and_follows_changes() -> None:
    snapshots = FakeSnapshots(tree_index(1))
    locator = snapshots.locator(check_interval=0.05)
    locator.start()
    try:
        for _ in range(100):
            if locator.version == 1:
                break
            await asyncio.sleep(0.02)
        assert locator.version == 1
        snapshots.index = tree_index(2, without=(GRID_D,))
        for _ in range(100):
            if locator.version == 2:
                break
            await asyncio.sleep(0.02)
        assert locator.version == 2
        found = locator.locate(lat=33.5, lng=120.5, crs=CoordinateSystem.wgs84)
        assert found is not None
        assert found.area.path == COMMUNITY3
    finally:
        await locator.stop()


async def test_without_a_snapshot_it_asks_grid_service() -> None:
    refused = FakeSnapshots(None, status=403)  # a platform client without areas:snapshot
    locator = refused.locator()
    with pytest.raises(SnapshotRefused):
        await locator.refresh()
    assert not locator.ready
    fake = FakeGrid()
    grid = http_client(fake, locator)
    found = await grid.locate(lat=30.5, lng=120.5, crs=CoordinateSystem.wgs84)
    assert found is not None
    assert found.area.path == GRID_A
    assert [c.url.path for c in fake.calls] == ["/api/v1/grids/locate"]
    assert await grid.locate(lat=45.0, lng=120.0, crs=CoordinateSystem.wgs84) is None


async def test_a_cut_snapshot_keeps_the_old_copy() -> None:
    snapshots = FakeSnapshots(tree_index(1))
    locator = snapshots.locator()
    await locator.refresh()
    body = b"".join(encode_snapshot(tree_index(2)))
    cut = body[: body.rindex(b"\n", 0, len(body) - 1) + 1]  # the last area missing
    with pytest.raises(ValueError, match="header says"):
        decode_snapshot(cut)

    def cut_handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/auth/token":
            return snapshots.handler(request)
        return httpx.Response(200, content=cut, headers={"ETag": snapshot_etag(2)})

    locator.credentials.client = ServiceClient(
        "http://grid.test", name="s", retries=0, transport=httpx.MockTransport(cut_handler)
    )
    with pytest.raises(ValueError, match="header says"):
        await locator.refresh()
    assert locator.version == 1  # still answering from the last good copy


async def test_intake_locates_in_process(api: Api, app: Any, fake_grid: FakeGrid) -> None:
    locator = FakeSnapshots(tree_index(5)).locator()
    await locator.refresh()
    app.state.grid_client.locator = locator
    try:
        case = await api.report(location={"lat": 32.5, "lng": 120.5, "crs": "gcj02"})
        assert case["area"]["path"] == GRID_C
        assert case["area"]["id"] == str(uuid.uuid5(uuid.NAMESPACE_DNS, GRID_C))
        w_lat, w_lng = to_wgs84(32.5, 120.5, CoordinateSystem.gcj02)
        assert (case["location"]["lat"], case["location"]["lng"]) == (w_lat, w_lng)
        outside = await api.report(location={"lat": 45.0, "lng": 120.0}, expect=422)
        assert outside["code"] == "outside_jurisdiction"
        assert outside["errors"][0]["field"] == "location"
        assert not [c for c in fake_grid.calls if c.url.path == "/api/v1/grids/locate"]
    finally:
        app.state.grid_client.locator = None


def test_settings_switch_it_off_and_bound_the_interval() -> None:
    assert Settings().locate_in_process is True
    assert Settings(locate_in_process=False).locate_in_process is False
    assert Settings().locate_snapshot_check_seconds == 1.0
    with pytest.raises(ValueError, match="locate_snapshot_check_seconds"):
        Settings(locate_snapshot_check_seconds=0)
