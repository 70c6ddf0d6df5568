"""Household visits and the due and overdue lists their cadence produces."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from basicinfo_helpers import COMMUNITY, GRID1, headers, setup_grid, staff_account

from shared.testing import TestKeys

WORKER = "00000000-0000-0000-0000-00000000000a"


async def household(
    client: httpx.AsyncClient, hdrs: dict[str, str], grid: str, no: str, **flags: Any
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/households", headers=hdrs, json={"area_id": grid, "household_no": no, **flags}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def visit(
    client: httpx.AsyncClient, hdrs: dict[str, str], household_id: str, days_ago: int
) -> httpx.Response:
    return await client.post(
        "/api/v1/visits",
        headers=hdrs,
        json={
            "id": str(uuid.uuid4()),
            "household_id": household_id,
            "visited_at": (datetime.now(UTC) - timedelta(days=days_ago)).isoformat(),
            "kind": "home",
            "notes": "入户走访",
            "needs_found": ["取暖补贴"],
        },
    )


async def test_due_and_overdue_visits_per_grid_and_worker(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys
) -> None:
    s = await setup_grid(client, admin())
    grid = s["grid"]
    worker = await staff_account(client, admin(), "worker-a", "grid_worker")
    other = await staff_account(client, admin(), "worker-b", "grid_worker")
    hdrs = headers(test_keys, sub=worker, roles=["grid_worker"], areas=[GRID1])
    key = await household(client, hdrs, grid, "K-1", is_key=True, responsible_worker_id=worker)
    hardship = await household(
        client, hdrs, grid, "D-1", is_hardship=True, responsible_worker_id=worker
    )
    plain_recent = await household(client, hdrs, grid, "P-1", responsible_worker_id=other)
    plain_old = await household(client, hdrs, grid, "P-2", responsible_worker_id=other)
    assert (await visit(client, hdrs, key["id"], 40)).status_code == 201  # monthly → overdue
    assert (await visit(client, hdrs, hardship["id"], 26)).status_code == 201  # due in 4 days
    assert (await visit(client, hdrs, plain_recent["id"], 40)).status_code == 201  # quarterly
    assert (await visit(client, hdrs, plain_old["id"], 100)).status_code == 201  # overdue
    # an older visit recorded late does not move the due date back
    assert (await visit(client, hdrs, plain_recent["id"], 200)).status_code == 201

    due = await client.get("/api/v1/visits/due", headers=hdrs, params={"area_path": GRID1})
    assert due.status_code == 200
    rows = [(r["household_no"], r["status"]) for r in due.json()["items"]]
    # most overdue first: K-1 was due 10 days ago, P-2 9 days ago (100 - 91)
    assert rows == [("K-1", "overdue"), ("P-2", "overdue"), ("D-1", "due")]
    # H-301 (from the setup, never visited, registered today) is not due yet
    mine = await client.get("/api/v1/visits/due", headers=hdrs, params={"worker_id": worker})
    assert [(r["household_no"], r["status"]) for r in mine.json()["items"]] == [
        ("K-1", "overdue"),
        ("D-1", "due"),
    ]
    overdue = await client.get("/api/v1/visits/due", headers=hdrs, params={"status": "overdue"})
    assert [r["household_no"] for r in overdue.json()["items"]] == ["K-1", "P-2"]
    only_due = await client.get("/api/v1/visits/due", headers=hdrs, params={"status": "due"})
    assert [r["household_no"] for r in only_due.json()["items"]] == ["D-1"]

    # a visit today clears the key household; flagging P-1 as key makes it overdue at once
    assert (await visit(client, hdrs, key["id"], 0)).status_code == 201
    flagged = await client.patch(
        f"/api/v1/households/{plain_recent['id']}", headers=hdrs, json={"is_key": True}
    )
    assert flagged.status_code == 200
    due = await client.get("/api/v1/visits/due", headers=hdrs, params={"area_path": GRID1})
    assert [(r["household_no"], r["status"]) for r in due.json()["items"]] == [
        ("P-1", "overdue"),  # now monthly: due 10 days ago
        ("P-2", "overdue"),
        ("D-1", "due"),
    ]
    outside = await client.get("/api/v1/visits/due", headers=hdrs, params={"area_path": COMMUNITY})
    assert outside.status_code == 403


async def test_a_visit_sent_twice_is_recorded_once(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys
) -> None:
    s = await setup_grid(client, admin())
    hdrs = headers(test_keys, sub=WORKER, roles=["grid_worker"], areas=[GRID1])
    body = {
        "id": str(uuid.uuid4()),
        "household_id": s["household"]["id"],
        "visited_at": datetime.now(UTC).isoformat(),
        "kind": "phone",
        "follow_up": "下周再访",
        "follow_up_due_on": (datetime.now(UTC) + timedelta(days=7)).date().isoformat(),
    }
    first = await client.post("/api/v1/visits", headers=hdrs, json=body)
    again = await client.post("/api/v1/visits", headers=hdrs, json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    listed = await client.get(
        "/api/v1/visits", headers=hdrs, params={"household_id": s["household"]["id"]}
    )
    assert [v["kind"] for v in listed.json()["items"]] == ["phone"]
    bad = await client.post(
        "/api/v1/visits", headers=hdrs, json={**body, "id": str(uuid.uuid4()), "kind": "party"}
    )
    assert bad.status_code == 422
    unknown = await client.post(
        "/api/v1/visits",
        headers=hdrs,
        json={**body, "id": str(uuid.uuid4()), "household_id": str(uuid.uuid4())},
    )
    assert unknown.status_code == 404
