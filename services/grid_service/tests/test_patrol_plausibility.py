"""Patrols take no bad data (issue 22, defects 2, 3, 4 and 7) and give the worker and the centre
what they work from: one open patrol, track replay, findings still without a case."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from basicinfo_helpers import COMMUNITY, GRID1, headers, setup_grid
from test_patrols import CASE_A, WORKER, local_day, point, worker

from shared.testing import TestKeys


async def started_patrol(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys, *, minutes_ago: int = 60
) -> tuple[str, datetime, dict[str, Any]]:
    s = await setup_grid(client, admin())
    started = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    patrol_id = str(uuid.uuid4())
    response = await client.post(
        "/api/v1/patrols",
        headers=worker(test_keys),
        json={"id": patrol_id, "area_id": s["grid"], "started_at": started.isoformat()},
    )
    assert response.status_code == 201, response.text
    return patrol_id, started, s


async def test_a_point_in_beijing_is_an_outlier_left_out_of_distance_and_coverage(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys, app: Any
) -> None:
    patrol_id, started, _ = await started_patrol(client, admin, test_keys)
    url = f"/api/v1/patrols/{patrol_id}/uploads"
    track = [point(n, started) for n in range(10)]  # 9 steps of 111 m: 1.0 km
    beijing = {**point(20, started, minute=5), "lat": 39.9042, "lng": 116.4074}
    response = await client.post(url, headers=worker(test_keys), json={"track_points": track})
    assert 995 < response.json()["distance_m"] < 1005
    response = await client.post(url, headers=worker(test_keys), json={"track_points": [beijing]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["stored"]["track_points"] == 1  # kept: the record is the phone's
    assert body["track_point_count"] == 11
    assert 995 < body["distance_m"] < 1005  # today: 2,246 km
    detail = (await client.get(f"/api/v1/patrols/{patrol_id}", headers=worker(test_keys))).json()
    assert detail["outlier_count"] == 1
    leader = headers(test_keys, sub=str(uuid.uuid4()), roles=["grid_leader"], areas=[COMMUNITY])
    # the local day the patrol started on (an hour ago can be yesterday in Shanghai)
    coverage = await client.get(
        "/api/v1/patrols/coverage",
        headers=leader,
        params={"area_path": COMMUNITY, "on": local_day(started)},
    )
    grid = next(g for g in coverage.json()["grids"] if g["path"] == GRID1)
    assert 995 < grid["workers"][0]["distance_m"] < 1005

    # a jump at 600 km/h inside the district is an outlier too; the track goes on after it
    fast = {**point(21, started, minute=10), "lat": 30.25 + 0.009, "lng": 120.12 + 0.1}
    after = point(22, started, minute=11)
    after["lat"] = 30.25 + 0.010  # 111 m on from minute 9
    response = await client.post(
        url, headers=worker(test_keys), json={"track_points": [fast, after]}
    )
    assert 1105 < response.json()["distance_m"] < 1115

    replay = await client.get(f"/api/v1/patrols/{patrol_id}/track", headers=worker(test_keys))
    assert replay.status_code == 200
    geo = replay.json()
    assert geo["type"] == "FeatureCollection"
    line, *points = geo["features"]
    assert line["geometry"]["type"] == "LineString"
    assert len(line["geometry"]["coordinates"]) == 11  # 13 points less 2 outliers
    assert line["geometry"]["coordinates"][0] == [120.12, 30.25]
    assert len(points) == 13
    flagged = {p["properties"]["id"] for p in points if p["properties"]["outlier"]}
    assert flagged == {beijing["id"], fast["id"]}
    times = [p["properties"]["recorded_at"] for p in points]
    assert times == sorted(times)


async def test_times_outside_the_patrol_or_in_the_future_are_refused(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys, app: Any
) -> None:
    patrol_id, started, s = await started_patrol(client, admin, test_keys)
    url = f"/api/v1/patrols/{patrol_id}/uploads"
    now = datetime.now(UTC)
    cases = {
        "30 days ahead": now + timedelta(days=30),
        "in 2020": datetime(2020, 5, 1, tzinfo=UTC),
    }
    for label, at in cases.items():
        bad = {**point(1, started), "recorded_at": at.isoformat()}
        response = await client.post(
            url, headers=worker(test_keys), json={"track_points": [point(0, started), bad]}
        )
        assert response.status_code == 422, label
        assert response.json()["code"] == "outside_patrol_window"
        assert [e["field"] for e in response.json()["errors"]] == ["track_points.1.recorded_at"]
    finding = {
        "id": str(uuid.uuid4()),
        "found_at": (now + timedelta(hours=3)).isoformat(),
        "description": "井盖破损",
        "outcome": "resolved_on_spot",
        "resolution": "已放置警示牌",
    }
    response = await client.post(url, headers=worker(test_keys), json={"findings": [finding]})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "findings.0.found_at"
    async with app.state.engine.connect() as conn:
        stored = await conn.execute(sa.text("SELECT count(*) FROM patrol_track_point"))
        assert stored.scalar_one() == 0  # nothing of the refused batches

    # ended: a point 2 h after the end is refused; the end may not be in the future
    ok = await client.post(
        url, headers=worker(test_keys), json={"track_points": [point(0, started)]}
    )
    assert ok.status_code == 200
    future_end = await client.post(
        f"/api/v1/patrols/{patrol_id}/end",
        headers=worker(test_keys),
        json={"ended_at": (now + timedelta(hours=1)).isoformat()},
    )
    assert future_end.status_code == 422
    assert future_end.json()["errors"][0]["field"] == "ended_at"
    ended_at = started + timedelta(minutes=20)
    end = await client.post(
        f"/api/v1/patrols/{patrol_id}/end",
        headers=worker(test_keys),
        json={"ended_at": ended_at.isoformat()},
    )
    assert end.status_code == 200, end.text
    late = {**point(5, started), "recorded_at": (ended_at + timedelta(hours=2)).isoformat()}
    response = await client.post(url, headers=worker(test_keys), json={"track_points": [late]})
    assert response.status_code == 422
    assert response.json()["errors"][0]["reason"] == "晚于巡查结束时间"

    # a patrol starting 3 days ahead
    ahead = await client.post(
        "/api/v1/patrols",
        headers=worker(test_keys),
        json={
            "id": str(uuid.uuid4()),
            "area_id": s["grid"],
            "started_at": (now + timedelta(days=3)).isoformat(),
        },
    )
    assert ahead.status_code == 422
    assert ahead.json()["errors"][0]["field"] == "started_at"


async def test_a_replay_with_another_body_is_a_409(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys
) -> None:
    patrol_id, started, s = await started_patrol(client, admin, test_keys)
    start = {"id": patrol_id, "area_id": s["grid"], "started_at": started.isoformat()}
    moved = {**start, "started_at": (started - timedelta(minutes=30)).isoformat()}
    response = await client.post("/api/v1/patrols", headers=worker(test_keys), json=moved)
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_conflict"
    assert response.json()["errors"][0]["field"] == "patrol.started_at"

    url = f"/api/v1/patrols/{patrol_id}/uploads"
    first = point(0, started)
    assert (
        await client.post(url, headers=worker(test_keys), json={"track_points": [first]})
    ).status_code == 200
    same_but_written_in_utc_plus_8 = {
        **first,
        "recorded_at": datetime.fromisoformat(first["recorded_at"])
        .astimezone(datetime.now().astimezone().tzinfo)
        .isoformat(),
    }
    replay = await client.post(
        url, headers=worker(test_keys), json={"track_points": [same_but_written_in_utc_plus_8]}
    )
    assert replay.status_code == 200
    assert replay.json()["duplicates"]["track_points"] == 1
    other = {**first, "lat": first["lat"] + 0.01}
    response = await client.post(url, headers=worker(test_keys), json={"track_points": [other]})
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_conflict"
    assert response.json()["errors"][0]["field"] == "track_points.0.lat"
    detail = await client.get(f"/api/v1/patrols/{patrol_id}/track", headers=worker(test_keys))
    assert detail.json()["features"][1]["geometry"]["coordinates"][1] == first["lat"]


async def test_case_ids_are_checked_with_case_service(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys, fake_cases: Any, app: Any
) -> None:
    fake_cases["cases"].add(CASE_A)
    patrol_id, started, _ = await started_patrol(client, admin, test_keys)
    url = f"/api/v1/patrols/{patrol_id}/uploads"
    finding = {
        "id": str(uuid.uuid4()),
        "found_at": (started + timedelta(minutes=3)).isoformat(),
        "description": "路面坑槽",
        "outcome": "reported",
    }
    made_up = str(uuid.uuid4())
    hdrs = worker(test_keys)
    response = await client.post(
        url, headers=hdrs, json={"findings": [{**finding, "case_id": made_up}]}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "case_not_found"
    assert response.json()["errors"][0]["field"] == "findings.0.case_id"
    assert fake_cases["calls"][-1]["ids"] == [made_up]
    assert fake_cases["calls"][-1]["authorization"] == hdrs["Authorization"]  # the worker's own
    not_an_id = await client.post(
        url,
        headers=worker(test_keys),
        json={"findings": [{**finding, "case_id": "does-not-exist"}]},
    )
    assert not_an_id.status_code == 422
    async with app.state.engine.connect() as conn:
        assert (await conn.execute(sa.text("SELECT count(*) FROM patrol_finding"))).scalar() == 0

    # reported without its case id: it shows in the list of findings without a case
    stored = await client.post(url, headers=worker(test_keys), json={"findings": [finding]})
    assert stored.status_code == 200, stored.text
    dispatcher = headers(test_keys, sub=str(uuid.uuid4()), roles=["dispatcher"], areas=[COMMUNITY])
    waiting = await client.get("/api/v1/patrols/findings-without-case", headers=dispatcher)
    assert waiting.status_code == 200, waiting.text
    assert [(f["id"], f["worker_id"], f["case_id"]) for f in waiting.json()["items"]] == [
        (finding["id"], WORKER, None)
    ]
    link = f"/api/v1/patrols/{patrol_id}/findings/{finding['id']}/case"
    bad = await client.put(link, headers=worker(test_keys), json={"case_id": "does-not-exist"})
    assert bad.status_code == 422
    unknown = await client.put(link, headers=worker(test_keys), json={"case_id": made_up})
    assert unknown.status_code == 422
    assert unknown.json()["code"] == "case_not_found"
    good = await client.put(link, headers=worker(test_keys), json={"case_id": CASE_A})
    assert good.status_code == 200
    waiting = await client.get("/api/v1/patrols/findings-without-case", headers=dispatcher)
    assert waiting.json()["items"] == []
    # the dispatcher also sees the area's patrols and their coverage
    patrols = await client.get("/api/v1/patrols", headers=dispatcher)
    assert [p["id"] for p in patrols.json()["items"]] == [patrol_id]


async def test_one_open_patrol_per_worker(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys
) -> None:
    patrol_id, started, s = await started_patrol(client, admin, test_keys)
    second = {"id": str(uuid.uuid4()), "area_id": s["grid"], "started_at": started.isoformat()}
    response = await client.post("/api/v1/patrols", headers=worker(test_keys), json=second)
    assert response.status_code == 409
    assert response.json()["code"] == "patrol_open"
    assert response.json()["open_patrol_id"] == patrol_id
    await client.post(
        f"/api/v1/patrols/{patrol_id}/end",
        headers=worker(test_keys),
        json={"ended_at": (started + timedelta(minutes=5)).isoformat()},
    )
    response = await client.post("/api/v1/patrols", headers=worker(test_keys), json=second)
    assert response.status_code == 201
