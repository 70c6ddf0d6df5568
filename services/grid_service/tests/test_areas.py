"""The area tree: creation, every refusal, warnings, atomic import, export, scope."""

from __future__ import annotations

from typing import Any

import httpx
from gridtest_helpers import CITY_BOX, make_area, make_chain, rect


def fields(response: httpx.Response) -> dict[str, str]:
    body = response.json()
    return {e["field"]: e["type"] for e in body.get("errors") or []}


async def test_create_tree_sets_path_depth_area_and_centroid(
    client: httpx.AsyncClient, admin: Any
) -> None:
    tree = await make_chain(client, admin())
    grid = tree["grid1"]
    assert grid["path"] == "330100.330106.330106001.330106001001.330106001001001"
    assert grid["depth"] == 4
    assert grid["level"] == "grid"
    assert grid["warnings"] == []
    # 0.05° × 0.1° at 30.25°N ≈ 4.81 km × 11.1 km
    assert 52_000_000 < grid["area_m2"] < 55_000_000
    assert abs(grid["centroid"]["lat"] - 30.25) < 1e-9
    fetched = await client.get(f"/api/v1/areas/{grid['id']}")
    assert fetched.status_code == 200
    assert fetched.json()["boundary"]["type"] == "Polygon"
    by_code = await client.get("/api/v1/areas/by-code/330106001001002")
    assert by_code.json()["id"] == tree["grid2"]["id"]


async def test_list_under_a_subtree_is_paged(client: httpx.AsyncClient, admin: Any) -> None:
    tree = await make_chain(client, admin())
    first = await client.get("/api/v1/areas", params={"under": "330100.330106", "limit": 3})
    assert first.status_code == 200
    page1 = first.json()
    assert [a["code"] for a in page1["items"]] == ["330106", "330106001", "330106001001"]
    second = await client.get(
        "/api/v1/areas",
        params={"under": "330100.330106", "limit": 3, "cursor": page1["next_cursor"]},
    )
    assert [a["code"] for a in second.json()["items"]] == ["330106001001001", "330106001001002"]
    assert second.json()["next_cursor"] is None
    children = await client.get("/api/v1/areas", params={"parent_id": tree["community"]["id"]})
    assert len(children.json()["items"]) == 2
    grids = await client.get("/api/v1/areas", params={"level": "grid"})
    assert len(grids.json()["items"]) == 2


async def test_household_count_outside_500_1000_is_a_warning(
    client: httpx.AsyncClient, admin: Any
) -> None:
    tree = await make_chain(client, admin())
    response = await client.post(
        "/api/v1/areas",
        headers=admin(),
        json={
            "code": "330106001002",
            "name": "c2",
            "level": "community",
            "parent_id": tree["street"]["id"],
            "boundary": rect(120.1, 30.2, 120.2, 30.3),
        },
    )
    # overlapping its sibling community: refused (checked below in detail)
    assert response.status_code == 422
    micro = await client.post(
        "/api/v1/areas",
        headers=admin(),
        json={
            "code": "330106001001003",
            "name": "big grid",
            "level": "grid",
            "parent_id": tree["community"]["id"],
            "boundary": rect(120.15, 30.2, 120.2, 30.3),
            "household_count": 1500,
        },
    )
    assert micro.status_code == 422  # overlaps grid2
    await client.delete(f"/api/v1/areas/{tree['grid2']['id']}", headers=admin())
    big = await client.post(
        "/api/v1/areas",
        headers=admin(),
        json={
            "code": "330106001001003",
            "name": "big grid",
            "level": "grid",
            "parent_id": tree["community"]["id"],
            "boundary": rect(120.15, 30.2, 120.2, 30.3),
            "household_count": 1500,
        },
    )
    assert big.status_code == 201
    assert big.json()["warnings"][0]["code"] == "household_count_out_of_range"
    assert big.json()["warnings"][0]["field"] == "household_count"
    small = await client.patch(
        f"/api/v1/areas/{big.json()['id']}", headers=admin(), json={"household_count": 120}
    )
    assert small.status_code == 200
    assert small.json()["household_count"] == 120
    assert small.json()["warnings"][0]["code"] == "household_count_out_of_range"


