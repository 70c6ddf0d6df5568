"""Issue 16: cases filed by an address alone are placed through grid_service's address matching
(API, Open311 ``address_string``, pushed work orders); what matches nothing waits as
``to_locate`` (待定位) at the filer's area until the ``locate`` action places it, with its time
limits recomputed for the new handling level.

grid_service is the fake of conftest: its register holds 宝石山下一弄12号 (grid A), 保俶路100号
in grids A and C (ambiguous) and 灵隐路8号 (grid D).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from conftest import (
    ADMIN,
    BAOSHI_12,
    COMMUNITY1,
    COMMUNITY3,
    DISPATCHER_C1,
    DISPATCHER_S1,
    DISTRICT,
    GRID_A,
    GRID_D,
    LINGYIN_8,
    PLATFORM,
    RESIDENT,
    STREET1,
    Api,
    FakeGrid,
    Person,
)
from test_open311 import key_service, post  # noqa: F401 - the api_key fixture
from test_platforms import map_code, push

SPOKEN = "浙江省杭州市西湖区宝石山下一弄１２号"
DISPATCHER_D = Person("disp-d", ("dispatcher",), (DISTRICT,))


def hotline(**fields: Any) -> dict[str, Any]:
    return {"channel": "hotline", "reporter": {"name": "赵先生", "phone": "13900002222"}, **fields}


def match_calls(fake: FakeGrid) -> list[dict[str, Any]]:
    return [json.loads(r.content) for r in fake.calls if r.url.path == "/api/v1/addresses/match"]


async def timeline(api: Api, case_id: str) -> list[dict[str, Any]]:
    r = await api.get(ADMIN, f"/api/v1/cases/{case_id}/timeline")
    assert r.status_code == 200
    return list(r.json())


async def deadlines(api: Api, case_id: str) -> dict[str, dict[str, Any]]:
    r = await api.get(ADMIN, f"/api/v1/cases/{case_id}/deadlines")
    assert r.status_code == 200, r.text
    return {d["kind"]: d for d in r.json() if d["status"] == "open"}


async def test_a_spoken_address_lands_in_its_grid(api: Api, fake_grid: FakeGrid) -> None:
    case = await api.report(DISPATCHER_S1, **hotline(location={"address": SPOKEN}))
    assert case["area"]["path"] == GRID_A
    assert case["area"]["name"] == "区域330106001001001"
    assert case["location_status"] == "located"
    assert case["location"]["address_id"] == str(BAOSHI_12)
    assert case["location"]["address"] == SPOKEN
    assert case["location"]["lat"] is None  # the register keeps no point for an address
    assert case["handling_area_path"] == COMMUNITY1
    assert case["handling_level"] == "community"
    # asked inside the dispatcher's jurisdiction, with case_service's own token
    assert match_calls(fake_grid) == [{"address": SPOKEN, "limit": 5, "area_path": STREET1}]
    report = (await timeline(api, case["id"]))[0]
    assert report["data"]["located_by"] == "address"
    assert report["data"]["address_match"] == "matched"
    # the worker of grid A sees it in their grid
    listed = (await api.get(DISPATCHER_C1, "/api/v1/cases")).json()["items"]
    assert [c["id"] for c in listed] == [case["id"]]


@pytest.mark.parametrize(
    ("address", "outcome"),
    [("文三路90号", "unmatched"), ("保俶路100号", "ambiguous"), ("地址匹配故障", "unavailable")],
)
async def test_no_confident_match_waits_at_the_filers_area(
    api: Api, address: str, outcome: str
) -> None:
    case = await api.report(DISPATCHER_S1, **hotline(location={"address": address}))
    assert case["area"]["path"] == STREET1
    assert case["location_status"] == "to_locate"
    assert case["location"]["address_id"] is None
    assert case["status"] == "reported"
    assert case["due_at"] is not None  # the acceptance clock runs all the same
    assert "locate" in case["allowed_actions"]
    report = (await timeline(api, case["id"]))[0]
    assert report["data"]["address_match"] == outcome
    to_place = (await api.get(DISPATCHER_S1, "/api/v1/cases", location_status="to_locate")).json()[
        "items"
    ]
    assert [c["id"] for c in to_place] == [case["id"]]
    assert to_place[0]["location_status"] == "to_locate"


async def test_a_resident_by_address(api: Api) -> None:
    case = await api.report(RESIDENT, location={"address": "宝石山下一弄12号"})
    assert (case["area"]["path"], case["location_status"]) == (GRID_A, "located")
    r = await api.report(RESIDENT, expect=422, location={"address": "文三路90号"})
    assert r["code"] == "location_needs_point"
    assert r["errors"][0]["field"] == "location.lat"
    assert r["detail"].startswith("地址未能匹配到标准地址")


async def test_open311_address_string_alone(
    api: Api,
    app: Any,
    key_service: list[str],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    placed = await post(api, "json", lat=..., long=..., address_string=SPOKEN)
    assert placed.status_code == 201, placed.text
    number = placed.json()[0]["service_request_id"]
    got = (await api.client.get(f"/open311/v2/requests/{number}.json")).json()[0]
    assert got["address"] == SPOKEN
    case = (await api.get(ADMIN, "/api/v1/cases", q="学院路口")).json()["items"][0]
    assert (case["area_path"], case["location_status"]) == (GRID_A, "located")
    # matching nothing, with no area configured: refused the GeoReport way
    refused = await post(api, "json", lat=..., long=..., address_string="文三路90号")
    assert refused.status_code == 400
    assert "location.lat" in refused.json()[0]["description"]
    monkeypatch.setattr(app.state.settings, "open311_address_area_path", DISTRICT)
    kept = await post(api, "json", lat=..., long=..., address_string="文三路90号")
    assert kept.status_code == 201, kept.text
    waiting = (await api.get(ADMIN, "/api/v1/cases", location_status="to_locate")).json()["items"]
    assert [(c["area_path"], c["case_number"]) for c in waiting] == [
        (DISTRICT, kept.json()[0]["service_request_id"])
    ]


async def test_work_order_by_address(api: Api, app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    await map_code(api)
    order = await push(api, "HZ-A1", location={"address": "杭州市西湖区灵隐路８号"})
    case = (await api.get(ADMIN, f"/api/v1/cases/{order['case_id']}")).json()
    assert (case["area"]["path"], case["location_status"]) == (GRID_D, "located")
    assert case["location"]["address_id"] == str(LINGYIN_8)
    # the platform has no area of its own: unmatched needs the configured default area
    refused = await push(api, "HZ-A2", expect=422, location={"address": "文三路90号"})
    assert refused["code"] == "location_needs_point"
    monkeypatch.setattr(app.state.settings, "intake_default_area_path", DISTRICT)
    order = await push(api, "HZ-A3", location={"address": "文三路90号"})
    case = (await api.get(ADMIN, f"/api/v1/cases/{order['case_id']}")).json()
    assert (case["area"]["path"], case["location_status"]) == (DISTRICT, "to_locate")
    assert case["source"] == PLATFORM.sub


# ------------------------------------------------------------------------- the locate action


async def test_locate_by_point_recomputes_the_time_limits(api: Api) -> None:
    r = await api.client.post(
        "/api/v1/sla/policies",
        headers=api.headers(ADMIN),
        json={
            "name": "社区级井盖",
            "category_code": "0802",
            "handling_level": "community",
            "limits": {
                "accept": {"amount": 7, "unit": "working_days"},
                "resolve": {"amount": 9, "unit": "working_days"},
            },
        },
    )
    assert r.status_code == 201, r.text
    case = await api.report(DISPATCHER_S1, **hotline(location={"address": "文三路90号"}))
    await api.act(DISPATCHER_S1, case["id"], "accept")
    before = await deadlines(api, case["id"])
    assert before["resolve"]["handling_level"] is None
    assert before["resolve"]["amount"] != 9
    r = await api.act(
        DISPATCHER_S1,
        case["id"],
        "locate",
        lat=30.2741,
        lng=120.1551,
        reason="来电人确认：学院路口东侧",
        headers={"If-Match": '"2"'},
    )
    placed = r.json()
    assert r.headers["ETag"] == f'"{placed["version"]}"' == '"3"'
    assert placed["status"] == "accepted"
    assert placed["location_status"] == "located"
    assert placed["area"]["path"] == GRID_A
    assert (placed["location"]["lat"], placed["location"]["lng"]) == (30.2741, 120.1551)
    assert (placed["handling_area_path"], placed["handling_level"]) == (COMMUNITY1, "community")
    assert "locate" in placed["allowed_actions"]
    after = await deadlines(api, case["id"])
    resolve = after["resolve"]
    assert (resolve["handling_level"], resolve["amount"]) == ("community", 9)
    assert resolve["started_at"] == before["resolve"]["started_at"]  # counted from acceptance
    assert datetime.fromisoformat(resolve["due_at"]) > datetime.fromisoformat(
        before["resolve"]["due_at"]
    )
    entry = (await timeline(api, case["id"]))[-1]
    assert (entry["kind"], entry["action"]) == ("location", "locate")
    assert entry["reason"] == "来电人确认：学院路口东侧"
    assert entry["data"]["from"]["area_path"] == STREET1
    assert entry["data"]["from"]["location_status"] == "to_locate"
    assert entry["data"]["to"]["area_path"] == GRID_A
    assert entry["visibility"] == "internal"
    # no longer in the "to place" list
    to_place = (await api.get(DISPATCHER_S1, "/api/v1/cases", location_status="to_locate")).json()
    assert to_place["items"] == []


async def test_locate_by_address_id(api: Api) -> None:
    case = await api.report(DISPATCHER_D, **hotline(location={"address": "保俶路100号"}))
    assert case["location_status"] == "to_locate"
    placed = (
        await api.act(
            DISPATCHER_D,
            case["id"],
            "locate",
            address_id=str(LINGYIN_8),
            reason="核对为灵隐路8号",
        )
    ).json()
    assert (placed["area"]["path"], placed["location_status"]) == (GRID_D, "located")
    assert placed["location"]["address_id"] == str(LINGYIN_8)
    assert placed["handling_area_path"] == COMMUNITY3
    events = [e["data"] for e in await timeline(api, case["id"]) if e["action"] == "locate"]
    assert events[0]["address_id"] == str(LINGYIN_8)


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"lat": 30.27, "lng": 120.15}, 422, "validation_failed", "reason"),
        ({"reason": "x"}, 422, "validation_failed", "body"),
        ({"lat": 30.27, "reason": "x"}, 422, "validation_failed", "body"),
        (
            {"lat": 30.27, "lng": 120.15, "address_id": str(BAOSHI_12), "reason": "x"},
            422,
            "validation_failed",
            "body",
        ),
        ({"lat": 30.27, "lng": 120.15, "reason": "x", "colour": "red"}, 422, None, "colour"),
        ({"lat": 45.0, "lng": 120.15, "reason": "x"}, 422, "outside_jurisdiction", "location"),
        (
            {"address_id": "6b0c6f3e-3f55-4e55-9a43-1a1f4b8f0a11", "reason": "x"},
            422,
            "unknown_address",
            "address_id",
        ),
        ({"lat": 33.5, "lng": 120.15, "reason": "x"}, 422, "location_outside_your_areas", "lat"),
        (
            {"address_id": str(LINGYIN_8), "reason": "x"},
            422,
            "location_outside_your_areas",
            "address_id",
        ),
    ],
)
async def test_bad_locate_bodies(
    api: Api, body: dict[str, Any], status: int, code: str | None, field: str
) -> None:
    case = await api.report(DISPATCHER_S1, **hotline(location={"address": "文三路90号"}))
    r = await api.client.post(
        f"/api/v1/cases/{case['id']}/actions/locate", json=body, headers=api.headers(DISPATCHER_S1)
    )
    assert r.status_code == status, r.text
    problem = r.json()
    if code:
        assert problem["code"] == code
    assert field in [e["field"] for e in problem["errors"]], problem
    again = (await api.get(ADMIN, f"/api/v1/cases/{case['id']}")).json()
    assert (again["version"], again["location_status"]) == (1, "to_locate")  # nothing written


async def test_who_may_locate_and_when(api: Api, fake_grid: FakeGrid) -> None:
    case = await api.report(DISPATCHER_S1, **hotline(location={"address": "文三路90号"}))
    point = {"lat": 30.2741, "lng": 120.1551, "reason": "核实"}
    url = f"/api/v1/cases/{case['id']}/actions/locate"
    calls = len(fake_grid.calls)
    # a resident's role never locates (403 whatever the body); a dispatcher of the community
    # below does not see a street's case (404)
    r = await api.client.post(url, json={}, headers=api.headers(RESIDENT))
    assert (r.status_code, r.json()["code"]) == (403, "action_not_permitted")
    assert r.json()["detail"] == "您的角色不能执行 locate"
    r = await api.client.post(url, json=point, headers=api.headers(DISPATCHER_C1))
    assert r.status_code == 404  # a street case is out of the community's sight
    # stale version
    r = await api.client.post(
        url, json=point, headers={**api.headers(DISPATCHER_S1), "If-Match": '"7"'}
    )
    assert (r.status_code, r.json()["code"]) == (412, "version_mismatch")
    assert len(fake_grid.calls) == calls  # refused before grid_service was asked
    await api.act(DISPATCHER_S1, case["id"], "void", reason="重复来电")
    r = await api.client.post(url, json=point, headers=api.headers(DISPATCHER_S1))
    assert (r.status_code, r.json()["code"]) == (409, "illegal_transition")
    assert "locate" not in r.json()["allowed_actions"]
    r = await api.client.post(
        url, json=point, headers={**api.headers(DISPATCHER_S1), "Accept-Language": "en"}
    )
    assert r.json()["detail"] == "locate is not possible while the case is voided"


async def test_the_api_documents_location_and_locate(api: Api) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    locate = spec["paths"]["/api/v1/cases/{case_id}/actions/locate"]["post"]
    assert locate["summary"]
    assert "to_locate" in locate["description"]
    assert {"404", "409", "412", "422"} <= set(locate["responses"])
    schemas = spec["components"]["schemas"]
    assert schemas["LocateRequest"]["examples"]
    assert "reason" in schemas["LocateRequest"]["required"]
    assert "to_locate" in schemas["CaseRead"]["properties"]["location_status"]["description"]
    assert "location_status" in schemas["CaseSummary"]["properties"]
