"""case_service places a case's point in process, from its copy of grid_service's area index
(issue 15): real processes, the demo tree, the same grid as grid_service's own locate for
points inside grids, on their borders and corners, converted from GCJ-02, and outside."""

from __future__ import annotations

from typing import Any

import httpx

from grid_service.demo import build_tree
from shared.geo.coords import wgs84_to_gcj02
from tests.helpers import eventually, login, report_body
from tests.system import System


def points() -> list[dict[str, Any]]:
    grids = [a for a in build_tree() if a.level == "grid"]
    out: list[dict[str, Any]] = []
    for grid in grids[:3]:
        ring = grid.boundary["coordinates"][0]
        (west, south), (east, north) = ring[0], ring[2]
        centre = ((south + north) / 2, (west + east) / 2)
        out.append({"lat": centre[0], "lng": centre[1], "crs": "wgs84"})
        out.append({"lat": centre[0], "lng": east, "crs": "wgs84"})  # the edge with the next
        out.append({"lat": north, "lng": east, "crs": "wgs84"})  # a corner of four grids
        g_lat, g_lng = wgs84_to_gcj02(*centre)
        out.append({"lat": g_lat, "lng": g_lng, "crs": "gcj02"})
    out.append({"lat": 39.9, "lng": 116.4, "crs": "wgs84"})  # Beijing: outside
    return out


async def test_intake_places_points_as_grid_service_does(system: System) -> None:
    case = system["case"]

    def loaded() -> list[dict[str, Any]]:
        return [e for e in case.log_lines() if e.get("event") == "locate_snapshot_loaded"]

    async def has_copy() -> bool:
        return bool(loaded())

    await eventually(has_copy, timeout=60, what="case_service loaded the area index snapshot")
    assert loaded()[0]["areas"] == len(build_tree())
    resident = await login(system, "resident")
    outside = 0
    async with httpx.AsyncClient(timeout=20) as client:
        for point in points():
            located = await client.get(
                system["grid"].url + "/api/v1/grids/locate", params={**point, "view": "compact"}
            )
            r = await client.post(
                case.url + "/api/v1/cases",
                json=report_body(location=point),
                headers=resident.headers,
            )
            if located.status_code == 404:
                assert r.status_code == 422, r.text
                assert r.json()["code"] == "outside_jurisdiction"
                outside += 1
                continue
            assert located.status_code == 200, located.text
            assert r.status_code == 201, r.text
            body, where = r.json(), located.json()
            assert body["area"]["path"] == where["area"]["path"], point
            assert body["area"]["id"] == where["area"]["id"]
            assert (body["location"]["lat"], body["location"]["lng"]) == (
                where["lat"],
                where["lng"],
            )
    assert outside == 1
