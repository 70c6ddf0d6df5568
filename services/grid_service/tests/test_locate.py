"""Point location in three coordinate systems, batch, index refresh, who answers now."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from gridtest_helpers import make_area, make_chain
from sqlalchemy import event

from grid_service.locate.index import Locator, SpatialIndex
from shared.contracts.grids import LocateCompact
from shared.db import get_session, make_engine, make_sessionmaker
from shared.geo.coords import gcj02_to_bd09

# Shanghai reference point (eviltransform): WGS84 and its GCJ-02 counterpart
W_LAT, W_LNG = 31.1774276, 121.5272106
G_LAT, G_LNG = 31.17530398364597, 121.531541859215


async def shanghai_grid(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    """A grid whose east edge is 60 m east of the WGS84 reference point: the raw GCJ-02
    point (≈ 410 m east) falls outside it, the converted one inside."""
    city = await make_area(
        client, headers, code="310100", level="city", box=(121.0, 30.7, 122.0, 31.5)
    )
    district = await make_area(
        client,
        headers,
        code="310115",
        level="district",
        box=(121.4, 31.1, 121.6, 31.3),
        parent_id=city["id"],
    )
    street = await make_area(
        client,
        headers,
        code="310115001",
        level="street",
        box=(121.5, 31.15, 121.55, 31.2),
        parent_id=district["id"],
    )
    community = await make_area(
        client,
        headers,
        code="310115001001",
        level="community",
        box=(121.5, 31.15, 121.55, 31.2),
        parent_id=street["id"],
    )
    east_edge = W_LNG + 0.0006
    west = await make_area(
        client,
        headers,
        code="310115001001001",
        level="grid",
        box=(121.5, 31.15, east_edge, 31.2),
        parent_id=community["id"],
    )
    await make_area(
        client,
        headers,
        code="310115001001002",
        level="grid",
        box=(east_edge, 31.15, 121.55, 31.2),
        parent_id=community["id"],
    )
    return west


async def test_locate_wgs84_returns_area_and_ancestors(
    client: httpx.AsyncClient, admin: Any
) -> None:
    tree = await make_chain(client, admin())
    response = await client.get("/api/v1/grids/locate", params={"lat": 30.25, "lng": 120.12})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["area"]["code"] == "330106001001001"
    assert [a["code"] for a in body["ancestors"]] == [
        "330100",
        "330106",
        "330106001",
        "330106001001",
    ]
    assert body["lat"] == 30.25
    assert body["lng"] == 120.12
    east = await client.get("/api/v1/grids/locate", params={"lat": 30.25, "lng": 120.18})
    assert east.json()["area"]["id"] == tree["grid2"]["id"]


async def test_locate_in_three_coordinate_systems(client: httpx.AsyncClient, admin: Any) -> None:
    grid = await shanghai_grid(client, admin("310100"))
    wgs = await client.get("/api/v1/grids/locate", params={"lat": W_LAT, "lng": W_LNG})
    assert wgs.json()["area"]["id"] == grid["id"]
    raw = await client.get("/api/v1/grids/locate", params={"lat": G_LAT, "lng": G_LNG})
    assert raw.json()["area"]["code"] == "310115001001002"  # unconverted: the wrong grid
    gcj = await client.get(
        "/api/v1/grids/locate", params={"lat": G_LAT, "lng": G_LNG, "crs": "gcj02"}
    )
    assert gcj.status_code == 200
    assert gcj.json()["area"]["id"] == grid["id"]
    assert abs(gcj.json()["lat"] - W_LAT) < 1e-5
    assert abs(gcj.json()["lng"] - W_LNG) < 1e-5
    b_lat, b_lng = gcj02_to_bd09(G_LAT, G_LNG)
    bd = await client.get(
        "/api/v1/grids/locate", params={"lat": b_lat, "lng": b_lng, "crs": "bd09"}
    )
    assert bd.json()["area"]["id"] == grid["id"]
    assert abs(bd.json()["lat"] - W_LAT) < 1e-5
    assert abs(bd.json()["lng"] - W_LNG) < 1e-5


async def test_outside_every_area_is_outside_jurisdiction(
    client: httpx.AsyncClient, admin: Any
) -> None:
    await make_chain(client, admin())
    response = await client.get("/api/v1/grids/locate", params={"lat": 39.9, "lng": 116.4})
    assert response.status_code == 404
    assert response.json()["code"] == "outside_jurisdiction"


async def test_locate_bad_input(client: httpx.AsyncClient) -> None:
    for params in (
        {"lat": 91, "lng": 120},
        {"lat": "north", "lng": 120},
        {"lng": 120},
        {"lat": 30, "lng": 120, "crs": "mars"},
    ):
        response = await client.get("/api/v1/grids/locate", params=params)
        assert response.status_code == 422, params
        assert response.json()["errors"][0]["field"].startswith("query.")


async def test_index_follows_tree_changes(client: httpx.AsyncClient, admin: Any, app: Any) -> None:
    """The replica that made a change answers from it at once: its commit marks the locator
    stale (no waiting for the background check, which is stopped here to prove it)."""
    tree = await make_chain(client, admin())
    await app.state.locator.stop()
    try:
        assert (
            await client.get("/api/v1/grids/locate", params={"lat": 30.25, "lng": 120.18})
        ).json()["area"]["code"] == "330106001001002"
        await client.delete(f"/api/v1/areas/{tree['grid2']['id']}", headers=admin())
        after = await client.get("/api/v1/grids/locate", params={"lat": 30.25, "lng": 120.18})
        assert after.json()["area"]["code"] == "330106001001"  # the community is now the lowest
    finally:
        app.state.locator.start()


async def test_batch_answers_each_point(client: httpx.AsyncClient, admin: Any) -> None:
    await make_chain(client, admin())
    response = await client.post(
        "/api/v1/grids/locate/batch",
        json={
            "points": [
                {"lat": 30.25, "lng": 120.12},
                {"lat": 39.9, "lng": 116.4},
                {"lat": 30.25, "lng": 120.18},
            ]
        },
    )
    assert response.status_code == 200
    items = response.json()["items"]
    assert items[0]["result"]["area"]["code"] == "330106001001001"
    assert items[1] == {"index": 1, "result": None, "code": "outside_jurisdiction"}
    assert items[2]["result"]["area"]["code"] == "330106001001002"
    assert len(items[2]["result"]["ancestors"]) == 4


async def test_batch_in_gcj02_and_limits(client: httpx.AsyncClient, admin: Any) -> None:
    grid = await shanghai_grid(client, admin("310100"))
    response = await client.post(
        "/api/v1/grids/locate/batch",
        json={
            "crs": "gcj02",
            "points": [{"lat": G_LAT, "lng": G_LNG}, {"lat": W_LAT, "lng": W_LNG, "crs": "wgs84"}],
        },
    )
    items = response.json()["items"]
    assert items[0]["result"]["area"]["id"] == grid["id"]
    assert items[1]["result"]["area"]["id"] == grid["id"]
    too_many = await client.post(
        "/api/v1/grids/locate/batch", json={"points": [{"lat": 30, "lng": 120}] * 501}
    )
    assert too_many.status_code == 422
    assert too_many.json()["errors"][0]["field"] == "points"
    empty = await client.post("/api/v1/grids/locate/batch", json={"points": []})
    assert empty.status_code == 422
    wrong = await client.post(
        "/api/v1/grids/locate/batch", json={"points": [{"lat": 100, "lng": 120}]}
    )
    assert wrong.status_code == 422
    assert wrong.json()["errors"][0]["field"] == "points.0.lat"


async def test_another_replica_sees_a_change_within_its_check_interval(
    client: httpx.AsyncClient, admin: Any, app: Any
) -> None:
    """A replica that did not make the change (not told by its commit) sees it through its
    background check, within ``check_interval`` plus the rebuild (the documented bound)."""
    interval = 0.3
    replica = Locator(app.state.sessionmaker, check_interval=interval)  # not watching
    await replica.refresh()
    assert len(await replica.current()) == 0
    replica.start()
    try:
        tree = await make_chain(client, admin())
        changed_at = time.monotonic()
        assert not replica._stale  # only the app's own locator was told by the commit
        while len(replica.index) != 6:
            assert time.monotonic() - changed_at < interval + 2.0, "change not seen in time"
            await asyncio.sleep(0.01)
        seen_after = time.monotonic() - changed_at
        fresh = await replica.current()
    finally:
        await replica.stop()
    assert seen_after <= interval + 2.0  # 6 areas rebuild in milliseconds; slack for the load
    assert fresh.locate(30.25, 120.12).ref.id == uuid.UUID(tree["grid1"]["id"])


async def test_a_locate_makes_no_database_round_trip(
    client: httpx.AsyncClient, admin: Any, app: Any
) -> None:
    """Single (full and compact, found and outside) and batch locates touch no database: no
    statement, no pooled connection, and they answer with the session dependency broken."""
    await make_chain(client, admin())
    assert (await client.get("/api/v1/grids/locate", params={"lat": 30.25, "lng": 120.12})).json()
    await app.state.locator.stop()  # its background check would read the versions meanwhile
    statements: list[str] = []
    checkouts: list[object] = []

    def on_statement(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    def on_checkout(*args: Any) -> None:
        checkouts.append(args)

    async def no_session() -> AsyncIterator[None]:
        raise AssertionError("a locate asked for a database session")
        yield

    engine = app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine.pool, "checkout", on_checkout)
    app.dependency_overrides[get_session] = no_session
    try:
        for view in ("full", "compact"):
            for lat, lng in ((30.25, 120.12), (30.25, 120.18)):
                response = await client.get(
                    "/api/v1/grids/locate", params={"lat": lat, "lng": lng, "view": view}
                )
                assert response.status_code == 200, response.text
        outside = await client.get("/api/v1/grids/locate", params={"lat": 39.9, "lng": 116.4})
        assert outside.status_code == 404
        batch = await client.post(
            "/api/v1/grids/locate/batch", json={"points": [{"lat": 30.25, "lng": 120.12}] * 3}
        )
        assert batch.status_code == 200
        # the override is in force: a route that does take a session fails
        assert (await client.get("/api/v1/areas")).status_code == 500
    finally:
        app.dependency_overrides.pop(get_session, None)
        event.remove(engine, "before_cursor_execute", on_statement)
        event.remove(engine.pool, "checkout", on_checkout)
        app.state.locator.start()
    assert statements == []
    assert checkouts == []


async def test_compact_view_omits_who_answers(client: httpx.AsyncClient, admin: Any) -> None:
    tree = await make_chain(client, admin())
    await client.post(
        "/api/v1/members",
        json={
            "area_id": tree["grid1"]["id"],
            "post": "grid_leader",
            "name": "陈建国",
            "phone": "13800000001",
        },
        headers=admin(),
    )
    point = {"lat": 30.25, "lng": 120.12}
    full = (await client.get("/api/v1/grids/locate", params=point)).json()
    assert [p["name"] for p in full["responsible"]] == ["陈建国"]
    compact = await client.get("/api/v1/grids/locate", params={**point, "view": "compact"})
    assert compact.status_code == 200
    assert compact.headers["content-type"] == "application/json"
    body = compact.json()
    assert set(body) == {"area", "ancestors", "lat", "lng"}
    assert body == {k: v for k, v in full.items() if k != "responsible"}
    assert LocateCompact.model_validate(body).area.id == uuid.UUID(tree["grid1"]["id"])
    explicit_full = await client.get("/api/v1/grids/locate", params={**point, "view": "full"})
    assert explicit_full.json() == full
    wrong = await client.get("/api/v1/grids/locate", params={**point, "view": "tiny"})
    assert wrong.status_code == 422
    assert wrong.json()["errors"][0]["field"] == "query.view"


async def test_openapi_documents_both_views(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    operation = spec["paths"]["/api/v1/grids/locate"]["get"]
    assert "view" in {p["name"] for p in operation["parameters"]}
    content = operation["responses"]["200"]["content"]["application/json"]
    assert set(content["examples"]) == {"full", "compact"}
    assert "responsible" not in content["examples"]["compact"]["value"]
    refs = {s["$ref"].rsplit("/", 1)[1] for s in content["schema"]["anyOf"]}
    assert refs == {"LocateResult", "LocateCompact"}
    assert "GRID_LOCATE_VERSION_CHECK_SECONDS" in operation["description"]


async def test_a_stale_locator_answers_from_its_snapshot_while_the_database_is_away() -> None:
    engine = make_engine("postgresql+asyncpg://postgres@127.0.0.1:1/gone")
    try:
        locator = Locator(make_sessionmaker(engine), check_interval=60)
        box = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}
        snapshot = SpatialIndex.build([(uuid.uuid4(), "1", "一", "city", "1", 0, box)], version=7)
        locator.index = snapshot
        locator.changed()
        assert await locator.current() is snapshot  # no error: the old answer
        assert not locator._stale  # and the next locate does not wait on the database again
        with pytest.raises(OSError):
            await locator.refresh()  # the background check sees the failure (and logs it)
    finally:
        await engine.dispose()