async def _refused(
    client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]
) -> dict[str, str]:
    response = await client.post("/api/v1/areas", headers=headers, json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return fields(response)


async def test_each_refusal_names_the_field(client: httpx.AsyncClient, admin: Any) -> None:
    headers = admin()
    tree = await make_chain(client, headers)
    community = tree["community"]["id"]
    grid = {"name": "g", "level": "grid", "parent_id": community}

    bow_tie = {
        "type": "Polygon",
        "coordinates": [
            [[120.1, 30.2], [120.11, 30.21], [120.11, 30.2], [120.1, 30.21], [120.1, 30.2]]
        ],
    }
    assert await _refused(
        client, headers, {**grid, "code": "330106001001009", "boundary": bow_tie}
    ) == {"boundary": "invalid_geometry"}

    not_polygon = {"type": "Point", "coordinates": [120.1, 30.2]}
    assert await _refused(
        client, headers, {**grid, "code": "330106001001009", "boundary": not_polygon}
    ) == {"boundary": "invalid_geometry"}

    open_ring = {"type": "Polygon", "coordinates": [[[120.1, 30.2], [120.11, 30.2]]]}
    assert await _refused(
        client, headers, {**grid, "code": "330106001001009", "boundary": open_ring}
    ) == {"boundary": "invalid_geometry"}

    swapped = rect(30.2, 120.1, 30.21, 120.11)  # lat/lng swapped: latitude > 90
    assert await _refused(
        client, headers, {**grid, "code": "330106001001009", "boundary": swapped}
    ) == {"boundary": "invalid_geometry"}

    outside = rect(120.25, 30.2, 120.27, 30.22)  # beside the community, inside the district
    got = await _refused(client, headers, {**grid, "code": "330106001001009", "boundary": outside})
    assert got == {"boundary": "outside_parent"}

    micro_outside = await client.post(
        "/api/v1/areas",
        headers=headers,
        json={
            "code": "330106001001001001",
            "name": "m",
            "level": "micro_grid",
            "parent_id": tree["grid1"]["id"],
            "boundary": rect(120.14, 30.2, 120.16, 30.21),
        },
    )
    assert micro_outside.status_code == 422
    assert fields(micro_outside) == {"boundary": "outside_parent"}

    overlapping = rect(120.14, 30.2, 120.16, 30.25)  # across both grids
    assert await _refused(
        client, headers, {**grid, "code": "330106001001009", "boundary": overlapping}
    ) == {"boundary": "overlaps_sibling"}

    duplicate = {**grid, "code": "330106001001001", "boundary": rect(120.1, 30.2, 120.11, 30.21)}
    got = await _refused(client, headers, duplicate)
    assert got["code"] == "duplicate"

    not_extending = {
        **grid,
        "code": "330106001002001",
        "boundary": rect(120.1, 30.2, 120.11, 30.21),
    }
    assert (await _refused(client, headers, not_extending))["code"] == "not_extending_parent"

    wrong_length = {
        "code": "33010600",
        "name": "s",
        "level": "street",
        "parent_id": tree["district"]["id"],
        "boundary": rect(120.2, 30.2, 120.25, 30.25),
    }
    assert await _refused(client, headers, wrong_length) == {"code": "format"}

    letters = {**grid, "code": "330106001001abc", "boundary": rect(120.1, 30.2, 120.11, 30.21)}
    assert (await _refused(client, headers, letters))["code"] == "format"

    wrong_level = {
        **grid,
        "level": "street",
        "code": "330106002",
        "boundary": rect(120.1, 30.2, 120.11, 30.21),
    }
    assert (await _refused(client, headers, wrong_level))["level"] == "wrong_level"

    orphan = {
        "code": "330106009",
        "name": "s",
        "level": "street",
        "parent_id": None,
        "boundary": rect(121.1, 31.2, 121.11, 31.21),
    }
    assert await _refused(client, headers, orphan) == {"parent_id": "missing_parent"}

    missing_parent = {
        **grid,
        "code": "330106001001009",
        "parent_id": "00000000-0000-0000-0000-000000000000",
        "boundary": rect(120.1, 30.2, 120.11, 30.21),
    }
    assert await _refused(client, headers, missing_parent) == {"parent_id": "not_found"}

    bad_type = await client.post(
        "/api/v1/areas",
        headers=headers,
        json={
            **grid,
            "code": "330106001001009",
            "boundary": rect(120.1, 30.2, 120.11, 30.21),
            "household_count": "many",
        },
    )
    assert bad_type.status_code == 422
    assert "household_count" in fields(bad_type)

    malformed = await client.post(
        "/api/v1/areas",
        headers=headers,
        content=b"{not json",
    )
    assert malformed.status_code in (400, 422)

    listed = await client.get("/api/v1/areas", params={"level": "grid"})
    assert len(listed.json()["items"]) == 2  # nothing was written


async def test_district_code_must_share_the_city_prefix(
    client: httpx.AsyncClient, admin: Any
) -> None:
    city = await make_area(client, admin(), code="330100", level="city", box=CITY_BOX)
    got = await _refused(
        client,
        admin(),
        {
            "code": "320106",
            "name": "d",
            "level": "district",
            "parent_id": city["id"],
            "boundary": rect(120.1, 30.1, 120.2, 30.2),
        },
    )
    assert got == {"code": "not_extending_parent"}


async def test_admin_outside_their_scope_is_refused(client: httpx.AsyncClient, admin: Any) -> None:
    tree = await make_chain(client, admin())
    other = admin("330100.330108")
    create = await client.post(
        "/api/v1/areas",
        headers=other,
        json={
            "code": "330106001001003",
            "name": "g",
            "level": "grid",
            "parent_id": tree["community"]["id"],
            "boundary": rect(120.1, 30.2, 120.11, 30.21),
        },
    )
    assert create.status_code == 403
    assert create.json()["code"] == "outside_scope"
    patch = await client.patch(
        f"/api/v1/areas/{tree['grid1']['id']}", headers=other, json={"name": "x"}
    )
    assert patch.status_code == 403
    delete = await client.delete(f"/api/v1/areas/{tree['grid1']['id']}", headers=other)
    assert delete.status_code == 403
    inside = admin("330100.330106.330106001")
    ok = await client.patch(
        f"/api/v1/areas/{tree['grid1']['id']}", headers=inside, json={"name": "西溪一网格"}
    )
    assert ok.status_code == 200
    assert ok.json()["name"] == "西溪一网格"


async def test_non_admins_cannot_change_the_tree(client: httpx.AsyncClient, bearer: Any) -> None:
    worker = bearer(roles=["grid_worker"], areas=["330100"])
    response = await client.post("/api/v1/areas", headers=worker, json={})
    assert response.status_code == 403
    assert response.json()["code"] == "missing_role"
    anonymous = await client.post("/api/v1/areas", json={})
    assert anonymous.status_code == 401


async def test_boundary_update_must_keep_children_inside(
    client: httpx.AsyncClient, admin: Any
) -> None:
    tree = await make_chain(client, admin())
    shrink = await client.patch(
        f"/api/v1/areas/{tree['community']['id']}",
        headers=admin(),
        json={"boundary": rect(120.1, 30.2, 120.15, 30.3)},
    )
    assert shrink.status_code == 422
    assert fields(shrink) == {"boundary": "children_outside"}
    null_name = await client.patch(
        f"/api/v1/areas/{tree['grid1']['id']}", headers=admin(), json={"name": None}
    )
    assert null_name.status_code == 422
    unknown = await client.patch(
        f"/api/v1/areas/{tree['grid1']['id']}", headers=admin(), json={"code": "1"}
    )
    assert unknown.status_code == 422


async def test_delete_refuses_an_area_with_children(client: httpx.AsyncClient, admin: Any) -> None:
    tree = await make_chain(client, admin())
    response = await client.delete(f"/api/v1/areas/{tree['community']['id']}", headers=admin())
    assert response.status_code == 409
    assert response.json()["code"] == "area_has_children"
    gone = await client.delete(f"/api/v1/areas/{tree['grid2']['id']}", headers=admin())
    assert gone.status_code == 204
    missing = await client.get(f"/api/v1/areas/{tree['grid2']['id']}")
    assert missing.status_code == 404
    assert missing.json()["code"] == "area_not_found"


def feature(
    code: str,
    level: str,
    box: tuple[float, float, float, float],
    parent: str | None,
    households: int | None = None,
) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": rect(*box),
        "properties": {
            "code": code,
            "name": f"n{code}",
            "level": level,
            "parent_code": parent,
            "household_count": households,
        },
    }


