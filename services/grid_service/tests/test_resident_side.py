"""Residents' own side (issue 22): a resident account linked to its resident record (matched by
phone or ID number, confirmed by the grid worker) sees its masked record, points, rules and the
shop of its community and grid, and redeems; community staff restock and withdraw items."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from basicinfo_helpers import COMMUNITY, GRID1, headers, make_resident, setup_grid
from test_auth import WECHAT_OK

from shared.testing import TestKeys

WORKER = "00000000-0000-0000-0000-00000000000a"


async def resident_account(
    client: httpx.AsyncClient, fake_wechat: dict[str, Any], code: str, phone: str | None
) -> dict[str, str]:
    fake_wechat["answers"][code] = {**WECHAT_OK, "openid": f"openid-{code}"}
    signed = await client.post("/api/v1/auth/wechat", json={"code": code, "name": "张伟"})
    assert signed.status_code == 200, signed.text
    hdrs = {"Authorization": f"Bearer {signed.json()['access_token']}"}
    if phone:
        bound = await client.patch("/api/v1/accounts/me", headers=hdrs, json={"phone": phone})
        assert bound.status_code == 200, bound.text
    return hdrs


@pytest.mark.usefixtures("own_tokens")
async def test_a_linked_resident_sees_their_points_and_redeems_in_their_shop(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys, fake_wechat: dict[str, Any]
) -> None:
    s = await setup_grid(client, admin())
    worker = headers(test_keys, sub=WORKER, roles=["grid_worker"], areas=[GRID1])
    resident = await make_resident(client, worker, s["grid"])  # 张伟, 13812345678
    await client.post(
        "/api/v1/points/rules",
        headers=admin(),
        json={"code": "volunteer_hour", "name": "志愿服务(每小时)", "points": 10},
    )
    community_item = await client.post(
        "/api/v1/points/shop-items",
        headers=admin(),
        json={"area_id": s["tree"]["community"]["id"], "name": "洗衣液", "cost": 20, "stock": 5},
    )
    grid_item = await client.post(
        "/api/v1/points/shop-items",
        headers=worker,
        json={"area_id": s["grid"], "name": "抽纸", "cost": 5, "stock": 10},
    )
    assert (community_item.status_code, grid_item.status_code) == (201, 201)

    me = await resident_account(client, fake_wechat, "r-1", "13812345678")
    before = await client.get("/api/v1/me/points", headers=me)
    assert before.status_code == 403  # today: the resident has no way to their own points
    assert before.json()["code"] == "resident_not_linked"

    asked = await client.post("/api/v1/me/resident-link", headers=me, json={})
    assert asked.status_code == 201, asked.text
    assert (asked.json()["matched_by"], asked.json()["status"]) == ("phone", "pending")
    again = await client.post("/api/v1/me/resident-link", headers=me, json={})
    assert (again.status_code, again.json()["id"]) == (200, asked.json()["id"])
    assert (await client.get("/api/v1/me/points", headers=me)).status_code == 403  # pending

    waiting = await client.get("/api/v1/resident-links", headers=worker)
    assert [w["id"] for w in waiting.json()["items"]] == [asked.json()["id"]]
    elsewhere = headers(test_keys, sub="w2", roles=["grid_worker"], areas=[GRID1 + "9"])
    assert (
        await client.post(f"/api/v1/resident-links/{asked.json()['id']}/confirm", headers=elsewhere)
    ).status_code == 403
    confirmed = await client.post(
        f"/api/v1/resident-links/{asked.json()['id']}/confirm", headers=worker
    )
    assert confirmed.json()["status"] == "confirmed"

    record = await client.get("/api/v1/me/resident", headers=me)
    assert record.status_code == 200
    assert record.json()["id"] == resident["id"]
    assert record.json()["id_number"] == "110***********002X"
    earned = await client.post(
        "/api/v1/points/earnings",
        headers=worker,
        json={"resident_id": resident["id"], "rule_code": "volunteer_hour", "quantity": 3},
    )
    assert earned.status_code == 201
    assert (await client.get("/api/v1/me/points", headers=me)).json()["balance"] == 30
    rules = await client.get("/api/v1/me/points/rules", headers=me)
    assert [r["code"] for r in rules.json()] == ["volunteer_hour"]
    shop = await client.get("/api/v1/me/shop-items", headers=me)
    assert [i["name"] for i in shop.json()] == ["抽纸", "洗衣液"]  # grid's and community's

    bought = await client.post(
        "/api/v1/me/redemptions", headers=me, json={"item_id": community_item.json()["id"]}
    )
    assert bought.status_code == 201, bought.text
    assert bought.json()["balance"] == 10
    too_much = await client.post(
        "/api/v1/me/redemptions", headers=me, json={"item_id": community_item.json()["id"]}
    )
    assert (too_much.status_code, too_much.json()["code"]) == (409, "insufficient_points")
    ledger = await client.get("/api/v1/me/points/ledger", headers=me)
    assert [e["points"] for e in ledger.json()["items"]] == [-20, 30]

    # the grid worker sees the community's shop too; the community restocks and withdraws
    listed = await client.get("/api/v1/points/shop-items", headers=worker)
    assert {i["name"] for i in listed.json()["items"]} == {"洗衣液", "抽纸"}
    community_staff = headers(test_keys, sub="c1", roles=["grid_leader"], areas=[COMMUNITY])
    url = f"/api/v1/points/shop-items/{community_item.json()['id']}"
    assert (await client.patch(url, headers=worker, json={"restock": 5})).status_code == 403
    restocked = await client.patch(url, headers=community_staff, json={"restock": 10})
    assert restocked.json()["stock"] == 14
    too_few = await client.patch(url, headers=community_staff, json={"restock": -100})
    assert too_few.status_code == 409
    withdrawn = await client.patch(url, headers=community_staff, json={"active": False})
    assert withdrawn.json()["active"] is False
    shop = await client.get("/api/v1/me/shop-items", headers=me)
    assert [i["name"] for i in shop.json()] == ["抽纸"]


@pytest.mark.usefixtures("own_tokens")
async def test_link_by_id_number_and_the_refusals(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys, fake_wechat: dict[str, Any]
) -> None:
    s = await setup_grid(client, admin())
    worker = headers(test_keys, sub=WORKER, roles=["grid_worker"], areas=[GRID1])
    await make_resident(client, worker, s["grid"])
    nobody = await resident_account(client, fake_wechat, "r-2", "13900000000")
    missing = await client.post("/api/v1/me/resident-link", headers=nobody, json={})
    assert (missing.status_code, missing.json()["code"]) == (404, "resident_not_found")
    no_phone = await resident_account(client, fake_wechat, "r-3", None)
    assert (
        await client.post("/api/v1/me/resident-link", headers=no_phone, json={})
    ).status_code == 422
    by_id = await client.post(
        "/api/v1/me/resident-link", headers=no_phone, json={"id_number": "11010519491231002X"}
    )
    assert (by_id.status_code, by_id.json()["matched_by"]) == (201, "id_number")
    # the record is asked for by one account already
    twice = await client.post(
        "/api/v1/me/resident-link", headers=nobody, json={"id_number": "11010519491231002X"}
    )
    assert (twice.status_code, twice.json()["code"]) == (409, "resident_linked")
    rejected = await client.post(
        f"/api/v1/resident-links/{by_id.json()['id']}/reject", headers=worker
    )
    assert rejected.json()["status"] == "rejected"
    assert (await client.get("/api/v1/me/points", headers=no_phone)).status_code == 403
    staff = await client.post("/api/v1/me/resident-link", headers=worker, json={})
    assert staff.status_code == 403  # residents only
