"""A resident moving between grids (issue 22): registering them again in the new grid points
to a transfer; one side asks, the other completes; tags and household follow; history kept."""

from __future__ import annotations

from typing import Any

import httpx
from basicinfo_helpers import GRID1, GRID2, headers, make_resident, setup_grid, staff_account

from shared.testing import TestKeys


async def test_moving_in_from_another_grid(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys
) -> None:
    s = await setup_grid(client, admin())
    grid1 = headers(test_keys, sub="w1", roles=["grid_worker"], areas=[GRID1])
    grid2 = headers(test_keys, sub="w2", roles=["grid_worker"], areas=[GRID2])
    resident = await make_resident(client, grid1, s["grid"], household_id=s["household"]["id"])
    officer_id = await staff_account(client, admin(), "minzheng", "grid_worker")
    await client.post(
        "/api/v1/privacy/special-group-grants",
        headers=admin(),
        json={"account_id": officer_id, "tag": "low_income", "reason": "民政协管"},
    )
    officer = headers(test_keys, sub=officer_id, roles=["grid_worker"], areas=[GRID1, GRID2])
    tagged = await client.put(
        f"/api/v1/residents/{resident['id']}/special-groups/low_income",
        headers=officer,
        json={"follow_up_interval_days": 30},
    )
    assert tagged.status_code == 200

    # the new grid's worker registers the person again: 409 that says where and what to do
    grid2_id = s["tree"]["grid2"]["id"]
    again = await client.post(
        "/api/v1/residents",
        headers=grid2,
        json={"area_id": grid2_id, "name": "张伟", "id_number": "11010519491231002X"},
    )
    assert again.status_code == 409
    assert again.json()["code"] == "resident_exists"
    assert again.json()["resident_id"] == resident["id"]
    assert again.json()["registered_in"] == GRID1
    assert "迁移" in again.json()["detail"]

    asked = await client.post(
        "/api/v1/resident-transfers",
        headers=grid2,
        json={"resident_id": resident["id"], "to_area_id": grid2_id, "reason": "搬至文三路92号"},
    )
    assert asked.status_code == 201, asked.text
    assert asked.json()["started_on"] == "to"
    # both workers see it in their list; the asking side cannot complete it itself
    for hdrs in (grid1, grid2):
        listed = await client.get("/api/v1/resident-transfers", headers=hdrs)
        assert [t["id"] for t in listed.json()["items"]] == [asked.json()["id"]]
    url = f"/api/v1/resident-transfers/{asked.json()['id']}"
    assert (await client.post(url + "/complete", headers=grid2, json={})).status_code == 403
    twice = await client.post(
        "/api/v1/resident-transfers",
        headers=grid1,
        json={"resident_id": resident["id"], "to_area_id": grid2_id, "reason": "重复申请"},
    )
    assert twice.status_code == 409
    done = await client.post(url + "/complete", headers=grid1, json={})
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed"

    moved = await client.get(f"/api/v1/residents/{resident['id']}", headers=grid2)
    assert moved.status_code == 200
    assert (moved.json()["area_path"], moved.json()["household_id"]) == (GRID2, None)
    assert (
        await client.get(f"/api/v1/residents/{resident['id']}", headers=grid1)
    ).status_code == 403
    household = (
        await client.get(f"/api/v1/households/{s['household']['id']}", headers=grid1)
    ).json()
    assert household["members"] == []
    tags = await client.get("/api/v1/special-groups/low_income/residents", headers=officer)
    assert [t["area_path"] for t in tags.json()["items"]] == [GRID2]
    history = await client.get(
        f"/api/v1/resident-transfers/of-resident/{resident['id']}", headers=grid2
    )
    assert [(h["from_area_path"], h["to_area_path"], h["status"]) for h in history.json()] == [
        (GRID1, GRID2, "completed")
    ]
    assert (await client.get("/api/v1/resident-transfers", headers=grid1)).json()["items"] == []


async def test_a_refused_transfer_leaves_the_resident(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys
) -> None:
    s = await setup_grid(client, admin())
    grid1 = headers(test_keys, sub="w1", roles=["grid_worker"], areas=[GRID1])
    grid2 = headers(test_keys, sub="w2", roles=["grid_worker"], areas=[GRID2])
    outsider = headers(test_keys, sub="w3", roles=["grid_worker"], areas=[GRID1 + "9"])
    resident = await make_resident(client, grid1, s["grid"])
    body = {
        "resident_id": resident["id"],
        "to_area_id": s["tree"]["grid2"]["id"],
        "reason": "迁出",
    }
    assert (
        await client.post("/api/v1/resident-transfers", headers=outsider, json=body)
    ).status_code == 403
    same = {**body, "to_area_id": s["grid"]}
    assert (
        await client.post("/api/v1/resident-transfers", headers=grid1, json=same)
    ).status_code == 422
    asked = await client.post("/api/v1/resident-transfers", headers=grid1, json=body)
    assert asked.json()["started_on"] == "from"
    refused = await client.post(
        f"/api/v1/resident-transfers/{asked.json()['id']}/refuse",
        headers=grid2,
        json={"reason": "查无此人"},
    )
    assert refused.json()["status"] == "refused"
    still = await client.get(f"/api/v1/residents/{resident['id']}", headers=grid1)
    assert still.json()["area_path"] == GRID1
