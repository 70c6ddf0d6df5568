"""case_service's client of grid_service's point location: the compact answer, read whole."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from case_service.clients.grid import GridClient
from shared.contracts.grids import CoordinateSystem
from shared.http import ServiceClient
from shared.problem import UpstreamError

GRID = {
    "id": str(uuid.uuid4()),
    "code": "330106001001001",
    "name": "北山第一网格",
    "level": "grid",
    "path": "330100.330106.330106001.330106001001.330106001001001",
}
CITY = {
    "id": str(uuid.uuid4()),
    "code": "330100",
    "name": "杭州市",
    "level": "city",
    "path": "330100",
}


def client_answering(
    status: int, body: bytes, seen: list[httpx.Request] | None = None
) -> GridClient:
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(status, content=body, headers={"content-type": "application/json"})

    return GridClient(
        ServiceClient(
            "http://grid.test",
            name="grid_service",
            retries=0,
            transport=httpx.MockTransport(handler),
        )
    )


async def test_asks_for_the_compact_view_and_reads_it() -> None:
    seen: list[httpx.Request] = []
    answer = {"area": GRID, "ancestors": [CITY], "lat": 30.2741, "lng": 120.1551}
    grid = client_answering(200, json.dumps(answer).encode(), seen)
    found = await grid.locate(lat=30.27, lng=120.15, crs=CoordinateSystem.gcj02)
    assert found is not None
    assert found.area.id == uuid.UUID(GRID["id"])
    assert [a.code for a in found.ancestors] == ["330100"]
    assert (found.lat, found.lng) == (30.2741, 120.1551)
    assert dict(seen[0].url.params) == {
        "lat": "30.27",
        "lng": "120.15",
        "crs": "gcj02",
        "view": "compact",
    }
    await grid.aclose()


async def test_a_full_answer_is_read_too_and_its_people_ignored() -> None:
    """An older grid_service that ignores ``view`` answers in full: still understood."""
    answer = {
        "area": GRID,
        "ancestors": [CITY],
        "responsible": [{"post": "grid_leader", "member_id": str(uuid.uuid4()), "name": "陈建国"}],
        "lat": 30.2741,
        "lng": 120.1551,
    }
    grid = client_answering(200, json.dumps(answer).encode())
    found = await grid.locate(lat=30.27, lng=120.15, crs=CoordinateSystem.wgs84)
    assert found is not None
    assert not hasattr(found, "responsible")
    await grid.aclose()


async def test_outside_and_unreadable_answers() -> None:
    outside = client_answering(404, json.dumps({"code": "outside_jurisdiction"}).encode())
    assert await outside.locate(lat=1, lng=1, crs=CoordinateSystem.wgs84) is None
    for body in (b"{not json", json.dumps({"area": GRID}).encode()):
        broken = client_answering(200, body)
        with pytest.raises(UpstreamError):
            await broken.locate(lat=30.27, lng=120.15, crs=CoordinateSystem.wgs84)
        await broken.aclose()
    await outside.aclose()