async def test_import_is_atomic_and_lists_every_bad_feature(
    client: httpx.AsyncClient, admin: Any
) -> None:
    await make_area(client, admin(), code="330100", level="city", box=CITY_BOX)
    good = [
        feature("330106", "district", (120.05, 30.1, 120.3, 30.35), "330100"),
        feature("330106001", "street", (120.1, 30.2, 120.2, 30.3), "330106"),
        feature("330106001001", "community", (120.1, 30.2, 120.2, 30.3), "330106001"),
        feature("330106001001001", "grid", (120.1, 30.2, 120.15, 30.3), "330106001001", 600),
    ]
    bad = [
        feature(
            "330106001001002", "grid", (120.14, 30.2, 120.2, 30.3), "330106001001"
        ),  # overlaps 001
        feature("330106001001003", "grid", (120.25, 30.2, 120.27, 30.3), "330106001001"),  # outside
        feature(
            "330106001001001", "grid", (120.16, 30.2, 120.17, 30.21), "330106001001"
        ),  # duplicate
        feature(
            "330106001001004", "grid", (120.17, 30.2, 120.18, 30.21), "330106999999"
        ),  # no parent
    ]
    response = await client.post(
        "/api/v1/areas/import",
        headers=admin(),
        json={"type": "FeatureCollection", "features": good + bad},
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "import_invalid"
    got = {(e["field"], e["type"]) for e in body["errors"]}
    assert ("features[4].geometry", "overlaps_sibling") in got
    assert ("features[5].geometry", "outside_parent") in got
    assert ("features[6].properties.code", "duplicate") in got
    assert ("features[7].properties.parent_code", "not_found") in got
    assert not any(
        e["field"].startswith(("features[0]", "features[1]", "features[2]", "features[3]"))
        for e in body["errors"]
    )
    listed = await client.get("/api/v1/areas")
    assert [a["code"] for a in listed.json()["items"]] == ["330100"]  # nothing imported

    ok = await client.post(
        "/api/v1/areas/import",
        headers=admin(),
        json={"type": "FeatureCollection", "features": list(reversed(good))},
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["imported"] == 4
    grid = await client.get("/api/v1/areas/by-code/330106001001001")
    assert grid.json()["path"] == "330100.330106.330106001.330106001001.330106001001001"


async def test_import_outside_scope_is_forbidden(client: httpx.AsyncClient, admin: Any) -> None:
    await make_area(client, admin(), code="330100", level="city", box=CITY_BOX)
    response = await client.post(
        "/api/v1/areas/import",
        headers=admin("330100.330108"),
        json={
            "type": "FeatureCollection",
            "features": [feature("330106", "district", (120.05, 30.1, 120.3, 30.35), "330100")],
        },
    )
    assert response.status_code == 403
    assert response.json()["code"] == "outside_scope"


async def test_import_rejects_a_malformed_collection(client: httpx.AsyncClient, admin: Any) -> None:
    response = await client.post(
        "/api/v1/areas/import",
        headers=admin(),
        json={
            "type": "FeatureCollection",
            "features": [{"type": "Feature", "geometry": {}, "properties": {"name": "x"}}],
        },
    )
    assert response.status_code == 422
    assert "features.0.properties.code" in fields(response)


async def test_export_round_trips_through_import(client: httpx.AsyncClient, admin: Any) -> None:
    await make_chain(client, admin())
    exported = await client.get("/api/v1/areas/export", params={"under": "330100.330106.330106001"})
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("application/geo+json")
    body = exported.json()
    assert [f["properties"]["code"] for f in body["features"]] == [
        "330106001",
        "330106001001",
        "330106001001001",
        "330106001001002",
    ]
    assert body["features"][0]["properties"]["parent_code"] == "330106"
    missing = await client.get("/api/v1/areas/export", params={"under": "999999"})
    assert missing.status_code == 404


async def test_multipolygon_boundaries_are_accepted(client: httpx.AsyncClient, admin: Any) -> None:
    city = await make_area(client, admin(), code="330100", level="city", box=CITY_BOX)
    two_parts = {
        "type": "MultiPolygon",
        "coordinates": [
            rect(120.05, 30.05, 120.1, 30.1)["coordinates"],
            rect(120.2, 30.2, 120.25, 30.25)["coordinates"],
        ],
    }
    response = await client.post(
        "/api/v1/areas",
        headers=admin(),
        json={
            "code": "330106",
            "name": "d",
            "level": "district",
            "parent_id": city["id"],
            "boundary": two_parts,
        },
    )
    assert response.status_code == 201, response.text
    assert response.json()["boundary"]["type"] == "MultiPolygon"
    located = await client.get("/api/v1/grids/locate", params={"lat": 30.22, "lng": 120.22})
    assert located.json()["area"]["code"] == "330106"
    between = await client.get("/api/v1/grids/locate", params={"lat": 30.15, "lng": 120.15})
    assert between.json()["area"]["code"] == "330100"


async def test_concurrent_overlapping_siblings_cannot_both_win(
    client: httpx.AsyncClient, admin: Any
) -> None:
    import asyncio

    city = await make_area(client, admin(), code="330100", level="city", box=CITY_BOX)

    def district(code: str, box: tuple[float, float, float, float]) -> dict[str, Any]:
        return {
            "code": code,
            "name": code,
            "level": "district",
            "parent_id": city["id"],
            "boundary": rect(*box),
        }

    first, second = await asyncio.gather(
        client.post(
            "/api/v1/areas", headers=admin(), json=district("330106", (120.0, 30.0, 120.2, 30.2))
        ),
        client.post(
            "/api/v1/areas", headers=admin(), json=district("330108", (120.1, 30.1, 120.3, 30.3))
        ),
    )
    assert sorted([first.status_code, second.status_code]) == [201, 422]
    loser = first if first.status_code == 422 else second
    assert loser.json()["errors"][0]["type"] == "overlaps_sibling"
