"""Resident points: earned by rule within daily caps, redeemed concurrently without
overspending, reversed by new entries; the ledger cannot be edited."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from basicinfo_helpers import GRID1, headers, make_resident, setup_grid

from shared.testing import TestKeys

WORKER = "00000000-0000-0000-0000-00000000000a"


async def ready(client: httpx.AsyncClient, admin: Any, keys: TestKeys) -> dict[str, Any]:
    s = await setup_grid(client, admin())
    hdrs = headers(keys, sub=WORKER, roles=["grid_worker"], areas=[GRID1])
    resident = await make_resident(client, hdrs, s["grid"])
    for rule in (
        {"code": "volunteer_hour", "name": "志愿服务(每小时)", "points": 10, "daily_cap": 30},
        {"code": "valid_report", "name": "有效上报", "points": 5},
    ):
        created = await client.post("/api/v1/points/rules", headers=admin(), json=rule)
        assert created.status_code == 201, created.text
    community = s["tree"]["community"]
    item = await client.post(
        "/api/v1/points/shop-items",
        headers=admin(),
        json={"area_id": community["id"], "name": "洗衣液", "cost": 20, "stock": 5},
    )
    assert item.status_code == 201, item.text
    return {"hdrs": hdrs, "resident": resident["id"], "item": item.json()["id"], **s}


async def earn(client: httpx.AsyncClient, hdrs: dict[str, str], **body: Any) -> httpx.Response:
    return await client.post("/api/v1/points/earnings", headers=hdrs, json=body)


async def balance(client: httpx.AsyncClient, hdrs: dict[str, str], resident: str) -> int:
    response = await client.get(f"/api/v1/points/residents/{resident}/balance", headers=hdrs)
    return int(response.json()["balance"])


async def test_points_earned_by_rule_stop_at_the_daily_cap(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys
) -> None:
    s = await ready(client, admin, test_keys)
    hdrs, rid = s["hdrs"], s["resident"]
    two_hours = await earn(client, hdrs, resident_id=rid, rule_code="volunteer_hour", quantity=2)
    assert two_hours.status_code == 201, two_hours.text
    assert (two_hours.json()["points"], two_hours.json()["capped"]) == (20, False)
    more = await earn(client, hdrs, resident_id=rid, rule_code="volunteer_hour", quantity=2)
    assert (more.json()["points"], more.json()["capped"], more.json()["balance"]) == (10, True, 30)
    full = await earn(client, hdrs, resident_id=rid, rule_code="volunteer_hour")
    assert full.status_code == 409
    assert full.json()["code"] == "daily_cap_reached"
    # another rule has no cap; one case earns once
    report = await earn(
        client, hdrs, resident_id=rid, rule_code="valid_report", reference="case:c-1"
    )
    assert report.json()["points"] == 5
    again = await earn(
        client, hdrs, resident_id=rid, rule_code="valid_report", reference="case:c-1"
    )
    assert again.status_code == 409
    assert again.json()["code"] == "already_earned"
    unknown = await earn(client, hdrs, resident_id=rid, rule_code="dancing")
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "rule_code"
    assert await balance(client, hdrs, rid) == 35
    # a higher cap set by an admin lets the day go on
    raised = await client.patch(
        "/api/v1/points/rules/volunteer_hour", headers=admin(), json={"daily_cap": 40}
    )
    assert raised.status_code == 200
    after = await earn(client, hdrs, resident_id=rid, rule_code="volunteer_hour", quantity=3)
    assert (after.json()["points"], after.json()["capped"]) == (10, True)


async def test_concurrent_redemptions_cannot_overspend(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys, app: Any
) -> None:
    s = await ready(client, admin, test_keys)
    hdrs, rid = s["hdrs"], s["resident"]
    await earn(client, hdrs, resident_id=rid, rule_code="volunteer_hour", quantity=3)  # 30

    async def redeem() -> httpx.Response:
        return await client.post(
            "/api/v1/points/redemptions",
            headers=hdrs,
            json={"resident_id": rid, "item_id": s["item"], "quantity": 1},
        )

    results = await asyncio.gather(*(redeem() for _ in range(4)))  # 4 × 20 against 30
    statuses = sorted(r.status_code for r in results)
    assert statuses == [201, 409, 409, 409], [r.text for r in results]
    assert {r.json()["code"] for r in results if r.status_code == 409} == {"insufficient_points"}
    assert await balance(client, hdrs, rid) == 10
    async with app.state.engine.connect() as conn:
        stock = (await conn.execute(sa.text("SELECT stock FROM shop_item"))).scalar_one()
        total = (await conn.execute(sa.text("SELECT sum(points) FROM points_entry"))).scalar_one()
    assert (stock, total) == (4, 10)  # the ledger sums to the balance


async def test_reversal_is_a_new_entry_and_the_ledger_is_append_only(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys, app: Any
) -> None:
    s = await ready(client, admin, test_keys)
    hdrs, rid = s["hdrs"], s["resident"]
    earned = (
        await earn(client, hdrs, resident_id=rid, rule_code="volunteer_hour", quantity=3)
    ).json()
    spent = await client.post(
        "/api/v1/points/redemptions",
        headers=hdrs,
        json={"resident_id": rid, "item_id": s["item"], "quantity": 1},
    )
    assert spent.status_code == 201
    # the earned 30 cannot be reversed while 20 of it is spent
    blocked = await client.post(
        f"/api/v1/points/entries/{earned['id']}/reversal", headers=hdrs, json={"reason": "误录"}
    )
    assert blocked.status_code == 409
    undone = await client.post(
        f"/api/v1/points/entries/{spent.json()['id']}/reversal",
        headers=hdrs,
        json={"reason": "商品退回"},
    )
    assert undone.status_code == 201
    assert (undone.json()["kind"], undone.json()["points"], undone.json()["balance"]) == (
        "reversal",
        20,
        30,
    )
    twice = await client.post(
        f"/api/v1/points/entries/{spent.json()['id']}/reversal",
        headers=hdrs,
        json={"reason": "商品退回"},
    )
    assert twice.status_code == 409
    assert twice.json()["code"] == "already_reversed"
    ledger = await client.get(f"/api/v1/points/residents/{rid}/ledger", headers=hdrs)
    assert [(e["kind"], e["points"]) for e in ledger.json()["items"]] == [
        ("reversal", 20),
        ("redeem", -20),
        ("earn", 30),
    ]
    async with app.state.engine.connect() as conn:
        stock = (await conn.execute(sa.text("SELECT stock FROM shop_item"))).scalar_one()
    assert stock == 5  # restocked
    for statement in ("UPDATE points_entry SET points = 1000", "DELETE FROM points_entry"):
        async with app.state.engine.connect() as conn:
            with pytest.raises(sa.exc.DBAPIError, match="append-only"):
                await conn.execute(sa.text(statement))
    async with app.state.engine.connect() as conn:
        with pytest.raises(sa.exc.IntegrityError, match="balance_not_negative"):
            await conn.execute(sa.text("UPDATE points_balance SET balance = -1"))


async def test_out_of_stock_spends_nothing_and_bad_input_is_named(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys
) -> None:
    s = await ready(client, admin, test_keys)
    hdrs, rid = s["hdrs"], s["resident"]
    await earn(client, hdrs, resident_id=rid, rule_code="volunteer_hour", quantity=3)  # 30
    empty = await client.post(
        "/api/v1/points/shop-items",
        headers=admin(),
        json={"area_id": s["tree"]["community"]["id"], "name": "大米", "cost": 10, "stock": 0},
    )
    sold_out = await client.post(
        "/api/v1/points/redemptions",
        headers=hdrs,
        json={"resident_id": rid, "item_id": empty.json()["id"]},
    )
    assert sold_out.status_code == 409
    assert sold_out.json()["code"] == "out_of_stock"
    assert await balance(client, hdrs, rid) == 30  # the debit was rolled back with the request
    unknown = await client.post(
        "/api/v1/points/redemptions",
        headers=hdrs,
        json={"resident_id": rid, "item_id": "00000000-0000-0000-0000-000000000000"},
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "item_id"
    zero = await client.post(
        "/api/v1/points/redemptions",
        headers=hdrs,
        json={"resident_id": rid, "item_id": s["item"], "quantity": 0},
    )
    assert zero.status_code == 422
    assert zero.json()["errors"][0]["field"] == "quantity"
    not_admin = await client.post(
        "/api/v1/points/rules",
        headers=hdrs,
        json={"code": "free_points", "name": "x", "points": 1000},
    )
    assert not_admin.status_code == 403
    duplicate = await client.post(
        "/api/v1/points/rules",
        headers=admin(),
        json={"code": "valid_report", "name": "again", "points": 1},
    )
    assert duplicate.status_code == 409


async def test_concurrent_earnings_stay_under_the_daily_cap(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys
) -> None:
    s = await ready(client, admin, test_keys)
    hdrs, rid = s["hdrs"], s["resident"]
    results = await asyncio.gather(
        *(earn(client, hdrs, resident_id=rid, rule_code="volunteer_hour") for _ in range(5))
    )
    assert sorted(r.status_code for r in results) == [201, 201, 201, 409, 409]
    assert await balance(client, hdrs, rid) == 30  # the cap, not 50
