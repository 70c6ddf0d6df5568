"""The lifecycle: every legal transition, illegal ones, whole lives, joint cases, concurrency."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import (
    ADMIN,
    COMMUNITY1,
    DISPATCHER_C1,
    DISPATCHER_S1,
    HOUSING,
    RESIDENT,
    RESIDENT2,
    ROADS,
    STREET1,
    URBAN,
    WORKER_A,
    Api,
    Person,
)

from case_service.cases.lifecycle import EVENT_TYPES, TRANSITIONS, Action, Status

# How to bring a fresh case (in grid A, reported by RESIDENT) to each status.
PATHS: dict[Status, list[tuple[Person, str, dict[str, Any]]]] = {
    Status.reported: [],
    Status.accepted: [(DISPATCHER_C1, "accept", {})],
    Status.dispatched: [
        (DISPATCHER_C1, "accept", {}),
        (DISPATCHER_C1, "dispatch", {"assignees": [{"account_id": WORKER_A.sub}]}),
    ],
}
PATHS[Status.in_progress] = [*PATHS[Status.dispatched], (WORKER_A, "claim", {})]
PATHS[Status.returned] = [*PATHS[Status.dispatched], (WORKER_A, "return", {"reason": "不归我管"})]
PATHS[Status.resolved] = [*PATHS[Status.in_progress], (WORKER_A, "resolve", {"result": "已修复"})]
PATHS[Status.escalated] = [
    *PATHS[Status.in_progress],
    (WORKER_A, "escalate", {"reason": "需要街道协调"}),
]
PATHS[Status.closed] = [*PATHS[Status.resolved], (DISPATCHER_C1, "verify", {})]
PATHS[Status.suspended] = [*PATHS[Status.accepted], (DISPATCHER_C1, "suspend", {"reason": "待查"})]
PATHS[Status.reopened] = [
    *PATHS[Status.closed],
    (DISPATCHER_C1, "reopen", {"reason": "井盖又坏了"}),
]

# Who takes each action (by the status it starts from, where it matters) and with what body.
ACTORS: dict[Action, tuple[Person, dict[str, Any]]] = {
    Action.accept: (DISPATCHER_C1, {}),
    Action.reject: (DISPATCHER_C1, {"reason": "重复诉求"}),
    Action.void: (DISPATCHER_C1, {"reason": "误报"}),
    Action.dispatch: (DISPATCHER_C1, {"assignees": [{"account_id": WORKER_A.sub}]}),
    Action.reassign: (DISPATCHER_C1, {"assignees": [{"department_id": "dept-urban"}]}),
    Action.claim: (WORKER_A, {}),
    Action.return_: (WORKER_A, {"reason": "派错了"}),
    Action.resolve: (WORKER_A, {"result": "已处理"}),
    Action.escalate: (WORKER_A, {"reason": "超出能力"}),
    Action.verify: (DISPATCHER_C1, {}),
    Action.rework: (DISPATCHER_C1, {"reason": "没修好"}),
    Action.suspend: (DISPATCHER_C1, {"reason": "等待天气"}),
    Action.resume: (DISPATCHER_C1, {}),
    Action.reopen: (DISPATCHER_C1, {"reason": "群众来电反映未修好"}),
    Action.rate: (RESIDENT, {"rating": 5, "reason": "满意"}),
    Action.merge: (DISPATCHER_C1, {}),
    Action.locate: (DISPATCHER_C1, {"lat": 30.2745, "lng": 120.1556, "reason": "现场核实位置"}),
}

LEGAL = [(a, s, t) for a, table in TRANSITIONS.items() for s, t in table.items()]


async def bring_to(api: Api, status: Status, **report: Any) -> dict[str, Any]:
    case = await api.report(**report)
    for who, action, body in PATHS[status]:
        r = await api.act(who, case["id"], action, **body)
        case = r.json()
    assert case["status"] == status.value
    return case


@pytest.mark.parametrize(
    ("action", "start", "target"), LEGAL, ids=[f"{a.value}:{s.value}" for a, s, _ in LEGAL]
)
async def test_every_legal_transition(
    api: Api, action: Action, start: Status, target: Status
) -> None:
    case = await bring_to(api, start)
    who, body = ACTORS[action]
    body = dict(body)
    if action in {Action.accept, Action.locate} and start is Status.escalated:
        who = DISPATCHER_S1  # accepted (or placed) at the level above
    if action in {Action.dispatch, Action.reopen} and start is Status.reopened:
        who = DISPATCHER_C1
        body = {"assignees": [{"account_id": WORKER_A.sub}]} if action is Action.dispatch else {}
    if action is Action.merge:
        master = await api.report(description="同一个井盖，另一位居民")
        body = {"into_case_id": master["id"]}
    r = await api.act(
        who, case["id"], action.value, headers={"If-Match": f'"{case["version"]}"'}, **body
    )
    after = r.json()
    expected = start if action is Action.resume else target
    if action is Action.resume:
        expected = Status.accepted  # resumes where it was suspended from
    assert after["status"] == expected.value
    assert after["version"] == case["version"] + 1
    assert r.headers["ETag"] == f'"{after["version"]}"'
    timeline = (await api.get(ADMIN, f"/api/v1/cases/{case['id']}/timeline")).json()
    last = timeline[-1]
    assert last["action"] == action.value
    assert (last["from_status"], last["to_status"]) == (start.value, expected.value)
    async with api_sessionmaker(api)() as session:
        types = (
            (
                await session.execute(
                    sa.text(
                        "SELECT type FROM outbox_event WHERE case_id = :id ORDER BY created_at"
                    ),
                    {"id": case["id"]},
                )
            )
            .scalars()
            .all()
        )
    assert types[-1] == EVENT_TYPES[action]
    assert len(types) == len(PATHS[start]) + 2  # reported + each step + this action


def api_sessionmaker(api: Api) -> Any:
    transport = api.client._transport
    return transport.app.state.sessionmaker  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("start", "action"),
    [
        (Status.reported, "verify"),
        (Status.reported, "claim"),
        (Status.accepted, "resolve"),
        (Status.dispatched, "accept"),
        (Status.in_progress, "rate"),
        (Status.closed, "claim"),
        (Status.resolved, "dispatch"),
        (Status.suspended, "accept"),
    ],
)
async def test_illegal_transitions_list_the_allowed_actions(
    api: Api, start: Status, action: str
) -> None:
    case = await bring_to(api, start)
    # only the reporter rates; every other role may never rate (403 before the state)
    who = RESIDENT if action == "rate" else ADMIN
    r = await api.act(who, case["id"], action, expect=409, reason="x", result="x", rating=5)
    problem = r.json()
    assert problem["code"] == "illegal_transition"
    assert problem["case_status"] == start.value
    expected = [a.value for a, table in TRANSITIONS.items() if start in table]
    assert problem["allowed_actions"] == expected
    assert action not in problem["allowed_actions"]
    again = (await api.get(ADMIN, f"/api/v1/cases/{case['id']}")).json()
    assert again["version"] == case["version"]  # nothing written


async def test_unknown_action_and_case(api: Api) -> None:
    case = await api.report()
    r = await api.act(ADMIN, case["id"], "teleport", expect=422)
    assert r.json()["errors"][0]["field"] == "path.action"
    await api.act(ADMIN, "6b0c6f3e-3f55-4e55-9a43-1a1f4b8f0a11", "accept", expect=404)
    r = await api.act(ADMIN, "not-a-uuid", "accept", expect=422)


@pytest.mark.parametrize(
    ("action", "body", "field"),
    [
        ("reject", {}, "reason"),
        ("void", {}, "reason"),
        ("dispatch", {}, "assignees"),
        ("dispatch", {"assignees": [{"account_id": "a", "role": "co"}]}, "assignees"),
        ("dispatch", {"assignees": [{"account_id": "a", "department_id": "d"}]}, "assignees.0"),
        (
            "dispatch",
            {"assignees": [{"account_id": "a"}, {"account_id": "a", "role": "co"}]},
            "assignees",
        ),
        ("merge", {}, "into_case_id"),
        ("merge", {"into_case_id": "6b0c6f3e-3f55-4e55-9a43-1a1f4b8f0a11"}, "into_case_id"),
        ("accept", {"priority": "extreme"}, "priority"),
        (
            "accept",
            {"attachment_ids": ["6b0c6f3e-3f55-4e55-9a43-1a1f4b8f0a11"]},
            "attachment_ids.0",
        ),
    ],
)
async def test_bad_action_bodies_name_the_field(
    api: Api, action: str, body: dict[str, Any], field: str
) -> None:
    start = Status.accepted if action == "dispatch" else Status.reported
    case = await bring_to(api, start, category_code="0601")  # locality: no default assignee
    r = await api.act(DISPATCHER_C1, case["id"], action, expect=422, **body)
    assert field in [e["field"] for e in r.json()["errors"]]
    again = (await api.get(ADMIN, f"/api/v1/cases/{case['id']}")).json()
    assert again["status"] == start.value
    assert again["version"] == case["version"]


async def test_malformed_action_body(api: Api) -> None:
    case = await api.report()
    r = await api.client.post(
        f"/api/v1/cases/{case['id']}/actions/accept",
        content=b"{not json",
        headers={**api.headers(DISPATCHER_C1), "Content-Type": "application/json"},
    )
    assert r.status_code == 400
    assert r.json()["code"] == "malformed_json"


async def test_whole_life(api: Api) -> None:
    """A resident reports from the mini-program; the community accepts and dispatches to a grid
    worker, who escalates; the street dispatches to a department, which resolves with photos;
    the grid worker verifies; the case closes and the resident rates it."""
    case = await api.report(
        RESIDENT, channel="mini_program", location={"lat": 30.1, "lng": 120.1, "crs": "gcj02"}
    )
    cid = case["id"]
    assert case["area"]["path"].startswith(COMMUNITY1)
    assert case["handling_area_path"] == COMMUNITY1
    assert case["handling_level"] == "community"
    await api.act(DISPATCHER_C1, cid, "accept")
    await api.act(DISPATCHER_C1, cid, "dispatch", assignees=[{"account_id": WORKER_A.sub}])
    await api.act(WORKER_A, cid, "claim")
    r = await api.act(WORKER_A, cid, "escalate", reason="涉及市政管网，社区无法处置")
    assert r.json()["handling_area_path"] == STREET1
    assert r.json()["handling_level"] == "street"
    # the community can no longer accept it: it is the street's now
    r = await api.act(DISPATCHER_C1, cid, "accept", expect=403)
    assert r.json()["code"] == "action_not_permitted"
    await api.act(DISPATCHER_S1, cid, "accept")
    await api.act(DISPATCHER_S1, cid, "dispatch", assignees=[{"department_id": "dept-roads"}])
    await api.act(ROADS, cid, "claim")
    before = await upload_photo(api, ROADS, "before")
    after = await upload_photo(api, ROADS, "after")
    r = await api.act(ROADS, cid, "resolve", result="已更换井盖", attachment_ids=[before, after])
    assert r.json()["status"] == "resolved"
    assert r.json()["result"] == "已更换井盖"
    await api.act(WORKER_A, cid, "verify")
    r = await api.act(RESIDENT, cid, "rate", rating=5, reason="处理很快")
    final = r.json()
    assert final["status"] == "closed"
    assert final["rating"] == 5
    assert final["closed_at"] is not None
    timeline = (await api.get(ADMIN, f"/api/v1/cases/{cid}/timeline")).json()
    assert [e["action"] for e in timeline] == [
        "report",
        "accept",
        "dispatch",
        "claim",
        "escalate",
        "accept",
        "dispatch",
        "claim",
        "resolve",
        "verify",
        "rate",
    ]
    resolve = next(e for e in timeline if e["action"] == "resolve")
    assert resolve["attachment_ids"] == [before, after]
    # the resident's own view: public entries only, staff accounts hidden
    mine = (await api.get(RESIDENT, f"/api/v1/cases/{cid}/timeline")).json()
    assert "escalate" not in [e["action"] for e in mine]
    assert all(e["actor_id"] in (None, RESIDENT.sub) for e in mine)
    async with api_sessionmaker(api)() as session:
        types = (
            (
                await session.execute(
                    sa.text(
                        "SELECT type FROM outbox_event WHERE case_id = :id ORDER BY created_at"
                    ),
                    {"id": cid},
                )
            )
            .scalars()
            .all()
        )
    assert types == [
        "case.reported",
        "case.accepted",
        "case.dispatched",
        "case.claimed",
        "case.escalated",
        "case.accepted",
        "case.dispatched",
        "case.claimed",
        "case.resolved",
        "case.closed",
        "case.rated",
    ]


async def upload_photo(api: Api, who: Person, purpose: str) -> str:
    jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 2000
    r = await api.client.post(
        "/api/v1/attachments",
        files={"file": ("photo.jpg", jpeg, "image/jpeg")},
        data={"purpose": purpose},
        headers=api.headers(who),
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_joint_case_resolves_when_every_handler_has_finished(api: Api) -> None:
    case = await bring_to(api, Status.accepted)
    cid = case["id"]
    r = await api.act(
        DISPATCHER_C1,
        cid,
        "dispatch",
        assignees=[
            {"department_id": "dept-urban", "role": "lead"},
            {"department_id": "dept-housing", "role": "co"},
            {"department_id": "dept-roads", "role": "co"},
        ],
    )
    assert r.json()["handling_class"] == "joint"
    await api.act(URBAN, cid, "claim")
    r = await api.act(HOUSING, cid, "resolve", result="房管部分完成")
    assert r.json()["status"] == "in_progress"
    r = await api.act(HOUSING, cid, "resolve", result="again", expect=403)  # part already done
    r = await api.act(URBAN, cid, "resolve", result="城管部分完成")
    assert r.json()["status"] == "in_progress"
    states = {a["department_id"]: a["state"] for a in r.json()["assignments"]}
    assert states == {"dept-urban": "finished", "dept-housing": "finished", "dept-roads": "active"}
    r = await api.act(ROADS, cid, "resolve", result="路政部分完成")
    assert r.json()["status"] == "resolved"
    assert r.json()["result"] == "城管部分完成"  # the lead's result
    timeline = (await api.get(ADMIN, f"/api/v1/cases/{cid}/timeline")).json()
    assert [e["kind"] for e in timeline[-3:]] == ["part_finished", "part_finished", "transition"]


async def test_returned_then_redispatched(api: Api) -> None:
    case = await bring_to(api, Status.accepted)
    cid = case["id"]
    await api.act(DISPATCHER_C1, cid, "dispatch", assignees=[{"department_id": "dept-housing"}])
    r = await api.act(HOUSING, cid, "return", expect=422)
    assert r.json()["errors"][0]["field"] == "reason"
    r = await api.act(HOUSING, cid, "return", reason="非房管职责，应由城管处理")
    assert r.json()["status"] == "returned"
    assert r.json()["allowed_actions"] == []  # housing can do nothing more
    r = await api.act(DISPATCHER_C1, cid, "dispatch", assignees=[{"department_id": "dept-urban"}])
    assert r.json()["status"] == "dispatched"
    await api.act(HOUSING, cid, "claim", expect=403)
    await api.act(URBAN, cid, "claim")
    states = [(a["department_id"], a["state"]) for a in r.json()["assignments"]]
    assert states == [("dept-housing", "returned"), ("dept-urban", "active")]


async def test_rework_path(api: Api) -> None:
    case = await bring_to(api, Status.resolved)
    cid = case["id"]
    await api.act(DISPATCHER_C1, cid, "rework", expect=422)
    r = await api.act(DISPATCHER_C1, cid, "rework", reason="井盖仍然松动")
    assert r.json()["status"] == "in_progress"
    assert r.json()["result"] is None
    r = await api.act(WORKER_A, cid, "resolve", result="重新固定井盖")
    assert r.json()["status"] == "resolved"
    r = await api.act(DISPATCHER_C1, cid, "verify")
    assert r.json()["status"] == "closed"


async def test_rework_goes_back_to_the_last_handlers_only(api: Api) -> None:
    case = await bring_to(api, Status.in_progress)
    cid = case["id"]
    await api.act(WORKER_A, cid, "resolve", result="第一次处理")
    await api.act(DISPATCHER_C1, cid, "rework", reason="未处理好")
    await api.act(DISPATCHER_C1, cid, "reassign", assignees=[{"department_id": "dept-urban"}])
    await api.act(URBAN, cid, "claim")
    await api.act(URBAN, cid, "resolve", result="城管处理")
    r = await api.act(DISPATCHER_C1, cid, "rework", reason="仍未处理好")
    states = [(a["account_id"] or a["department_id"], a["state"]) for a in r.json()["assignments"]]
    assert states == [(WORKER_A.sub, "ended"), ("dept-urban", "active")]
    await api.act(WORKER_A, cid, "resolve", result="x", expect=403)
    r = await api.act(URBAN, cid, "resolve", result="城管再次处理")
    assert r.json()["status"] == "resolved"


async def test_suspend_and_resume_return_to_the_previous_status(api: Api) -> None:
    case = await bring_to(api, Status.in_progress)
    r = await api.act(DISPATCHER_C1, case["id"], "suspend", reason="等待汛期结束")
    assert r.json()["status"] == "suspended"
    r = await api.act(DISPATCHER_C1, case["id"], "resume")
    assert r.json()["status"] == "in_progress"


async def test_reopen_rules(api: Api) -> None:
    """Reopening is a staff action; the reporter asks through a reopen request."""
    case = await bring_to(api, Status.closed)
    cid = case["id"]
    await api.act(RESIDENT, cid, "rate", rating=1)
    r = await api.act(RESIDENT, cid, "reopen", reason="不满意", expect=403)
    assert r.json()["code"] == "reopen_by_request"
    assert r.json()["reopen_request_url"] == f"/api/v1/cases/{cid}/reopen-requests"
    assert f"POST /api/v1/cases/{cid}/reopen-requests" in r.json()["detail"]
    # a resident never reopens, whose case it is or whether it exists: the same 403 for all
    # (decided on the role, before the case is looked up: nothing is confirmed)
    r = await api.act(RESIDENT2, cid, "reopen", reason="不满意", expect=403)  # not theirs
    assert r.json()["code"] == "reopen_by_request"
    unknown = "6b0c6f3e-3f55-4e55-9a43-1a1f4b8f0a11"
    r = await api.act(RESIDENT, unknown, "reopen", expect=403)  # no such case, empty body
    assert r.json()["code"] == "reopen_by_request"
    r = await api.act(WORKER_A, cid, "reopen", reason="不满意", expect=403)
    assert r.json()["code"] == "action_not_permitted"
    r = await api.get(RESIDENT, f"/api/v1/cases/{cid}")
    assert r.json()["status"] == "closed"
    assert "reopen" not in r.json().get("allowed_actions", [])
    async with api_sessionmaker(api)() as session, session.begin():
        await session.execute(
            sa.text("UPDATE \"case\" SET closed_at = now() - interval '16 days' WHERE id = :id"),
            {"id": cid},
        )
    r = await api.act(DISPATCHER_C1, cid, "reopen", reason="群众来电", expect=409)
    assert r.json()["code"] == "reopen_window_passed"


async def test_staff_reopen_on_their_own_authority(api: Api) -> None:
    case = await bring_to(api, Status.closed)
    r = await api.act(DISPATCHER_C1, case["id"], "reopen", reason="回访发现问题未解决")
    assert r.json()["status"] == "reopened"


async def test_escalation_stops_at_the_top(api: Api) -> None:
    case = await bring_to(api, Status.in_progress)
    cid = case["id"]
    levels = []
    for _ in range(3):  # community → street → district → city
        r = await api.act(WORKER_A, cid, "escalate", reason="上报")
        levels.append(r.json()["handling_level"])
        await api.act(ADMIN, cid, "accept")
        await api.act(ADMIN, cid, "dispatch", assignees=[{"account_id": WORKER_A.sub}])
        await api.act(WORKER_A, cid, "claim")
    assert levels == ["street", "district", "city"]
    r = await api.act(WORKER_A, cid, "escalate", reason="上报", expect=409)
    assert r.json()["code"] == "no_level_above"


async def test_stale_if_match_is_412(api: Api) -> None:
    case = await api.report()
    r = await api.act(DISPATCHER_C1, case["id"], "accept", headers={"If-Match": '"7"'}, expect=412)
    assert r.json()["code"] == "version_mismatch"
    assert r.json()["current_version"] == 1
    r = await api.act(DISPATCHER_C1, case["id"], "accept", headers={"If-Match": "abc"}, expect=422)
    assert r.json()["errors"][0]["field"] == "header.If-Match"
    await api.act(DISPATCHER_C1, case["id"], "accept", headers={"If-Match": 'W/"1"'})


async def test_two_concurrent_actions_one_wins(api: Api) -> None:
    case = await api.report()
    tag = {"If-Match": f'"{case["version"]}"'}
    results = await asyncio.gather(
        api.act(DISPATCHER_C1, case["id"], "accept", headers=tag, expect=None),
        api.act(DISPATCHER_S1, case["id"], "reject", headers=tag, expect=None, reason="重复"),
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 412]
    # without If-Match the row lock still serialises: the loser sees the new status (409)
    case2 = await api.report()
    results = await asyncio.gather(
        api.act(DISPATCHER_C1, case2["id"], "accept", expect=None),
        api.act(DISPATCHER_S1, case2["id"], "accept", expect=None),
    )
    assert sorted(r.status_code for r in results) == [200, 409]
    timeline = (await api.get(ADMIN, f"/api/v1/cases/{case2['id']}/timeline")).json()
    assert [e["action"] for e in timeline] == ["report", "accept"]


async def test_owner_routing_dispatches_to_the_owning_department(api: Api) -> None:
    case = await bring_to(api, Status.accepted, category_code="0802")  # 井盖: dept-roads (属主)
    r = await api.act(DISPATCHER_C1, case["id"], "dispatch")
    assert [a["department_id"] for a in r.json()["assignments"]] == ["dept-roads"]
    assert r.json()["routing"] == "owner"


async def test_locality_category_needs_assignees(api: Api) -> None:
    case = await bring_to(api, Status.accepted, category_code="0601")  # 流动摊点: 属地
    r = await api.act(DISPATCHER_C1, case["id"], "dispatch", expect=422)
    assert r.json()["code"] == "assignees_required"
