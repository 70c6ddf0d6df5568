"""Visits and households take no bad data (issue 22, defects 4, 5 and 6) and a new key or
hardship household is due for its first visit at once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from basicinfo_helpers import GRID1, GRID2, headers, setup_grid, staff_account

from shared.testing import TestKeys


def visit_body(household_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "household_id": household_id,
        "visited_at": datetime.now(UTC).isoformat(),
        "kind": "home",
        **extra,
    }


async def visit_count(app: Any) -> int:
    async with app.state.engine.connect() as conn:
        return int((await conn.execute(sa.text("SELECT count(*) FROM visit"))).scalar_one())


async def test_visits_in_the_future_early_follow_ups_and_long_needs_are_refused(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys, app: Any
) -> None:
    s = await setup_grid(client, admin())
    hdrs = headers(test_keys, sub=str(uuid.uuid4()), roles=["grid_worker"], areas=[GRID1])
    household_id = s["household"]["id"]
    before = (await client.get(f"/api/v1/households/{household_id}", headers=hdrs)).json()

    ahead = visit_body(
        household_id, visited_at=(datetime.now(UTC) + timedelta(days=90)).isoformat()
    )
    response = await client.post("/api/v1/visits", headers=hdrs, json=ahead)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "visited_at"
    assert response.json()["code"] == "time_in_future"

    early = visit_body(
        household_id,
        follow_up="下周复访",
        follow_up_due_on=(datetime.now(UTC) - timedelta(days=3)).date().isoformat(),
    )
    response = await client.post("/api/v1/visits", headers=hdrs, json=early)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "follow_up_due_on"

    long_need = visit_body(household_id, needs_found=["取暖补贴", "需" * 200_000])
    response = await client.post("/api/v1/visits", headers=hdrs, json=long_need)
    assert response.status_code == 422  # today: stored, cut to 500 characters
    assert response.json()["errors"][0]["field"] == "needs_found.1"

    assert await visit_count(app) == 0
    after = (await client.get(f"/api/v1/households/{household_id}", headers=hdrs)).json()
    assert after["next_visit_due_at"] == before["next_visit_due_at"]  # not moved to 2027

    fine = visit_body(household_id, needs_found=["需" * 500])
    assert (await client.post("/api/v1/visits", headers=hdrs, json=fine)).status_code == 201


async def test_the_responsible_worker_must_be_a_worker_of_the_grid(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys
) -> None:
    s = await setup_grid(client, admin())
    hdrs = headers(test_keys, sub=str(uuid.uuid4()), roles=["grid_worker"], areas=[GRID1])
    worker = await staff_account(client, admin(), "worker-c", "grid_worker")
    dispatcher = await staff_account(client, admin(), "dispatcher-c", "dispatcher")
    body = {"area_id": s["grid"], "household_no": "H-9"}
    for bad in ("nobody-at-all", str(uuid.uuid4()), dispatcher):
        response = await client.post(
            "/api/v1/households", headers=hdrs, json={**body, "responsible_worker_id": bad}
        )
        assert response.status_code == 422, bad
        assert response.json()["errors"][0]["field"] == "responsible_worker_id"
    grid2 = s["tree"]["grid2"]["id"]
    elsewhere = await client.post(
        "/api/v1/households",
        headers=headers(test_keys, sub=str(uuid.uuid4()), roles=["grid_worker"], areas=[GRID2]),
        json={"area_id": grid2, "household_no": "H-9", "responsible_worker_id": worker},
    )
    assert elsewhere.status_code == 422  # worker-c covers grid 1 only
    made = await client.post(
        "/api/v1/households", headers=hdrs, json={**body, "responsible_worker_id": worker}
    )
    assert made.status_code == 201, made.text
    patched = await client.patch(
        f"/api/v1/households/{made.json()['id']}",
        headers=hdrs,
        json={"responsible_worker_id": "nobody-at-all"},
    )
    assert patched.status_code == 422
    assert patched.json()["errors"][0]["field"] == "responsible_worker_id"


async def test_a_new_key_or_hardship_household_is_due_at_once(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys
) -> None:
    s = await setup_grid(client, admin())
    hdrs = headers(test_keys, sub=str(uuid.uuid4()), roles=["grid_worker"], areas=[GRID1])
    for no, flags in (("K-9", {"is_key": True}), ("D-9", {"is_hardship": True}), ("P-9", {})):
        response = await client.post(
            "/api/v1/households",
            headers=hdrs,
            json={"area_id": s["grid"], "household_no": no, **flags},
        )
        assert response.status_code == 201
    due = await client.get("/api/v1/visits/due", headers=hdrs, params={"area_path": GRID1})
    assert due.status_code == 200
    rows = {r["household_no"]: r["status"] for r in due.json()["items"]}
    assert rows == {"K-9": "overdue", "D-9": "overdue"}  # the plain one: within 91 days
    # the centre's dispatchers and supervisors see what is due in their area too
    for role in ("dispatcher", "supervisor"):
        centre = headers(test_keys, sub=str(uuid.uuid4()), roles=[role], areas=[GRID1])
        seen = await client.get("/api/v1/visits/due", headers=centre)
        assert seen.status_code == 200, role
        assert {r["household_no"] for r in seen.json()["items"]} == {"K-9", "D-9"}
    resident = headers(test_keys, sub=str(uuid.uuid4()), roles=["resident"], areas=[GRID1])
    assert (await client.get("/api/v1/visits/due", headers=resident)).status_code == 403
