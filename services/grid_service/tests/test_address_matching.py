"""Address matching over the standard-address register (issue 16): the normaliser, then
``POST /api/v1/addresses/match`` — exact after normalisation, then pg_trgm similarity."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from gridtest_helpers import make_chain

from grid_service.basicinfo.addressing import chinese_number, parse
from shared.testing import TestKeys

GRID1 = "330100.330106.330106001.330106001001.330106001001001"
GRID2 = "330100.330106.330106001.330106001001.330106001001002"


@pytest.mark.parametrize(
    ("said", "street", "building", "unit", "room"),
    [
        ("浙江省杭州市西湖区宝石山下一弄１２号", "宝石山下1弄12号", "", "", ""),
        ("宝石山下1弄12号", "宝石山下1弄12号", "", "", ""),
        (
            "杭州市 西湖区 北山街道 宝石山下一弄12号三栋二单元501",
            "宝石山下1弄12号",
            "3",
            "2",
            "501",
        ),
        ("文三路90号东部软件园3号楼2单元301室", "文三路90号", "3", "2", "301"),
        ("文三路９０号３座", "文三路90号", "3", "", ""),
        ("文三路 90 号 3-2-301", "文三路90号", "3", "2", "301"),
        ("西湖区文三路90号501", "文三路90号", "", "", "501"),
        ("文三路九十号，三幢", "文三路90号", "3", "", ""),
        ("上海市黄浦区南京东路100号", "南京东路100号", "", "", ""),
        ("新疆维吾尔自治区乌鲁木齐市天山区解放路1号", "解放路1号", "", "", ""),
    ],
)
def test_normalisation(said: str, street: str, building: str, unit: str, room: str) -> None:
    parsed = parse(said)
    assert (parsed.street, parsed.building, parsed.unit, parsed.room) == (
        street,
        building,
        unit,
        room,
    )


def test_a_place_ending_like_a_district_is_kept() -> None:
    assert parse("宝石小区3幢").street == "宝石小区3幢"  # 小区 is not a 区
    assert chinese_number("十二") == 12
    assert chinese_number("二十") == 20
    assert chinese_number("一百零五") == 105


def staff(keys: TestKeys, role: str = "dispatcher", areas: tuple[str, ...] = ("330100",)) -> Any:
    return {"Authorization": f"Bearer {keys.mint(sub='staff-1', roles=[role], areas=list(areas))}"}


async def register(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    grid: str,
    street: str,
    building: str,
    unit: str = "",
    room: str = "",
) -> str:
    response = await client.post(
        "/api/v1/addresses",
        headers=headers,
        json={
            "area_id": grid,
            "street_address": street,
            "building_no": building,
            "unit_no": unit,
            "room_no": room,
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@pytest.fixture
async def register_entries(client: httpx.AsyncClient, admin: Any) -> dict[str, Any]:
    tree = await make_chain(client, admin())
    g1, g2 = tree["grid1"]["id"], tree["grid2"]["id"]
    return {
        "tree": tree,
        "baoshi12": await register(client, admin(), g1, "宝石山下一弄12号", "1"),
        "baoshi14": await register(client, admin(), g1, "宝石山下一弄14号", "1"),
        "wensan501": await register(
            client, admin(), g2, "文三路90号东部软件园", "三幢", "2", "501"
        ),
        "wensan502": await register(client, admin(), g2, "文三路90号东部软件园", "3", "2", "502"),
        "shared_a": await register(client, admin(), g1, "保俶路100号", "1"),
        "shared_b": await register(client, admin(), g2, "保俶路100号", "2"),
    }


async def match(
    client: httpx.AsyncClient, keys: TestKeys, address: str, **extra: Any
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/addresses/match", headers=staff(keys), json={"address": address, **extra}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_the_stored_normalised_form(app: Any, register_entries: dict[str, Any]) -> None:
    async with app.state.engine.connect() as conn:
        row = (
            await conn.execute(
                sa.text(
                    "SELECT street_key, building_key, unit_key, room_key, normalized "
                    "FROM standard_address WHERE id = :id"
                ),
                {"id": register_entries["wensan501"]},
            )
        ).one()
    assert tuple(row) == ("文三路90号", "3", "2", "501", "文三路90号东部软件园3幢2单元501室")


async def test_spoken_address_with_prefix_and_full_width_digits_matches(
    client: httpx.AsyncClient, test_keys: TestKeys, register_entries: dict[str, Any]
) -> None:
    body = await match(client, test_keys, "浙江省杭州市西湖区宝石山下一弄１２号")
    assert body["normalized"] == "宝石山下1弄12号"
    assert body["status"] == "matched"
    best = body["candidates"][0]
    assert best["address"]["id"] == register_entries["baoshi12"]
    assert best["method"] == "exact"
    assert best["area"]["path"] == GRID1
    assert best["area"]["level"] == "grid"
    assert [a["level"] for a in best["ancestors"]] == ["city", "district", "street", "community"]
    # 14号 is another house number: not an exact candidate
    assert [c["address"]["id"] for c in body["candidates"]] == [register_entries["baoshi12"]]


async def test_building_unit_room_variants_match_exactly(
    client: httpx.AsyncClient, test_keys: TestKeys, register_entries: dict[str, Any]
) -> None:
    for said in (
        "文三路９０号３栋二单元501",
        "文三路90号东部软件园3号楼2单元501室",
        "文三路90号3-2-501",
    ):
        body = await match(client, test_keys, said)
        assert body["status"] == "matched", said
        assert body["candidates"][0]["address"]["id"] == register_entries["wensan501"], said
        assert body["candidates"][0]["score"] == 1.0
        assert [c["address"]["id"] for c in body["candidates"]] == [register_entries["wensan501"]]
    # the building alone: both rooms, in one grid → placed
    body = await match(client, test_keys, "文三路90号三幢")
    assert body["status"] == "matched"
    assert {c["address"]["id"] for c in body["candidates"]} == {
        register_entries["wensan501"],
        register_entries["wensan502"],
    }
    assert {c["area"]["path"] for c in body["candidates"]} == {GRID2}


async def test_one_house_number_in_two_grids_is_ambiguous(
    client: httpx.AsyncClient, test_keys: TestKeys, register_entries: dict[str, Any]
) -> None:
    body = await match(client, test_keys, "保俶路100号")
    assert body["status"] == "ambiguous"
    assert {c["area"]["path"] for c in body["candidates"]} == {GRID1, GRID2}
    # naming the building settles it
    body = await match(client, test_keys, "保俶路100号2幢")
    assert body["status"] == "matched"
    assert body["candidates"][0]["address"]["id"] == register_entries["shared_b"]


async def test_similar_when_nothing_matches_exactly(
    client: httpx.AsyncClient, test_keys: TestKeys, register_entries: dict[str, Any]
) -> None:
    # a typo in the street name: no exact entry, the trigram neighbours ranked by score
    body = await match(client, test_keys, "宝石山下弄12号")
    assert body["candidates"], body
    assert all(c["method"] == "similar" for c in body["candidates"])
    scores = [c["score"] for c in body["candidates"]]
    assert scores == sorted(scores, reverse=True)
    assert body["candidates"][0]["address"]["id"] == register_entries["baoshi12"]
    nothing = await match(client, test_keys, "莫干山路999号")
    assert nothing["status"] == "unmatched"
    assert nothing["candidates"] == []


async def test_staff_search_inside_their_areas_and_clients_need_the_scope(
    client: httpx.AsyncClient, test_keys: TestKeys, bearer: Any, register_entries: dict[str, Any]
) -> None:
    outside = await client.post(
        "/api/v1/addresses/match",
        headers=staff(test_keys, "dispatcher", (GRID2,)),
        json={"address": "宝石山下一弄12号"},
    )
    assert outside.status_code == 200
    assert outside.json()["status"] == "unmatched"
    resident = await client.post(
        "/api/v1/addresses/match",
        headers=bearer(sub="r-1", roles=["resident"]),
        json={"address": "宝石山下一弄12号"},
    )
    assert resident.status_code == 403
    assert resident.json()["code"] == "missing_scope"
    platform = await client.post(
        "/api/v1/addresses/match",
        headers=bearer(sub="case_service", roles=["platform"], scope="addresses:match"),
        json={"address": "宝石山下一弄12号"},
    )
    assert platform.status_code == 200
    assert platform.json()["status"] == "matched"


async def test_one_address_with_its_grid_for_placing_a_case(
    client: httpx.AsyncClient, test_keys: TestKeys, bearer: Any, register_entries: dict[str, Any]
) -> None:
    """GET /addresses/{id}: what case_service's locate action places a case by."""
    url = f"/api/v1/addresses/{register_entries['baoshi12']}"
    platform = bearer(sub="case_service", roles=["platform"], scope="addresses:match")
    found = await client.get(url, headers=platform)
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["address"]["street_address"] == "宝石山下一弄12号"
    assert body["area"]["path"] == GRID1
    assert body["area"]["level"] == "grid"
    assert [a["level"] for a in body["ancestors"]] == ["city", "district", "street", "community"]
    inside = await client.get(url, headers=staff(test_keys, "dispatcher", (GRID1,)))
    assert inside.status_code == 200
    outside = await client.get(url, headers=staff(test_keys, "dispatcher", (GRID2,)))
    assert outside.status_code == 404
    assert outside.json()["code"] == "address_not_found"
    unknown = await client.get(
        "/api/v1/addresses/6b0c6f3e-3f55-4e55-9a43-1a1f4b8f0a11", headers=platform
    )
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == "没有这个标准地址"
    resident = await client.get(url, headers=bearer(sub="r-1", roles=["resident"]))
    assert resident.status_code == 403
    bad = await client.get("/api/v1/addresses/not-an-id", headers=platform)
    assert bad.status_code == 422


async def test_bad_match_requests_name_the_field(
    client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    for body, field in (
        ({"address": ""}, "address"),
        ({"address": "x", "limit": 0}, "limit"),
        ({"address": "x", "colour": "red"}, "colour"),
    ):
        response = await client.post("/api/v1/addresses/match", headers=staff(test_keys), json=body)
        assert response.status_code == 422, body
        assert response.json()["errors"][0]["field"] == field


async def test_exact_lookup_uses_the_key_index(app: Any) -> None:
    async with app.state.engine.connect() as conn:
        await conn.execute(sa.text("SET enable_seqscan = off"))
        plan = "\n".join(
            r[0]
            for r in await conn.execute(
                sa.text(
                    "EXPLAIN SELECT * FROM standard_address WHERE street_key = '文三路90号' "
                    "AND building_key IN ('3', '')"
                )
            )
        )
        assert "ix_standard_address_street_key_building_key" in plan
        trgm = "\n".join(
            r[0]
            for r in await conn.execute(
                sa.text("EXPLAIN SELECT * FROM standard_address WHERE normalized % '文三路90号'")
            )
        )
        assert "ix_standard_address_normalized_trgm" in trgm
