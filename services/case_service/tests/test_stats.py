"""Indicators on a small hand-built set of cases whose right answers are worked out by hand.

The clock is injected (``utcnow`` of the case and evaluation services); time limits are the
built-in ones of category 0802 (accept 2 working hours, dispatch 4 working hours, resolve 1
working day at community level) on the working calendar 09:00-12:00, 13:30-18:00. 21-22
November 2026 is a weekend.

The set (all in district 330106; c6 in street 2, the rest in street 1; c5 in grid B, c6 in
grid D, the rest in grid A):

* c1 reported Fri 20 Nov 16:00, accepted 16:30 (due 18:00), resolved Mon 23 10:00 (due Mon
  18:00: on time across the weekend; 2.5 of 9 working hours used: ahead), closed, rated
  satisfied. Handling 16:00-18:00 Fri + 09:00-10:00 Mon = 3.0 working hours.
* c2 reported Mon 23 09:00, accepted 09:30, resolved 11:00, reworked 14:00 (resolve limit
  restarts: due Tue 18:00), resolved again Wed 25 10:00 (late), closed, rated dissatisfied.
  Handling Mon 7.5 + Tue 7.5 + Wed 1 = 16.0 working hours.
* c3 reported Tue 24 09:00, accepted, dispatched, escalated 10:00; the street's acceptance
  limit (due 12:00) is marked overdue by the timer at 13:00: open and overdue.
* c4 reported and resolved on the spot by grid worker A Mon 23 15:00 (自行处置), closed 15:20,
  not rated. Handling 0 hours.
* c5 (resident 2) reported Mon 23 10:00, dispatched to dept-urban, resolved, closed, rated
  dissatisfied, reopen asked and granted: reopened, open.
* c6 reported Tue 24 09:00 in street 2, dispatched to dept-roads, returned.
* c7 reported Wed 25 09:00, rejected.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest
from conftest import (
    ADMIN,
    COMMUNITY1,
    DISPATCHER_C1,
    DISPATCHER_S1,
    DISTRICT,
    GRID_A,
    GRID_B,
    RESIDENT,
    RESIDENT2,
    ROADS,
    STREET1,
    STREET2,
    URBAN,
    WORKER_A,
    Api,
    FakeGrid,
    Person,
    area_ref,
)
from openpyxl import load_workbook

from case_service.clients.grid import GridClient
from case_service.sla.calendar import SHANGHAI
from case_service.sla.flows import escalator
from case_service.sla.timers import fire_due
from shared.http import ServiceClient

DISPATCHER_S2 = Person("disp-s2", ("dispatcher",), (STREET2,))
PERIOD = {"from": "2026-11-16", "to": "2026-11-30"}
GRID_D_LAT = 33.1


def sh(d: int, h: int, mi: int = 0) -> datetime:
    return datetime(2026, 11, d, h, mi, tzinfo=SHANGHAI)


@dataclass
class Clock:
    now: datetime


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock(sh(20, 9))
    for module in (
        "case_service.cases.service",
        "case_service.intake",
        "case_service.evaluations.service",
        "case_service.evaluations.flows",
    ):
        monkeypatch.setattr(f"{module}.utcnow", lambda: c.now)
    return c


async def at(clock: Clock, when: datetime, coro: Any) -> Any:
    clock.now = when
    return await coro


def dispatch_to(**who: str) -> dict[str, Any]:
    return {"assignees": [{**who, "role": "lead"}]}


async def build(api: Api, app: Any, clock: Clock) -> dict[str, str]:
    a = api.act
    ids: dict[str, str] = {}
    clock.now = sh(20, 16)
    ids["c1"] = c1 = (await api.report(RESIDENT))["id"]
    await at(clock, sh(20, 16, 30), a(DISPATCHER_C1, c1, "accept"))
    await at(
        clock,
        sh(20, 16, 40),
        a(DISPATCHER_C1, c1, "dispatch", **dispatch_to(account_id=WORKER_A.sub)),
    )
    await at(clock, sh(20, 16, 50), a(WORKER_A, c1, "claim"))

    clock.now = sh(23, 9)
    ids["c2"] = c2 = (await api.report(RESIDENT))["id"]
    await at(clock, sh(23, 9, 30), a(DISPATCHER_C1, c2, "accept"))
    await at(
        clock,
        sh(23, 9, 40),
        a(DISPATCHER_C1, c2, "dispatch", **dispatch_to(account_id=WORKER_A.sub)),
    )
    await at(clock, sh(23, 9, 50), a(WORKER_A, c2, "claim"))
    clock.now = sh(23, 10)
    ids["c5"] = c5 = (
        await api.report(RESIDENT2, location={"lat": 31.2, "lng": 120.1, "crs": "wgs84"})
    )["id"]
    await at(clock, sh(23, 10), a(WORKER_A, c1, "resolve", result="已更换井盖"))
    await at(clock, sh(23, 10, 10), a(DISPATCHER_C1, c5, "accept"))
    await at(
        clock,
        sh(23, 10, 20),
        a(DISPATCHER_C1, c5, "dispatch", **dispatch_to(department_id="dept-urban")),
    )
    await at(clock, sh(23, 10, 30), a(DISPATCHER_C1, c1, "verify"))
    await at(clock, sh(23, 10, 30), a(URBAN, c5, "claim"))
    clock.now = sh(23, 11)
    r = await api.client.post(
        f"/api/v1/cases/{c1}/evaluations",
        json={
            "satisfaction": "satisfied",
            "attitude_score": 5,
            "speed_score": 5,
            "result_score": 5,
        },
        headers=api.headers(RESIDENT),
    )
    assert r.status_code == 201, r.text
    await at(clock, sh(23, 11), a(WORKER_A, c2, "resolve", result="已处理"))
    await at(clock, sh(23, 11, 30), a(URBAN, c5, "resolve", result="已清理"))
    await at(clock, sh(23, 12), a(DISPATCHER_C1, c5, "verify"))
    await at(clock, sh(23, 12, 30), a(RESIDENT2, c5, "rate", rating=1, reason="没清理干净"))
    clock.now = sh(23, 12, 40)
    r = await api.client.post(
        f"/api/v1/cases/{c5}/reopen-requests",
        json={"reason": "还是脏"},
        headers=api.headers(RESIDENT2),
    )
    assert r.status_code == 201, r.text
    clock.now = sh(23, 13, 30)
    r = await api.client.post(
        f"/api/v1/reopen-requests/{r.json()['id']}/decision",
        json={"decision": "reopen", "explanation": "重新派城管"},
        headers=api.headers(DISPATCHER_C1),
    )
    assert r.status_code == 200, r.text
    await at(clock, sh(23, 14), a(DISPATCHER_C1, c2, "rework", reason="没修好"))
    clock.now = sh(23, 15)
    ids["c4"] = c4 = (
        await api.report(WORKER_A, channel="patrol", self_handled={"result": "已现场处置"})
    )["id"]
    await at(clock, sh(23, 15, 20), a(DISPATCHER_C1, c4, "verify"))

    clock.now = sh(24, 9)
    ids["c3"] = c3 = (await api.report(RESIDENT))["id"]
    ids["c6"] = c6 = (
        await api.report(RESIDENT, location={"lat": GRID_D_LAT, "lng": 120.1, "crs": "wgs84"})
    )["id"]
    await at(clock, sh(24, 9, 5), a(DISPATCHER_S2, c6, "accept"))
    await at(clock, sh(24, 9, 10), a(DISPATCHER_C1, c3, "accept"))
    await at(
        clock,
        sh(24, 9, 10),
        a(DISPATCHER_S2, c6, "dispatch", **dispatch_to(department_id="dept-roads")),
    )
    await at(
        clock,
        sh(24, 9, 20),
        a(DISPATCHER_C1, c3, "dispatch", **dispatch_to(account_id=WORKER_A.sub)),
    )
    await at(clock, sh(24, 9, 30), a(WORKER_A, c3, "claim"))
    await at(clock, sh(24, 9, 30), a(ROADS, c6, "return", reason="不归我们管"))
    await at(clock, sh(24, 10), a(WORKER_A, c3, "escalate", reason="需要街道协调"))
    await fire_due(app.state.sessionmaker, now=sh(24, 13), escalate=escalator(app.state.settings))

    await at(clock, sh(25, 10), a(WORKER_A, c2, "resolve", result="已彻底修复"))
    await at(clock, sh(25, 11), a(DISPATCHER_C1, c2, "verify"))
    await at(clock, sh(25, 12), a(RESIDENT, c2, "rate", rating=2))
    clock.now = sh(25, 9)
    ids["c7"] = c7 = (await api.report(RESIDENT))["id"]
    await at(clock, sh(25, 9, 10), a(DISPATCHER_C1, c7, "reject", reason="重复诉求"))
    return ids


def figures(row: dict[str, Any]) -> dict[str, tuple[int, int | None]]:
    return {k: (v["numerator"], v["denominator"]) for k, v in row["indicators"].items()}


DISTRICT_FIGURES = {
    "received": (7, None),
    "accepted": (6, 7),
    "on_time_acceptance": (5, 6),  # c3's acceptance at the street ran late
    "dispatched": (5, 6),
    "resolved": (3, 7),  # c1, c2, c4
    "on_time_resolution": (2, 3),  # c2 late
    "resolved_ahead": (2, 3),  # c1 (2.5 of 9 h), c4 on the spot
    "overdue": (2, 7),
    "overdue_open": (1, 7),  # c3
    "overdue_closed": (1, 7),  # c2
    "self_handled": (1, 7),
    "on_spot": (1, 3),
    "escalated": (1, 7),
    "returned": (1, 7),
    "rework": (1, 3),
    "reopened": (1, 7),
    "rating_rate": (2, 3),  # c1, c2 of the closed c1, c2, c4
    "satisfaction_rate": (1, 2),
}


async def get(api: Api, who: Person, path: str, **params: Any) -> httpx.Response:
    return await api.get(who, f"/api/v1/stats/{path}", **{**PERIOD, **params})


async def test_every_indicator_on_a_hand_built_set(api: Api, app: Any, clock: Clock) -> None:
    ids = await build(api, app, clock)

    r = await get(api, ADMIN, "indicators", area_path=DISTRICT)
    assert r.status_code == 200, r.text
    body = r.json()
    [row] = body["rows"]
    assert figures(row) == DISTRICT_FIGURES
    assert row["indicators"]["on_time_resolution"]["rate"] == 0.6667
    # (3.0 + 16.0 + 0) / 3; p90 interpolates between 3.0 and 16.0: 3 + 0.8 × 13
    assert row["handling_hours"] == {"resolved": 3, "average": 6.33, "p90": 13.4}
    assert body["definitions"]["on_time_resolution"]["denominator"] == "resolved"

    # grouped by child area of the district: street 1 and street 2
    r = await get(api, ADMIN, "indicators", area_path=DISTRICT, group_by="area")
    assert r.status_code == 200, r.text
    rows = {x["key"]: figures(x) for x in r.json()["rows"]}
    assert set(rows) == {STREET1, STREET2}
    assert rows[STREET2]["received"] == (1, None)
    assert rows[STREET2]["returned"] == (1, 1)
    assert rows[STREET1]["received"] == (6, None)
    assert rows[STREET1]["accepted"] == (5, 6)

    r = await get(api, ADMIN, "indicators", group_by="department")
    rows = {x["key"]: figures(x) for x in r.json()["rows"]}
    assert {k: v["received"][0] for k, v in rows.items()} == {
        "dept-urban": 1,
        "dept-roads": 1,
        None: 5,
    }
    assert rows["dept-urban"]["reopened"] == (1, 1)

    r = await get(api, ADMIN, "indicators", category_code="08", group_by="category")
    assert [(x["key"], x["indicators"]["received"]["numerator"]) for x in r.json()["rows"]] == [
        ("0802", 7)
    ]
    r = await get(api, ADMIN, "indicators", category_code="0501")
    assert r.json()["rows"][0]["indicators"]["received"]["numerator"] == 0

    # time series: by day (empty days included), by week (weeks start on Monday)
    r = await get(
        api, ADMIN, "series", interval="day", **{"from": "2026-11-20", "to": "2026-11-25"}
    )
    assert [(x["key"], x["indicators"]["received"]["numerator"]) for x in r.json()["rows"]] == [
        ("2026-11-20", 1),
        ("2026-11-21", 0),
        ("2026-11-22", 0),
        ("2026-11-23", 3),
        ("2026-11-24", 2),
        ("2026-11-25", 1),
    ]
    r = await get(api, ADMIN, "series", interval="week")
    weekly = [
        (x["key"], figures(x)["received"][0], figures(x)["resolved"]) for x in r.json()["rows"]
    ]
    assert weekly == [
        ("2026-11-16", 1, (1, 1)),
        ("2026-11-23", 6, (2, 6)),
        ("2026-11-30", 0, (0, 0)),
    ]
    r = await get(api, ADMIN, "series", interval="month")
    assert [x["key"] for x in r.json()["rows"]] == ["2026-11-01"]

    # ranking with red and yellow lists (thresholds 0.8 / 0.9)
    r = await get(api, ADMIN, "ranking", area_path=DISTRICT, by="area", indicator="accepted")
    ranking = r.json()
    assert [(x["rank"], x["key"], x["rate"], x["list"]) for x in ranking["rows"]] == [
        (1, STREET2, 1.0, "green"),
        (2, STREET1, 0.8333, "yellow"),
    ]
    assert (ranking["red_list"], ranking["yellow_list"]) == ([], [STREET1])
    r = await get(api, ADMIN, "ranking", area_path=DISTRICT, by="area")
    assert [(x["key"], x["rate"], x["list"]) for x in r.json()["rows"]] == [
        (STREET1, 0.6667, "red"),
        (STREET2, None, "none"),
    ]
    r = await get(api, ADMIN, "ranking", by="department", indicator="returned")
    assert [(x["key"], x["rate"], x["list"]) for x in r.json()["rows"]] == [
        (None, 0.0, "green"),
        ("dept-urban", 0.0, "green"),
        ("dept-roads", 1.0, "red"),  # higher is worse: 1 − 1.0 < 0.8
    ]

    # the year-end negative list
    r = await api.get(ADMIN, "/api/v1/stats/negative-list", year=2026)
    assert r.json()["rows"] == [
        {
            "handler_id": WORKER_A.sub,
            "cases": 4,  # c1, c2, c3, c4
            "overdue": 2,
            "dissatisfied": 1,
            "overdue_case_ids": [ids["c2"], ids["c3"]],
            "dissatisfied_case_ids": [ids["c2"]],
        }
    ]
    r = await api.get(ADMIN, "/api/v1/stats/negative-list", year=2025)
    assert r.json()["rows"] == []

    # scope: a street dispatcher sees their street only
    r = await get(api, DISPATCHER_S2, "indicators")
    assert figures(r.json()["rows"][0])["received"] == (1, None)
    r = await get(api, DISPATCHER_S2, "indicators", area_path=STREET1)
    assert (r.status_code, r.json()["code"]) == (403, "area_out_of_scope")
    r = await get(api, DISPATCHER_S1, "indicators")
    assert figures(r.json()["rows"][0])["received"] == (6, None)
    r = await get(api, URBAN, "indicators")
    assert figures(r.json()["rows"][0])["reopened"] == (1, 1)
    r = await get(api, RESIDENT, "indicators")
    assert (r.status_code, r.json()["code"]) == (403, "stats_not_permitted")

    # exports parse back to the same figures
    r = await get(api, ADMIN, "indicators", area_path=DISTRICT, group_by="area", format="csv")
    assert r.headers["content-type"].startswith("text/csv")
    parsed = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    by_key = {p["key"]: p for p in parsed}
    assert by_key[STREET1]["accepted"] == "5"
    assert by_key[STREET1]["accepted_denominator"] == "6"
    assert by_key[STREET1]["on_time_resolution_rate"] == "0.6667"
    assert by_key[STREET2]["returned_rate"] == "1.0"
    r = await get(api, ADMIN, "indicators", area_path=DISTRICT, format="xlsx")
    sheet = load_workbook(io.BytesIO(r.content), read_only=True).active
    header, values = list(sheet.iter_rows(values_only=True))
    got = dict(zip(header, values, strict=True))
    for name, (num, den) in DISTRICT_FIGURES.items():
        assert got[name] == num
        if den is not None:
            assert got[f"{name}_denominator"] == den
    assert (got["handling_hours_average"], got["handling_hours_p90"]) == (6.33, 13.4)
    r = await get(api, ADMIN, "ranking", area_path=DISTRICT, by="area", format="csv")
    assert list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))[1:] == [
        ["1", STREET1, "2", "3", "0.6667", "red"],
        ["2", STREET2, "0", "0", "", "none"],
    ]

    # the cases behind the figures
    r = await get(api, ADMIN, "cases/export", format="csv")
    rows_ = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert len(rows_) == 7
    assert sorted(x["status"] for x in rows_) == sorted(
        ["closed", "closed", "closed", "escalated", "reopened", "returned", "rejected"]
    )
    r = await get(api, DISPATCHER_S2, "cases/export", format="xlsx")
    sheet = load_workbook(io.BytesIO(r.content), read_only=True).active
    rows_x = list(sheet.iter_rows(values_only=True))
    assert len(rows_x) == 2
    assert rows_x[0][0] == "case_number"
    assert rows_x[1][1] == "returned"
    r = await get(api, RESIDENT, "cases/export")
    assert r.status_code == 403


def polygon(lng: float) -> dict[str, Any]:
    ring = [[lng, 30.0], [lng + 0.01, 30.0], [lng + 0.01, 30.01], [lng, 30.0]]
    return {"type": "Polygon", "coordinates": [ring]}


async def test_heat_map_counts_per_grid(api: Api, app: Any, fake_grid: FakeGrid) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path != "/api/v1/areas/export":
            return fake_grid.handler(request)
        seen.append(request)
        under = request.url.params.get("under")
        if under != COMMUNITY1:
            return httpx.Response(404, json={"code": "area_not_found"})
        feats = [
            {
                "type": "Feature",
                "id": area_ref(p)["id"],
                "geometry": polygon(i),
                "properties": {"code": p.split(".")[-1], "name": area_ref(p)["name"], "path": p},
            }
            for i, p in enumerate((COMMUNITY1, GRID_A, GRID_B))
        ]
        return httpx.Response(200, json={"type": "FeatureCollection", "features": feats})

    app.state.grid_client = GridClient(
        ServiceClient(
            "http://grid.test",
            name="grid_service",
            retries=0,
            transport=httpx.MockTransport(handler),
        )
    )
    await api.report(RESIDENT)
    await api.report(RESIDENT)
    await api.report(RESIDENT, location={"lat": 31.2, "lng": 120.1, "crs": "wgs84"})
    await api.report(RESIDENT, category_code="0501", description="流动摊贩占道")
    today = datetime.now(SHANGHAI).date().isoformat()
    r = await api.get(
        DISPATCHER_C1, "/api/v1/stats/heatmap", category_code="0802", **{"from": today, "to": today}
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/geo+json")
    body = r.json()
    assert body["type"] == "FeatureCollection"
    assert [(f["properties"]["path"], f["properties"]["count"]) for f in body["features"]] == [
        (GRID_A, 2),
        (GRID_B, 1),
    ]
    assert body["features"][0]["geometry"] == polygon(1)
    assert seen[0].url.params["under"] == COMMUNITY1
    r = await api.get(DISPATCHER_C1, "/api/v1/stats/heatmap", area_path=STREET1)
    assert r.status_code == 403


async def test_bad_statistics_queries(api: Api) -> None:
    cases = [
        ({"from": "2026-11-30", "to": "2026-11-01"}, "to"),
        ({"from": "2020-01-01", "to": "2026-11-01"}, "to"),
        ({"from": "not-a-day"}, "from"),
        ({"group_by": "street"}, "group_by"),
        ({"area_path": "330100..1"}, "area_path"),
    ]
    for params, field in cases:
        r = await api.get(ADMIN, "/api/v1/stats/indicators", **params)
        assert r.status_code == 422, params
        assert f"query.{field}" in [e["field"] for e in r.json()["errors"]], r.json()
    r = await api.get(ADMIN, "/api/v1/stats/ranking", indicator="received")
    assert (r.status_code, r.json()["errors"][0]["field"]) == (422, "query.indicator")
    r = await api.get(ADMIN, "/api/v1/stats/ranking", by="category")
    assert (r.status_code, r.json()["errors"][0]["field"]) == (422, "query.by")
    r = await api.get(ADMIN, "/api/v1/stats/series", interval="hour")
    assert r.status_code == 422
    r = await api.get(ADMIN, "/api/v1/stats/cases/export", format="json")
    assert (r.status_code, r.json()["errors"][0]["field"]) == (422, "query.format")
    r = await api.get(ADMIN, "/api/v1/stats/negative-list")
    assert r.status_code == 422
