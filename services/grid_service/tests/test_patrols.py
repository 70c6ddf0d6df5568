"""Patrols: idempotent batched uploads, findings linked to cases, daily coverage."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import sqlalchemy as sa
from basicinfo_helpers import COMMUNITY, GRID1, GRID2, headers, setup_grid

from shared.testing import TestKeys

WORKER = "00000000-0000-0000-0000-00000000000a"
OTHER = "00000000-0000-0000-0000-00000000000c"
LEADER = "00000000-0000-0000-0000-00000000000b"


def worker(keys: TestKeys, sub: str = WORKER) -> dict[str, str]:
    return {
        "Authorization": "Bearer "
        + keys.mint(sub=sub, roles=["grid_worker"], areas=[GRID1], name="王芳")
    }


def local_day(at: datetime) -> str:
    """The local (Asia/Shanghai, the service's default) day of ``at``, as coverage's ``on``."""
    return at.astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()


def point(n: int, start: datetime, minute: int | None = None) -> dict[str, Any]:
    """Track point ``n`` (its id), ``minute`` (default n) minutes after ``start``, 111 m north
    of the previous minute's."""
    at = n if minute is None else minute
    return {
        "id": str(uuid.UUID(int=n + 1000)),
        "recorded_at": (start + timedelta(minutes=at)).isoformat(),
        "lat": 30.25 + at * 0.001,  # ~111 m north per minute
        "lng": 120.12,
        "accuracy_m": 8,
    }


COUNTS = {
    "patrol_track_point": "SELECT count(*) FROM patrol_track_point",
    "patrol_check_in": "SELECT count(*) FROM patrol_check_in",
    "patrol_finding": "SELECT count(*) FROM patrol_finding",
}


async def table_count(app: Any, table: str) -> int:
    async with app.state.engine.connect() as conn:
        return int((await conn.execute(sa.text(COUNTS[table]))).scalar_one())


CASE_A = "5b0e3c1a-7d2f-4e8a-9c61-2f4b8d0a1e37"
CASE_B = "5b0e3c1a-7d2f-4e8a-9c61-2f4b8d0a1e38"


async def test_overlapping_batches_store_nothing_twice(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys, app: Any, fake_cases: Any
) -> None:
    fake_cases["cases"].update({CASE_A, CASE_B})
    s = await setup_grid(client, admin())
    place = await client.post(
        "/api/v1/key-places",
        headers=admin(),
        json={
            "area_id": s["grid"],
            "name": "文三路加油站",
            "kind": "gas_station",
            "responsible_name": "赵强",
            "responsible_phone": "13812345678",
        },
    )
    assert place.status_code == 201
    assert place.json()["responsible_phone"] == "138****5678"
    started = datetime.now(UTC) - timedelta(hours=1)
    patrol_id = str(uuid.uuid4())
    start = {"id": patrol_id, "area_id": s["grid"], "started_at": started.isoformat()}
    first = await client.post("/api/v1/patrols", headers=worker(test_keys), json=start)
    assert first.status_code == 201, first.text
    retried = await client.post("/api/v1/patrols", headers=worker(test_keys), json=start)
    assert retried.status_code == 200
    taken = await client.post("/api/v1/patrols", headers=worker(test_keys, OTHER), json=start)
    assert taken.status_code == 409

    check_in = {
        "id": str(uuid.uuid4()),
        "key_place_id": place.json()["id"],
        "checked_in_at": (started + timedelta(minutes=2)).isoformat(),
        "photos": ["patrol/gas.jpg"],
    }
    reported = {
        "id": str(uuid.uuid4()),
        "found_at": (started + timedelta(minutes=3)).isoformat(),
        "description": "井盖破损",
        "outcome": "reported",
        "photos": ["patrol/manhole.jpg"],
    }
    url = f"/api/v1/patrols/{patrol_id}/uploads"
    batch1 = {"track_points": [point(n, started) for n in range(0, 3)], "check_ins": [check_in]}
    one = await client.post(url, headers=worker(test_keys), json=batch1)
    assert one.status_code == 200, one.text
    assert one.json()["stored"] == {"track_points": 3, "check_ins": 1, "findings": 0}
    # the phone lost the answer: it sends batch 1 again, then a batch overlapping it
    again = await client.post(url, headers=worker(test_keys), json=batch1)
    assert again.json()["stored"] == {"track_points": 0, "check_ins": 0, "findings": 0}
    assert again.json()["duplicates"] == {"track_points": 3, "check_ins": 1, "findings": 0}
    batch2 = {
        "track_points": [point(n, started) for n in range(1, 6)],
        "check_ins": [check_in],
        "findings": [reported],
    }
    two = await client.post(url, headers=worker(test_keys), json=batch2)
    assert two.json()["stored"] == {"track_points": 3, "check_ins": 0, "findings": 1}
    assert two.json()["duplicates"] == {"track_points": 2, "check_ins": 1, "findings": 0}
    assert two.json()["track_point_count"] == 6
    assert 550 < two.json()["distance_m"] < 560  # 5 steps of 0.001° latitude
    assert (
        await table_count(app, "patrol_track_point"),
        await table_count(app, "patrol_check_in"),
    ) == (6, 1)
    assert await table_count(app, "patrol_finding") == 1

    # someone else's patrol, a key place elsewhere, a finding without its resolution
    foreign = await client.post(url, headers=worker(test_keys, OTHER), json=batch1)
    assert foreign.status_code == 403
    bad_place = await client.post(
        url,
        headers=worker(test_keys),
        json={
            "check_ins": [{**check_in, "id": str(uuid.uuid4()), "key_place_id": str(uuid.uuid4())}]
        },
    )
    assert bad_place.status_code == 422
    assert bad_place.json()["errors"][0]["field"] == "check_ins.0.key_place_id"
    unresolved = await client.post(
        url,
        headers=worker(test_keys),
        json={"findings": [{**reported, "id": str(uuid.uuid4()), "outcome": "resolved_on_spot"}]},
    )
    assert unresolved.status_code == 422

    # the app reported the finding to case_service and links the case id it got back
    link = f"/api/v1/patrols/{patrol_id}/findings/{reported['id']}/case"
    linked = await client.put(link, headers=worker(test_keys), json={"case_id": CASE_A})
    assert linked.status_code == 200
    assert linked.json()["case_id"] == CASE_A
    same = await client.put(link, headers=worker(test_keys), json={"case_id": CASE_A})
    assert same.status_code == 200
    other_case = await client.put(link, headers=worker(test_keys), json={"case_id": CASE_B})
    assert other_case.status_code == 409

    ended_at = (started + timedelta(minutes=50)).isoformat()
    ended = await client.post(
        f"/api/v1/patrols/{patrol_id}/end", headers=worker(test_keys), json={"ended_at": ended_at}
    )
    assert ended.status_code == 200
    detail = (await client.get(f"/api/v1/patrols/{patrol_id}", headers=worker(test_keys))).json()
    assert (detail["check_in_count"], detail["ended_at"] is not None) == (1, True)
    assert [(f["description"], f["case_id"]) for f in detail["findings"]] == [("井盖破损", CASE_A)]


async def test_daily_coverage_names_patrolled_and_unpatrolled_grids(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys
) -> None:
    s = await setup_grid(client, admin())
    started = datetime.now(UTC) - timedelta(minutes=90)
    for sub, minutes in ((WORKER, 30), (WORKER, 20), (OTHER, 10)):
        patrol_id = str(uuid.uuid4())
        hdrs = worker(test_keys, sub)
        await client.post(
            "/api/v1/patrols",
            headers=hdrs,
            json={"id": patrol_id, "area_id": s["grid"], "started_at": started.isoformat()},
        )
        await client.post(
            f"/api/v1/patrols/{patrol_id}/uploads",
            headers=hdrs,
            json={"track_points": [point(n + minutes * 10, started, minute=n) for n in range(3)]},
        )
        await client.post(
            f"/api/v1/patrols/{patrol_id}/end",
            headers=hdrs,
            json={"ended_at": (started + timedelta(minutes=minutes)).isoformat()},
        )
    leader = headers(test_keys, sub=LEADER, roles=["grid_leader"], areas=[COMMUNITY])
    # the local day the patrols started on (90 minutes ago can be yesterday in Shanghai)
    response = await client.get(
        "/api/v1/patrols/coverage",
        headers=leader,
        params={"area_path": COMMUNITY, "on": local_day(started)},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["patrolled"], body["not_patrolled"]) == (1, 1)
    by_path = {g["path"]: g for g in body["grids"]}
    assert by_path[GRID2]["patrolled"] is False
    assert by_path[GRID2]["workers"] == []
    workers = by_path[GRID1]["workers"]
    assert [(w["worker_id"], w["patrols"], w["duration_s"]) for w in workers] == [
        (WORKER, 2, 50 * 60),
        (OTHER, 1, 10 * 60),
    ] or [(w["worker_id"], w["patrols"], w["duration_s"]) for w in workers] == [
        (OTHER, 1, 10 * 60),
        (WORKER, 2, 50 * 60),
    ]
    assert all(220 < w["distance_m"] / w["patrols"] < 225 for w in workers)
    yesterday = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()
    old = await client.get(
        "/api/v1/patrols/coverage",
        headers=leader,
        params={"area_path": COMMUNITY, "on": yesterday},
    )
    assert old.json()["patrolled"] == 0
    outside = await client.get(
        "/api/v1/patrols/coverage", headers=worker(test_keys), params={"area_path": COMMUNITY}
    )
    assert outside.status_code == 403
