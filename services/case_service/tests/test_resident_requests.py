"""What a resident may set and see (issue 21, findings 2 and 4).

* Unknown fields of a report or an action are refused (422 naming each one), nothing written.
* A resident's (or platform's) ``priority`` and ``major`` are a request: the case keeps the
  category's default and alerts no one; the dispatcher decides at accept.
* A resident learns of other people's similar reports by count only and may support (附议) the
  earliest one, once per account.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import (
    ADMIN,
    DISPATCHER_C1,
    PLATFORM,
    RESIDENT,
    RESIDENT2,
    WORKER_A,
    Api,
    Person,
)
from test_lifecycle import api_sessionmaker

RESIDENT3 = Person("res-3", ("resident",))


async def rows(api: Api, sql: str, **params: Any) -> list[Any]:
    async with api_sessionmaker(api)() as session:
        return list((await session.execute(sa.text(sql), params)).all())


async def count(api: Api, table: str) -> int:
    async with api_sessionmaker(api)() as session:
        query = sa.select(sa.func.count()).select_from(sa.table(table))
        return int((await session.execute(query)).scalar_one())


async def deadline(api: Api, case_id: str, kind: str) -> tuple[float, str, str]:
    found = await rows(
        api,
        "SELECT amount, unit, status FROM case_deadline WHERE case_id = :id AND kind = :kind "
        "ORDER BY started_at DESC LIMIT 1",
        id=case_id,
        kind=kind,
    )
    return (float(found[0].amount), found[0].unit, found[0].status)


async def event_types(api: Api, case_id: str) -> list[str]:
    found = await rows(
        api, "SELECT type FROM outbox_event WHERE case_id = :id ORDER BY created_at", id=case_id
    )
    return [r.type for r in found]


# ------------------------------------------------------------------ priority and major


async def test_a_residents_urgency_and_major_are_a_request(api: Api) -> None:
    case = await api.report(RESIDENT, priority="urgent", major=True)
    # 0802 井盖缺失 is a high-priority report by default; nothing the resident asked is applied
    assert case["priority"] == "high"
    assert case["major"] is False
    assert case["requested_priority"] == "urgent"
    assert case["requested_major"] is True
    # the acceptance clock is the category's (2 working hours), not urgent's 30 minutes
    assert await deadline(api, case["id"], "accept") == (2.0, "working_hours", "open")
    # no major-incident alert goes to the dispatchers and supervisors above
    types = await event_types(api, case["id"])
    assert "case.major_incident" not in types
    payloads = await rows(
        api, "SELECT payload FROM outbox_event WHERE case_id = :id", id=case["id"]
    )
    assert all(p.payload["major"] is False for p in payloads)
    assert all(p.payload["priority"] == "high" for p in payloads)
    # the dispatcher sees the request, on the case and in the queue
    read = (await api.get(DISPATCHER_C1, f"/api/v1/cases/{case['id']}")).json()
    assert (read["requested_priority"], read["requested_major"]) == ("urgent", True)
    queue = (await api.get(DISPATCHER_C1, "/api/v1/cases", status="reported")).json()["items"]
    assert [(c["requested_priority"], c["requested_major"]) for c in queue] == [("urgent", True)]
    # the report on the timeline records what was asked
    timeline = (await api.get(DISPATCHER_C1, f"/api/v1/cases/{case['id']}/timeline")).json()
    assert timeline[0]["data"]["requested_priority"] == "urgent"
    assert timeline[0]["data"]["requested_major"] is True


async def test_the_dispatcher_decides_at_accept(api: Api) -> None:
    case = await api.report(RESIDENT, priority="urgent", major=True)
    r = await api.act(
        DISPATCHER_C1, case["id"], "accept", priority="urgent", major=True, reason="燃气味，升级"
    )
    accepted = r.json()
    assert (accepted["priority"], accepted["major"]) == ("urgent", True)
    # the limits that follow acceptance run under urgent (12345: dispatch 1 h, answer 24 h)
    assert await deadline(api, case["id"], "dispatch") == (1.0, "calendar_hours", "open")
    assert await deadline(api, case["id"], "resolve") == (24.0, "calendar_hours", "open")
    assert await deadline(api, case["id"], "first_response") == (2.0, "calendar_hours", "open")
    # the decision is on the timeline
    timeline = (await api.get(DISPATCHER_C1, f"/api/v1/cases/{case['id']}/timeline")).json()
    entry = next(e for e in timeline if e["action"] == "accept")
    assert entry["data"]["priority"] == {"from": "high", "to": "urgent"}
    assert entry["data"]["major"] == {"from": False, "to": True}
    assert entry["data"]["requested_priority"] == "urgent"
    # now, and only now, the levels above are told
    types = await event_types(api, case["id"])
    assert types.count("case.major_incident") == 1
    assert types.index("case.major_incident") > types.index("case.accepted")


async def test_accept_keeps_priority_and_major_by_default(api: Api) -> None:
    case = await api.report(RESIDENT, priority="urgent", major=True)
    accepted = (await api.act(DISPATCHER_C1, case["id"], "accept")).json()
    assert (accepted["priority"], accepted["major"]) == ("high", False)
    assert await deadline(api, case["id"], "dispatch") == (4.0, "working_hours", "open")
    assert "case.major_incident" not in await event_types(api, case["id"])
    # priority and major are decided at accept, with no other action
    r = await api.act(
        DISPATCHER_C1,
        case["id"],
        "dispatch",
        expect=422,
        assignees=[{"account_id": WORKER_A.sub}],
        major=True,
    )
    assert r.json()["code"] == "only_at_accept"
    assert r.json()["errors"][0]["field"] == "major"
    read = (await api.get(DISPATCHER_C1, f"/api/v1/cases/{case['id']}")).json()
    assert (read["status"], read["major"]) == ("accepted", False)


async def test_staff_set_priority_and_major_when_filing(api: Api) -> None:
    case = await api.report(DISPATCHER_C1, channel="hotline", priority="urgent", major=True)
    assert (case["priority"], case["major"]) == ("urgent", True)
    assert (case["requested_priority"], case["requested_major"]) == (None, False)
    assert await deadline(api, case["id"], "accept") == (0.5, "calendar_hours", "open")
    assert "case.major_incident" in await event_types(api, case["id"])


async def test_a_platforms_work_order_urgency_is_a_request(api: Api) -> None:
    r = await api.client.put(
        f"/api/v1/work-orders/category-mappings/{PLATFORM.cid}/SZ-0301",
        json={"category_code": "0802"},
        headers=api.headers(ADMIN),
    )
    assert r.status_code == 200, r.text
    order = {
        "order_id": "HZ-URG-1",
        "category_code": "SZ-0301",
        "description": "市民来电：井盖缺失",
        "location": {"lat": 30.2741, "lng": 120.1551},
        "priority": "urgent",
        "major": True,
    }
    bad = await api.client.post(
        "/api/v1/work-orders", json={**order, "status": "accepted"}, headers=api.headers(PLATFORM)
    )
    assert bad.status_code == 422, bad.text
    assert [e["field"] for e in bad.json()["errors"]] == ["status"]
    assert await count(api, "case") == 0
    r = await api.client.post("/api/v1/work-orders", json=order, headers=api.headers(PLATFORM))
    assert r.status_code == 201, r.text
    read = (await api.get(DISPATCHER_C1, f"/api/v1/cases/{r.json()['case_id']}")).json()
    assert (read["priority"], read["major"]) == ("high", False)
    assert (read["requested_priority"], read["requested_major"]) == ("urgent", True)
    assert "case.major_incident" not in await event_types(api, read["id"])


# ------------------------------------------------------------------ unknown fields


async def test_unknown_fields_are_refused_by_name_and_nothing_is_written(api: Api) -> None:
    r = await api.client.post(
        "/api/v1/cases",
        json={
            "category_code": "0802",
            "channel": "mini_program",
            "description": "井盖缺失",
            "location": {"lat": 30.2741, "lng": 120.1551, "floor": 3},
            "status": "closed",
            "area_id": "7b4c1a52-0000-0000-0000-000000000000",
            "reporter_account_id": "someone-else",
        },
        headers=api.headers(RESIDENT),
    )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["code"] == "validation_failed"
    errors = {e["field"]: e for e in body["errors"]}
    assert set(errors) == {"status", "area_id", "reporter_account_id", "location.floor"}
    assert {e["type"] for e in errors.values()} == {"extra_forbidden"}
    assert errors["status"]["reason"] == "不允许的字段"
    assert "area_id" in body["detail"]
    assert "reporter_account_id" in body["detail"]
    assert await count(api, "case") == 0
    assert await count(api, "outbox_event") == 0
    # in English on request
    r = await api.client.post(
        "/api/v1/cases",
        json={
            "category_code": "0802",
            "channel": "mini_program",
            "description": "井盖缺失",
            "location": {"lat": 30.2741, "lng": 120.1551},
            "status": "closed",
        },
        headers=api.headers(RESIDENT, **{"Accept-Language": "en"}),
    )
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {"field": "status", "reason": "Extra inputs are not permitted", "type": "extra_forbidden"}
    ]
    assert await count(api, "case") == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"reason": "x", "status": "closed"}, "status"),
        ({"assignees": [{"account_id": "w", "role": "lead", "due": 1}]}, "assignees.0.due"),
    ],
)
async def test_unknown_action_fields_are_refused(
    api: Api, body: dict[str, Any], field: str
) -> None:
    case = await api.report(RESIDENT)
    r = await api.act(DISPATCHER_C1, case["id"], "accept", expect=422, **body)
    assert [e["field"] for e in r.json()["errors"]] == [field]
    read = (await api.get(DISPATCHER_C1, f"/api/v1/cases/{case['id']}")).json()
    assert (read["status"], read["version"]) == ("reported", 1)


async def test_unknown_comment_fields_are_refused(api: Api) -> None:
    case = await api.report(RESIDENT)
    r = await api.client.post(
        f"/api/v1/cases/{case['id']}/comments",
        json={"body": "请尽快处理", "actor_id": "disp-c1"},
        headers=api.headers(RESIDENT),
    )
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["actor_id"]


# ------------------------------------------------------------------ duplicates and support


A_TITLE = "甲家门口的井盖没了"
A_DESCRIPTION = "文三路 90 号门口井盖缺失，甲先生反映"


async def test_a_resident_sees_no_other_residents_case(api: Api) -> None:
    a = await api.report(
        RESIDENT,
        title=A_TITLE,
        description=A_DESCRIPTION,
        location={"lat": 30.2741, "lng": 120.1551},
    )
    # ~20 m away, same category
    b = await api.report(RESIDENT2, location={"lat": 30.27425, "lng": 120.15520})
    assert b["possible_duplicates"] == []
    assert b["similar_nearby"] == {
        "count": 1,
        "support_count": 0,
        "supported": False,
        "support_url": f"/api/v1/cases/{b['id']}/similar/support",
    }
    text = json.dumps(b, ensure_ascii=False)
    for secret in (a["id"], a["case_number"], A_TITLE, A_DESCRIPTION, RESIDENT.sub):
        assert secret not in text
    # the duplicates list of B's case shows B nothing of A's either
    r = await api.get(RESIDENT2, f"/api/v1/cases/{b['id']}/duplicates")
    assert r.status_code == 200
    assert r.json() == []
    similar = (await api.get(RESIDENT2, f"/api/v1/cases/{b['id']}/similar")).json()
    assert similar["count"] == 1
    assert a["id"] not in json.dumps(similar)
    # staff see the merge candidates in full
    staff = await api.report(
        DISPATCHER_C1, channel="hotline", location={"lat": 30.2742, "lng": 120.1551}
    )
    assert {d["id"] for d in staff["possible_duplicates"]} == {a["id"], b["id"]}
    assert staff["similar_nearby"] is None
    listed = (await api.get(DISPATCHER_C1, f"/api/v1/cases/{b['id']}/duplicates")).json()
    assert {d["id"] for d in listed} == {a["id"], staff["id"]}


async def test_a_resident_supports_the_similar_report_once(api: Api) -> None:
    a = await api.report(RESIDENT, title=A_TITLE)
    b = await api.report(RESIDENT2, location={"lat": 30.27425, "lng": 120.15520})
    url = b["similar_nearby"]["support_url"]
    r = await api.client.post(url, headers=api.headers(RESIDENT2))
    assert r.status_code == 201, r.text
    assert r.json() == {"added": True, "support_count": 1, "supported": True}
    assert a["id"] not in r.text
    # twice is still one
    r = await api.client.post(url, headers=api.headers(RESIDENT2))
    assert r.status_code == 200
    assert r.json() == {"added": False, "support_count": 1, "supported": True}
    assert await count(api, "case_support") == 1
    # staff see the count on the case; supporting is no change of the case (version kept)
    read = (await api.get(DISPATCHER_C1, f"/api/v1/cases/{a['id']}")).json()
    assert (read["support_count"], read["version"]) == (1, 1)
    similar = (await api.get(RESIDENT2, f"/api/v1/cases/{b['id']}/similar")).json()
    assert (similar["support_count"], similar["supported"]) == (1, True)
    # a third resident's report nearby shows the count and adds to it
    c = await api.report(RESIDENT3, location={"lat": 30.27415, "lng": 120.15515})
    assert c["similar_nearby"]["count"] == 2  # A's and B's reports
    assert c["similar_nearby"]["support_count"] == 1  # A's, the earliest
    r = await api.client.post(c["similar_nearby"]["support_url"], headers=api.headers(RESIDENT3))
    assert r.json()["support_count"] == 2
    read = (await api.get(DISPATCHER_C1, f"/api/v1/cases/{a['id']}")).json()
    assert read["support_count"] == 2


async def test_support_is_bola_safe(api: Api) -> None:
    a = await api.report(RESIDENT)
    b = await api.report(RESIDENT2, location={"lat": 30.27425, "lng": 120.15520})
    # through another resident's case (A's own id, or B's): as if it did not exist
    for case_id in (a["id"], b["id"]):
        r = await api.client.post(
            f"/api/v1/cases/{case_id}/similar/support", headers=api.headers(RESIDENT3)
        )
        assert r.status_code == 404
        assert r.json()["code"] == "case_not_found"
        r = await api.get(RESIDENT3, f"/api/v1/cases/{case_id}/similar")
        assert r.status_code == 404
    # staff do not "support"
    r = await api.client.post(
        f"/api/v1/cases/{b['id']}/similar/support", headers=api.headers(DISPATCHER_C1)
    )
    assert r.status_code == 403
    assert r.json()["code"] == "support_residents_only"
    # nothing similar near the case: nothing to support
    far = await api.report(RESIDENT3, location={"lat": 30.2800, "lng": 120.1551})
    assert far["similar_nearby"] is None
    r = await api.client.post(
        f"/api/v1/cases/{far['id']}/similar/support", headers=api.headers(RESIDENT3)
    )
    assert r.status_code == 404
    assert r.json()["code"] == "no_similar_case"
    assert await count(api, "case_support") == 0


async def test_anonymous_reports_are_not_pointed_to(api: Api) -> None:
    await api.report(RESIDENT, reporter={"anonymous": True})
    b = await api.report(RESIDENT2, location={"lat": 30.27425, "lng": 120.15520})
    assert b["possible_duplicates"] == []
    assert b["similar_nearby"] is None


async def test_sensitive_categories_are_not_pointed_to(api: Api) -> None:
    # 0101 邻里纠纷 is closed to the public feed: a neighbour dispute reported nearby is not
    # even counted for another resident; staff still see it as a merge candidate
    a = await api.report(RESIDENT, category_code="0101", description="楼上深夜噪音，多次协商未果")
    b = await api.report(
        RESIDENT2,
        category_code="0101",
        description="楼上噪音扰民",
        location={"lat": 30.27425, "lng": 120.15520},
    )
    assert b["possible_duplicates"] == []
    assert b["similar_nearby"] is None
    r = await api.client.post(
        f"/api/v1/cases/{b['id']}/similar/support", headers=api.headers(RESIDENT2)
    )
    assert r.status_code == 404
    assert r.json()["code"] == "no_similar_case"
    listed = (await api.get(DISPATCHER_C1, f"/api/v1/cases/{b['id']}/duplicates")).json()
    assert [d["id"] for d in listed] == [a["id"]]
