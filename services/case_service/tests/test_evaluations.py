"""Evaluation (评价), reopen requests (差评整改) and return visits (回访)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from conftest import (
    ADMIN,
    DISPATCHER_C1,
    DISPATCHER_C2,
    DISPATCHER_S2,
    RESIDENT,
    RESIDENT2,
    WORKER_A,
    Api,
    Person,
)

GOOD = {"satisfaction": "satisfied", "attitude_score": 5, "speed_score": 4, "result_score": 5}
BAD = {"satisfaction": "dissatisfied", "attitude_score": 2, "speed_score": 1, "result_score": 1}


async def close(api: Api, case_id: str, *, first: bool = True) -> dict[str, Any]:
    """Accept (first time), dispatch to worker A, claim, resolve, verify."""
    if first:
        await api.act(DISPATCHER_C1, case_id, "accept")
    await api.act(DISPATCHER_C1, case_id, "dispatch", assignees=[{"account_id": WORKER_A.sub}])
    await api.act(WORKER_A, case_id, "claim")
    await api.act(WORKER_A, case_id, "resolve", result="已更换井盖")
    r = await api.act(DISPATCHER_C1, case_id, "verify")
    return dict(r.json())


async def closed_case(api: Api, who: Person = RESIDENT, **report: Any) -> dict[str, Any]:
    case = await api.report(who, **report)
    return await close(api, case["id"])


async def rate(api: Api, who: Person, case_id: str, body: dict[str, Any]) -> Any:
    return await api.client.post(
        f"/api/v1/cases/{case_id}/evaluations", json=body, headers=api.headers(who)
    )


async def timeline(api: Api, case_id: str, who: Person = ADMIN) -> list[dict[str, Any]]:
    return list((await api.get(who, f"/api/v1/cases/{case_id}/timeline")).json())


def sessionmaker(api: Api) -> Any:
    return api.client._transport.app.state.sessionmaker  # type: ignore[attr-defined]


def settings(api: Api) -> Any:
    return api.client._transport.app.state.settings  # type: ignore[attr-defined]


async def age_closure(api: Api, case_id: str, days: int) -> None:
    async with sessionmaker(api)() as s, s.begin():
        await s.execute(
            sa.text(
                'UPDATE "case" SET closed_at = closed_at - make_interval(days => :d) WHERE id = :id'
            ),
            {"d": days, "id": case_id},
        )


async def test_reporter_rates_a_closed_case_once(api: Api) -> None:
    case = await closed_case(api)
    cid = case["id"]
    r = await rate(api, RESIDENT, cid, {**GOOD, "comment": "当天就修好了"})
    assert r.status_code == 201, r.text
    ev = r.json()
    assert (ev["satisfaction"], ev["attitude_score"], ev["speed_score"], ev["result_score"]) == (
        "satisfied",
        5,
        4,
        5,
    )
    assert ev["on_behalf"] is False
    assert ev["closed_at"] == case["closed_at"]
    after = (await api.get(RESIDENT, f"/api/v1/cases/{cid}")).json()
    assert after["rating"] == 5  # round((5 + 4 + 5) / 3)
    entry = (await timeline(api, cid, RESIDENT))[-1]
    assert (entry["kind"], entry["action"], entry["reason"]) == ("rating", "rate", "当天就修好了")
    assert entry["data"]["satisfaction"] == "satisfied"

    again = await rate(api, RESIDENT, cid, GOOD)
    assert again.status_code == 409
    assert again.json()["code"] == "already_rated"
    # the lifecycle's rate action follows the same rule
    r = await api.act(RESIDENT, cid, "rate", rating=3, expect=409)
    assert r.json()["code"] == "already_rated"
    listed = (await api.get(RESIDENT, f"/api/v1/cases/{cid}/evaluations")).json()
    assert [e["id"] for e in listed] == [ev["id"]]


async def test_rating_refusals(api: Api) -> None:
    open_case = await api.report()
    r = await rate(api, RESIDENT, open_case["id"], GOOD)
    assert r.status_code == 409
    assert r.json()["code"] == "case_not_closed"

    case = await closed_case(api)
    cid = case["id"]
    r = await rate(api, RESIDENT, cid, {**GOOD, "speed_score": 6})
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["speed_score"]
    r = await rate(api, RESIDENT, cid, {**GOOD, "satisfaction": "very"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "satisfaction"
    r = await rate(api, DISPATCHER_C1, cid, GOOD)
    assert r.status_code == 403
    assert r.json()["code"] == "not_the_reporter"
    r = await rate(api, RESIDENT2, cid, GOOD)
    assert r.status_code == 404  # not theirs: indistinguishable from absent

    await age_closure(api, cid, 8)  # the window is 7 days
    r = await rate(api, RESIDENT, cid, GOOD)
    assert r.status_code == 409
    assert r.json()["code"] == "rating_window_passed"
    r = await api.act(RESIDENT, cid, "rate", rating=5, expect=409)
    assert r.json()["code"] == "rating_window_passed"
    async with sessionmaker(api)() as s:
        count = (await s.execute(sa.text("SELECT count(*) FROM evaluation"))).scalar_one()
    assert count == 0


async def test_rate_action_records_an_evaluation(api: Api) -> None:
    case = await closed_case(api)
    await api.act(RESIDENT, case["id"], "rate", rating=2, reason="太慢了")
    [ev] = (await api.get(RESIDENT, f"/api/v1/cases/{case['id']}/evaluations")).json()
    assert (ev["satisfaction"], ev["attitude_score"], ev["comment"]) == (
        "dissatisfied",
        2,
        "太慢了",
    )


async def test_reopen_request_granted_and_the_new_closure_rated_again(api: Api) -> None:
    case = await closed_case(api)
    cid = case["id"]
    r = await api.client.post(
        f"/api/v1/cases/{cid}/reopen-requests",
        json={"reason": "还是坏的"},
        headers=api.headers(RESIDENT),
    )
    assert r.status_code == 409
    assert r.json()["code"] == "not_dissatisfied"  # rate it first

    assert (await rate(api, RESIDENT, cid, BAD)).status_code == 201
    r = await api.client.post(
        f"/api/v1/cases/{cid}/reopen-requests",
        json={"reason": "还是坏的"},
        headers=api.headers(RESIDENT),
    )
    assert r.status_code == 201, r.text
    request = r.json()
    assert request["status"] == "pending"
    again = await api.client.post(
        f"/api/v1/cases/{cid}/reopen-requests",
        json={"reason": "再问"},
        headers=api.headers(RESIDENT),
    )
    assert again.json()["code"] == "reopen_already_requested"

    pending = (await api.get(DISPATCHER_C1, "/api/v1/reopen-requests", status="pending")).json()
    assert [p["id"] for p in pending["items"]] == [request["id"]]
    assert (await api.get(DISPATCHER_S2, "/api/v1/reopen-requests")).json()["items"] == []

    url = f"/api/v1/reopen-requests/{request['id']}/decision"
    body = {"decision": "reopen", "explanation": "派人复查"}
    r = await api.client.post(url, json=body, headers=api.headers(RESIDENT))
    assert r.status_code in (403, 404)
    r = await api.client.post(
        url, json={"decision": "maybe", "explanation": "x"}, headers=api.headers(DISPATCHER_C1)
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "decision"
    r = await api.client.post(url, json=body, headers=api.headers(DISPATCHER_C1))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "reopened"
    assert (await api.get(RESIDENT, f"/api/v1/cases/{cid}")).json()["status"] == "reopened"
    r = await api.client.post(url, json=body, headers=api.headers(DISPATCHER_C1))
    assert r.json()["code"] == "reopen_request_decided"
    mine = await timeline(api, cid, RESIDENT)
    kinds = [(e["kind"], e["action"]) for e in mine][-4:]
    assert kinds == [
        ("rating", "rate"),
        ("reopen_request", "request_reopen"),
        ("transition", "reopen"),
        ("reopen_decision", "reopen"),
    ]
    assert mine[-1]["reason"] == "派人复查"

    # handled again and closed again: a new closure, rated again
    await close(api, cid, first=False)
    r = await rate(api, RESIDENT, cid, GOOD)
    assert r.status_code == 201, r.text
    listed = (await api.get(RESIDENT, f"/api/v1/cases/{cid}/evaluations")).json()
    assert [e["satisfaction"] for e in listed] == ["dissatisfied", "satisfied"]


async def test_reopen_request_kept_closed_with_an_explanation(api: Api) -> None:
    case = await closed_case(api)
    cid = case["id"]
    await rate(api, RESIDENT, cid, BAD)
    r = await api.client.post(
        f"/api/v1/cases/{cid}/reopen-requests",
        json={"reason": "不满意"},
        headers=api.headers(RESIDENT),
    )
    request = r.json()
    url = f"/api/v1/reopen-requests/{request['id']}/decision"
    r = await api.client.post(
        url, json={"decision": "keep_closed"}, headers=api.headers(DISPATCHER_C1)
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "explanation"
    r = await api.client.post(
        url,
        json={"decision": "keep_closed", "explanation": "x"},
        headers=api.headers(DISPATCHER_C2),
    )
    assert r.status_code == 404  # another community's dispatcher
    r = await api.client.post(
        url,
        json={"decision": "keep_closed", "explanation": "井盖属燃气公司，已转告"},
        headers=api.headers(DISPATCHER_C1),
    )
    assert r.status_code == 200
    assert (r.json()["status"], r.json()["explanation"]) == (
        "kept_closed",
        "井盖属燃气公司，已转告",
    )
    assert (await api.get(RESIDENT, f"/api/v1/cases/{cid}")).json()["status"] == "closed"
    last = (await timeline(api, cid, RESIDENT))[-1]
    assert (last["kind"], last["action"], last["reason"]) == (
        "reopen_decision",
        "keep_closed",
        "井盖属燃气公司，已转告",
    )


async def test_reopen_request_after_the_window(api: Api) -> None:
    case = await closed_case(api)
    await rate(api, RESIDENT, case["id"], BAD)
    await age_closure(api, case["id"], 8)
    r = await api.client.post(
        f"/api/v1/cases/{case['id']}/reopen-requests",
        json={"reason": "x"},
        headers=api.headers(RESIDENT),
    )
    assert r.status_code == 409
    assert r.json()["code"] == "reopen_request_window_passed"


HOTLINE = {"channel": "hotline", "reporter": {"name": "李大爷", "phone": "13900001111"}}


async def test_return_visits_for_hotline_reporters(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings(api), "return_visit_share", 0.0)
    skipped = await closed_case(api, DISPATCHER_C1, **HOTLINE)
    monkeypatch.setattr(settings(api), "return_visit_share", 1.0)
    visited = await closed_case(api, DISPATCHER_C1, **HOTLINE)
    app_user = await closed_case(api)  # came through the mini-program: rates in the app

    r = await api.get(DISPATCHER_C1, "/api/v1/return-visits", status="pending")
    items = r.json()["items"]
    assert [(v["case_id"], v["reason"]) for v in items] == [(visited["id"], "sampled")]
    assert visited["id"] not in {skipped["id"], app_user["id"]}
    assert (await api.get(DISPATCHER_S2, "/api/v1/return-visits")).json()["items"] == []
    r = await api.get(RESIDENT, "/api/v1/return-visits")
    assert r.status_code == 403

    url = f"/api/v1/return-visits/{items[0]['id']}/outcome"
    r = await api.client.post(
        url, json={"reached": True, "satisfaction": "satisfied"}, headers=api.headers(DISPATCHER_C1)
    )
    assert r.status_code == 422
    assert sorted(e["field"] for e in r.json()["errors"]) == [
        "attitude_score",
        "result_score",
        "speed_score",
    ]
    r = await api.client.post(
        url, json={"reached": True, "note": "接通"}, headers=api.headers(DISPATCHER_C1)
    )
    assert r.status_code == 422
    assert r.json()["code"] == "rating_required"
    r = await api.client.post(
        url,
        json={"reached": True, **GOOD, "speed_score": 3, "note": "来电人表示满意"},
        headers=api.headers(DISPATCHER_C1),
    )
    assert r.status_code == 200, r.text
    visit = r.json()
    assert (visit["status"], visit["note"], visit["completed_by"]) == (
        "done",
        "来电人表示满意",
        DISPATCHER_C1.sub,
    )
    [ev] = (await api.get(DISPATCHER_C1, f"/api/v1/cases/{visited['id']}/evaluations")).json()
    assert (ev["on_behalf"], ev["return_visit_id"], ev["speed_score"]) == (True, visit["id"], 3)
    r = await api.client.post(url, json={"reached": False}, headers=api.headers(DISPATCHER_C1))
    assert r.json()["code"] == "return_visit_completed"
    entry = (await timeline(api, visited["id"]))[-1]
    assert (entry["kind"], entry["data"]["on_behalf"]) == ("rating", True)


async def test_every_dissatisfied_rating_gets_a_return_visit(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings(api), "return_visit_share", 0.0)
    case = await closed_case(api)
    await rate(api, RESIDENT, case["id"], BAD)
    [visit] = (await api.get(DISPATCHER_C1, "/api/v1/return-visits")).json()["items"]
    assert (visit["case_id"], visit["reason"]) == (case["id"], "dissatisfied")
    url = f"/api/v1/return-visits/{visit['id']}/outcome"
    r = await api.client.post(
        url, json={"reached": True, **GOOD}, headers=api.headers(DISPATCHER_C1)
    )
    assert r.status_code == 409
    assert r.json()["code"] == "already_rated"  # the reporter's own rating stands
    r = await api.client.post(
        url, json={"reached": True, "note": "解释了处理情况"}, headers=api.headers(DISPATCHER_C1)
    )
    assert r.status_code == 200
    assert r.json()["status"] == "done"
    r2 = await api.client.post(
        "/api/v1/return-visits/00000000-0000-0000-0000-000000000000/outcome",
        json={"reached": False},
        headers=api.headers(DISPATCHER_C1),
    )
    assert r2.status_code == 404


async def test_closing_asks_the_reporter_to_rate(api: Api) -> None:
    from datetime import datetime, timedelta

    from case_service.outbox.models import OutboxEvent

    case = await closed_case(api)
    async with sessionmaker(api)() as s:
        event = (
            await s.execute(
                sa.select(OutboxEvent).where(
                    OutboxEvent.case_id == case["id"],  # type: ignore[arg-type]
                    OutboxEvent.type == "case.closed",  # type: ignore[arg-type]
                )
            )
        ).scalar_one()
    assert event.payload["rating_page"] == f"pages/case/rate?case_id={case['id']}"
    closed_at = datetime.fromisoformat(case["closed_at"])
    assert datetime.fromisoformat(event.payload["rating_due_at"]) == closed_at + timedelta(days=7)
