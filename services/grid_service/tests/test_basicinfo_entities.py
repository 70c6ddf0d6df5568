"""Buildings, houses, households, organisations and key places: scope, uniqueness, bad input."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import sqlalchemy as sa
from basicinfo_helpers import GRID1, GRID2, headers, setup_grid

from shared.testing import TestKeys

WORKER = "00000000-0000-0000-0000-00000000000a"


def worker(keys: TestKeys, area: str = GRID1) -> dict[str, str]:
    return headers(keys, sub=WORKER, roles=["grid_worker"], areas=[area])


async def test_buildings_and_houses(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys
) -> None:
    s = await setup_grid(client, admin())
    hdrs = worker(test_keys)
    building = await client.post(
        "/api/v1/buildings",
        headers=hdrs,
        json={"area_id": s["grid"], "building_no": "3", "use": "residential", "floors": 6},
    )
    assert building.status_code == 201, building.text
    twice = await client.post(
        "/api/v1/buildings",
        headers=hdrs,
        json={"area_id": s["grid"], "building_no": "3", "use": "residential"},
    )
    assert twice.status_code == 409
    assert twice.json()["code"] == "building_exists"
    bad_use = await client.post(
        "/api/v1/buildings",
        headers=hdrs,
        json={"area_id": s["grid"], "building_no": "4", "use": "castle"},
    )
    assert bad_use.status_code == 422
    assert bad_use.json()["errors"][0]["field"] == "use"
    house = await client.post(
        "/api/v1/houses",
        headers=hdrs,
        json={
            "address_id": s["addresses"][0]["id"],
            "building_id": building.json()["id"],
            "use": "residential",
            "ownership": "private",
            "rented": True,
            "floor_area_m2": 89.5,
        },
    )
    assert house.status_code == 201, house.text
    await client.post(
        "/api/v1/houses",
        headers=hdrs,
        json={"address_id": s["addresses"][1]["id"], "use": "residential", "ownership": "public"},
    )
    rented = await client.get("/api/v1/houses", headers=hdrs, params={"rented": "true"})
    assert [h["id"] for h in rented.json()["items"]] == [house.json()["id"]]
    unknown = await client.post(
        "/api/v1/houses",
        headers=hdrs,
        json={"address_id": str(uuid.uuid4()), "use": "residential", "ownership": "private"},
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "address_id"
    elsewhere = await client.get("/api/v1/buildings", headers=worker(test_keys, GRID2))
    assert elsewhere.json()["items"] == []
    outside = await client.get(
        "/api/v1/buildings", headers=worker(test_keys, GRID2), params={"area_path": GRID1}
    )
    assert outside.status_code == 403


async def test_households_flags_and_members(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys
) -> None:
    s = await setup_grid(client, admin())
    hdrs = worker(test_keys)
    dup = await client.post(
        "/api/v1/households",
        headers=hdrs,
        json={"area_id": s["grid"], "household_no": "H-301"},
    )
    assert dup.status_code == 409
    foreign_address = await client.post(
        "/api/v1/households",
        headers=admin(),
        json={
            "area_id": s["tree"]["grid2"]["id"],
            "household_no": "X",
            "address_id": s["addresses"][0]["id"],
        },
    )
    assert foreign_address.status_code == 422
    assert foreign_address.json()["errors"][0]["field"] == "address_id"
    hid = s["household"]["id"]
    flagged = await client.patch(
        f"/api/v1/households/{hid}", headers=hdrs, json={"is_hardship": True}
    )
    assert flagged.json()["is_hardship"] is True
    hardship = await client.get("/api/v1/households", headers=hdrs, params={"is_hardship": True})
    assert [h["id"] for h in hardship.json()["items"]] == [hid]
    null_flag = await client.patch(f"/api/v1/households/{hid}", headers=hdrs, json={"is_key": None})
    assert null_flag.status_code == 422
    stranger = await client.patch(
        f"/api/v1/households/{hid}", headers=hdrs, json={"head_resident_id": str(uuid.uuid4())}
    )
    assert stranger.status_code == 422
    missing = await client.get(f"/api/v1/households/{uuid.uuid4()}", headers=hdrs)
    assert missing.status_code == 404


async def test_organisations_and_key_places_keep_phones_encrypted(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys, app: Any
) -> None:
    s = await setup_grid(client, admin())
    hdrs = worker(test_keys)
    org = await client.post(
        "/api/v1/organisations",
        headers=hdrs,
        json={
            "area_id": s["grid"],
            "kind": "individual_business",
            "name": "好邻居便利店",
            "credit_code": "92330106MA2H0X0X0X",
            "legal_representative": "李娜",
            "contact_phone": "13812345678",
        },
    )
    assert org.status_code == 201, org.text
    assert org.json()["contact_phone"] == "138****5678"
    same_code = await client.post(
        "/api/v1/organisations",
        headers=hdrs,
        json={
            "area_id": s["grid"],
            "kind": "enterprise",
            "name": "另一家",
            "credit_code": "92330106MA2H0X0X0X",
        },
    )
    assert same_code.status_code == 409
    bad_code = await client.post(
        "/api/v1/organisations",
        headers=hdrs,
        json={"area_id": s["grid"], "kind": "enterprise", "name": "x", "credit_code": "123"},
    )
    assert bad_code.status_code == 422
    assert bad_code.json()["errors"][0]["field"] == "credit_code"
    place = await client.post(
        "/api/v1/key-places",
        headers=hdrs,
        json={
            "area_id": s["grid"],
            "name": "文三路小学",
            "kind": "school",
            "responsible_name": "周校长",
            "responsible_phone": "13900000000",
        },
    )
    assert place.status_code == 201
    listed = await client.get("/api/v1/key-places", headers=hdrs)
    assert [(p["name"], p["responsible_phone"]) for p in listed.json()["items"]] == [
        ("文三路小学", "139****0000")
    ]
    async with app.state.engine.connect() as conn:
        stored = (
            await conn.execute(
                sa.text(
                    "SELECT o.contact_phone_enc || ' ' || k.responsible_phone_enc "
                    "FROM organisation o, key_place k"
                )
            )
        ).scalar_one()
    assert "13812345678" not in stored
    assert "13900000000" not in stored
