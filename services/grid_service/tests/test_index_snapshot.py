"""``GET /api/v1/grids/index-snapshot``: the area index for in-process locate elsewhere."""

from __future__ import annotations

from typing import Any

import httpx
from gridtest_helpers import make_chain
from test_locate import G_LAT, G_LNG, W_LAT, W_LNG, shanghai_grid

from shared.contracts.grids import CoordinateSystem, LocateCompact
from shared.geo.areaindex import locate_compact
from shared.geo.coords import gcj02_to_bd09
from shared.geo.snapshot import FORMAT, MEDIA_TYPE, decode_snapshot

SNAPSHOT = "/api/v1/grids/index-snapshot"


def service(bearer: Any) -> dict[str, str]:
    return dict(bearer(roles=["platform"], cid="case_service", scope="areas:snapshot"))


async def http_answer(
    client: httpx.AsyncClient, lat: float, lng: float, crs: CoordinateSystem
) -> LocateCompact | None:
    response = await client.get(
        "/api/v1/grids/locate",
        params={"lat": lat, "lng": lng, "crs": crs.value, "view": "compact"},
    )
    if response.status_code == 404:
        assert response.json()["code"] == "outside_jurisdiction"
        return None
    assert response.status_code == 200, response.text
    return LocateCompact.model_validate_json(response.content)


async def test_the_snapshot_answers_as_locate_does(
    client: httpx.AsyncClient, admin: Any, bearer: Any
) -> None:
    await make_chain(client, admin())
    await shanghai_grid(client, admin("310100"))
    response = await client.get(SNAPSHOT, headers=service(bearer))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(MEDIA_TYPE)
    header = response.content.split(b"\n", 1)[0]
    assert FORMAT.encode() in header
    index = decode_snapshot(response.content)
    assert len(index) == 12  # two chains of six areas
    assert response.headers["etag"] == f'"area-tree-{index.version}"'
    b_lat, b_lng = gcj02_to_bd09(G_LAT, G_LNG)
    wgs, gcj, bd = CoordinateSystem.wgs84, CoordinateSystem.gcj02, CoordinateSystem.bd09
    points = [
        (30.25, 120.12, wgs),  # inside the west grid
        (30.25, 120.18, wgs),  # inside the east grid
        (30.25, 120.15, wgs),  # on the border between the two grids
        (30.2, 120.12, wgs),  # on the grids' south edge
        (30.3, 120.2, wgs),  # the north-east corner of the community
        (30.35, 120.1, wgs),  # in the district, outside the street
        (30.39, 120.39, wgs),  # only the city
        (39.9, 116.4, wgs),  # outside every area
        (W_LAT, W_LNG, wgs),
        (G_LAT, G_LNG, wgs),  # the raw GCJ-02 point: the other grid
        (G_LAT, G_LNG, gcj),
        (b_lat, b_lng, bd),
        (39.915, 116.404, gcj),  # outside, converted
    ]
    outside = 0
    for lat, lng, crs in points:
        expected = await http_answer(client, lat, lng, crs)
        assert locate_compact(index, lat, lng, crs) == expected, (lat, lng, crs)
        outside += expected is None
    assert outside == 2
    border = locate_compact(index, 30.25, 120.15, wgs)
    assert border is not None
    assert border.area.level == "grid"


async def test_unchanged_is_304_and_a_change_is_a_new_version(
    client: httpx.AsyncClient, admin: Any, bearer: Any
) -> None:
    tree = await make_chain(client, admin())
    first = await client.get(SNAPSHOT, headers=service(bearer))
    etag = first.headers["etag"]
    same = await client.get(SNAPSHOT, headers={**service(bearer), "If-None-Match": etag})
    assert same.status_code == 304
    assert same.content == b""
    assert same.headers["etag"] == etag
    listed = await client.get(
        SNAPSHOT, headers={**service(bearer), "If-None-Match": f'"area-tree-0", {etag}'}
    )
    assert listed.status_code == 304
    deleted = await client.delete(f"/api/v1/areas/{tree['grid2']['id']}", headers=admin())
    assert deleted.status_code == 204, deleted.text
    changed = await client.get(SNAPSHOT, headers={**service(bearer), "If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    index = decode_snapshot(changed.content)
    assert index.version > decode_snapshot(first.content).version
    assert len(index) == 5
    after = locate_compact(index, 30.25, 120.18, CoordinateSystem.wgs84)
    assert after is not None
    assert after.area.code == "330106001001"  # the community is now the lowest


async def test_only_services_with_the_scope_may_read_it(
    client: httpx.AsyncClient, admin: Any, bearer: Any
) -> None:
    await make_chain(client, admin())
    anonymous = await client.get(SNAPSHOT)
    assert anonymous.status_code == 401
    for headers in (
        admin(),  # a person, even an admin of the whole tree
        bearer(sub="res-1", roles=["resident"]),
        bearer(roles=["platform"], cid="open311-demo", scope="open311"),  # another scope
    ):
        response = await client.get(SNAPSHOT, headers=headers)
        assert response.status_code == 403, response.text
        body = response.json()
        assert body["code"] == "missing_scope"
        assert "areas:snapshot" in body["detail"]


async def test_openapi_describes_the_snapshot(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    op = spec["paths"][SNAPSHOT]["get"]
    assert "areas:snapshot" in op["description"]
    assert MEDIA_TYPE in op["responses"]["200"]["content"]
    assert {"304", "401", "403", "503"} <= set(op["responses"])
