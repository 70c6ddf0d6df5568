"""Departments: categories they own, areas they serve, handlers, scope."""

from __future__ import annotations

from typing import Any

import httpx
from gridtest_helpers import make_chain

URBAN = {
    "code": "xh_urban_management",
    "name": "西湖区城市管理局",
    "categories": ["city_appearance.stall", "city_appearance.litter"],
    "area_paths": ["330100.330106"],
}


async def test_create_and_find_by_category_and_area(
    client: httpx.AsyncClient, admin: Any, bearer: Any
) -> None:
    await make_chain(client, admin())
    urban = await client.post("/api/v1/departments", headers=admin(), json=URBAN)
    assert urban.status_code == 201, urban.text
    housing = await client.post(
        "/api/v1/departments",
        headers=admin(),
        json={
            "code": "xh_housing",
            "name": "住建局",
            "categories": ["construction.noise"],
            "area_paths": ["330100.330106.330106001"],
        },
    )
    assert housing.status_code == 201
    case_service = bearer(roles=["platform"], scope="departments:read")
    by_cat = await client.get(
        "/api/v1/departments", headers=case_service, params={"category": "city_appearance.stall"}
    )
    assert [d["code"] for d in by_cat.json()["items"]] == ["xh_urban_management"]
    serving = await client.get(
        "/api/v1/departments",
        headers=case_service,
        params={"area_path": "330100.330106.330106001.330106001001"},
    )
    assert {d["code"] for d in serving.json()["items"]} == {"xh_urban_management", "xh_housing"}
    elsewhere = await client.get(
        "/api/v1/departments", headers=case_service, params={"area_path": "330100.330108"}
    )
    assert elsewhere.json()["items"] == []
    both = await client.get(
        "/api/v1/departments",
        headers=case_service,
        params={"area_path": "330100.330106.330106002", "category": "construction.noise"},
    )
    assert both.json()["items"] == []
    fetched = await client.get(f"/api/v1/departments/{urban.json()['id']}", headers=case_service)
    assert fetched.json()["categories"] == ["city_appearance.litter", "city_appearance.stall"]


async def test_handlers_of_a_department(client: httpx.AsyncClient, admin: Any, bearer: Any) -> None:
    await make_chain(client, admin())
    dept = (await client.post("/api/v1/departments", headers=admin(), json=URBAN)).json()
    created = await client.post(
        "/api/v1/accounts",
        headers=admin(),
        json={
            "username": "handler",
            "name": "李强",
            "password": "a-long-password",
            "roles": ["department_handler"],
            "area_paths": ["330100.330106"],
            "department_ids": [dept["id"]],
            "phone": "13700000000",
        },
    )
    assert created.status_code == 201, created.text
    handlers = await client.get(
        f"/api/v1/departments/{dept['id']}/handlers", headers=bearer(roles=["dispatcher"])
    )
    assert [h["username"] for h in handlers.json()["items"]] == ["handler"]
    assert handlers.json()["items"][0]["phone_masked"] == "137****0000"
    assert "13700000000" not in handlers.text


async def test_department_refusals(client: httpx.AsyncClient, admin: Any, bearer: Any) -> None:
    await make_chain(client, admin())
    assert (
        await client.post("/api/v1/departments", headers=admin(), json=URBAN)
    ).status_code == 201
    dup = await client.post("/api/v1/departments", headers=admin(), json=URBAN)
    assert dup.status_code == 409
    assert dup.json()["code"] == "department_exists"
    bad_cat = await client.post(
        "/api/v1/departments",
        headers=admin(),
        json={**URBAN, "code": "x1", "categories": ["City Appearance"]},
    )
    assert bad_cat.status_code == 422
    assert bad_cat.json()["errors"][0]["field"] == "categories.0"
    no_area = await client.post(
        "/api/v1/departments", headers=admin(), json={**URBAN, "code": "x2", "area_paths": []}
    )
    assert no_area.status_code == 422
    assert no_area.json()["errors"][0]["field"] == "area_paths"
    outside = await client.post(
        "/api/v1/departments", headers=admin("330100.330108"), json={**URBAN, "code": "x3"}
    )
    assert outside.status_code == 403
    assert outside.json()["code"] == "outside_scope"
    not_admin = await client.post(
        "/api/v1/departments", headers=bearer(roles=["dispatcher"]), json={**URBAN, "code": "x4"}
    )
    assert not_admin.status_code == 403
    anonymous = await client.get("/api/v1/departments")
    assert anonymous.status_code == 401
    missing = await client.get(
        "/api/v1/departments/00000000-0000-0000-0000-000000000000", headers=admin()
    )
    assert missing.status_code == 404


async def test_update_department(client: httpx.AsyncClient, admin: Any) -> None:
    await make_chain(client, admin())
    dept = (await client.post("/api/v1/departments", headers=admin(), json=URBAN)).json()
    changed = await client.patch(
        f"/api/v1/departments/{dept['id']}",
        headers=admin(),
        json={"categories": ["street_order.parking"]},
    )
    assert changed.status_code == 200
    assert changed.json()["categories"] == ["street_order.parking"]
    refused = await client.patch(
        f"/api/v1/departments/{dept['id']}",
        headers=admin("330100.330106.330106001"),
        json={"name": "x"},
    )
    assert refused.status_code == 403
    null = await client.patch(
        f"/api/v1/departments/{dept['id']}", headers=admin(), json={"name": None}
    )
    assert null.status_code == 422
