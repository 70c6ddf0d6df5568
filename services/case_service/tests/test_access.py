"""Scoped access: every role against its own scope and another scope; masked reporter data;
public and internal timeline entries."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import (
    ADMIN,
    DISPATCHER_C1,
    DISPATCHER_C2,
    DISPATCHER_S1,
    DISPATCHER_S2,
    HOUSING,
    LEADER_A,
    LEADER_C,
    PLATFORM,
    PLATFORM2,
    RESIDENT,
    RESIDENT2,
    SUPERVISOR_S1,
    SUPERVISOR_S2,
    URBAN,
    WORKER_A,
    WORKER_C,
    Api,
    Person,
)
from test_lifecycle import api_sessionmaker

NOBODY = Person("nobody", ())

MATRIX = [
    (RESIDENT, True),  # own case
    (RESIDENT2, False),  # someone else's
    (WORKER_A, True),  # their grid
    (WORKER_C, False),  # another grid
    (LEADER_A, True),
    (LEADER_C, False),
    (DISPATCHER_C1, True),  # their community
    (DISPATCHER_C2, False),  # the neighbouring community
    (DISPATCHER_S1, True),  # their street (subtree)
    (DISPATCHER_S2, False),
    (URBAN, True),  # assigned department
    (HOUSING, False),  # another department
    (SUPERVISOR_S1, True),
    (SUPERVISOR_S2, False),
    (ADMIN, True),
    (PLATFORM, False),  # not a case it pushed in
    (NOBODY, False),
]


async def dispatched_case(api: Api, **report: Any) -> dict[str, Any]:
    case = await api.report(RESIDENT, **report)
    await api.act(DISPATCHER_C1, case["id"], "accept")
    r = await api.act(
        DISPATCHER_C1, case["id"], "dispatch", assignees=[{"department_id": "dept-urban"}]
    )
    return dict(r.json())


@pytest.mark.parametrize(("who", "sees"), MATRIX, ids=[p.sub for p, _ in MATRIX])
async def test_permission_matrix(api: Api, who: Person, sees: bool) -> None:
    case = await dispatched_case(api, category_code="0601")
    other = await api.report(RESIDENT2, location={"lat": 33.5, "lng": 120.0})  # grid D, street 2
    r = await api.get(who, f"/api/v1/cases/{case['id']}")
    assert r.status_code == (200 if sees else 404)
    if not sees:
        assert r.json()["code"] == "case_not_found"
    r = await api.get(who, f"/api/v1/cases/{case['id']}/timeline")
    assert r.status_code == (200 if sees else 404)
    listed = {c["id"] for c in (await api.get(who, "/api/v1/cases")).json()["items"]}
    assert (case["id"] in listed) is sees
    # the case in the other street is seen by that street's people only
    other_seen = other["id"] in listed
    assert other_seen is (who in (DISPATCHER_S2, SUPERVISOR_S2, ADMIN, RESIDENT2))
    # acting out of scope looks like an unknown case too; a role that may never reassign is
    # refused before the case is looked up, with the same 403 for any id, existing or not
    if not sees:
        dispatching = bool({"dispatcher", "grid_leader", "admin"} & set(who.roles))
        expect = 404 if dispatching else 403
        body = {"assignees": [{"account_id": "x"}]}
        r = await api.act(who, case["id"], "reassign", expect=expect, **body)
        unknown = await api.act(who, str(uuid.uuid4()), "reassign", expect=expect, **body)
        assert unknown.json()["code"] == r.json()["code"]


@pytest.mark.parametrize(
    ("who", "action", "body"),
    [
        (RESIDENT, "reassign", {"assignees": [{"account_id": "x"}]}),
        (WORKER_A, "reassign", {"assignees": [{"account_id": "x"}]}),
        (SUPERVISOR_S1, "reassign", {"assignees": [{"account_id": "x"}]}),
        (LEADER_A, "reassign", {"assignees": [{"account_id": "x"}]}),  # a grid leader is below
        (DISPATCHER_C1, "claim", {}),  # not a handler
        (RESIDENT, "suspend", {"reason": "x"}),
        (URBAN, "suspend", {"reason": "x"}),
    ],
)
async def test_in_scope_but_not_permitted_is_403(
    api: Api, who: Person, action: str, body: dict[str, Any]
) -> None:
    case = await dispatched_case(api, category_code="0601")
    r = await api.act(who, case["id"], action, expect=403, **body)
    assert r.json()["code"] == "action_not_permitted"


async def test_allowed_actions_follow_the_caller(api: Api) -> None:
    case = await dispatched_case(api, category_code="0601")
    url = f"/api/v1/cases/{case['id']}"
    assert (await api.get(URBAN, url)).json()["allowed_actions"] == ["claim", "return"]
    assert (await api.get(DISPATCHER_C1, url)).json()["allowed_actions"] == [
        "reassign",
        "suspend",
        "locate",
    ]
    assert (await api.get(RESIDENT, url)).json()["allowed_actions"] == []


async def test_reporter_is_masked_for_every_role_by_default(api: Api) -> None:
    case = await dispatched_case(api, category_code="0601")
    url = f"/api/v1/cases/{case['id']}"
    reporter = (await api.get(RESIDENT, url)).json()["reporter"]
    assert reporter["masked"] is False
    assert (reporter["name"], reporter["phone"]) == ("王小明", "13812345678")
    for who in (DISPATCHER_C1, URBAN, ADMIN):  # they may reveal, but only when they ask
        reporter = (await api.get(who, url)).json()["reporter"]
        assert reporter["masked"] is True, who
        assert (reporter["name"], reporter["phone"]) == ("王**", "138****5678"), who
        assert reporter["account_id"] == RESIDENT.sub, who
    for who in (SUPERVISOR_S1, LEADER_A, WORKER_A):
        reporter = (await api.get(who, url)).json()["reporter"]
        assert reporter == {
            "account_id": None,
            "name": "王**",
            "phone": "138****5678",
            "anonymous": False,
            "masked": True,
            "on_behalf": False,
        }, who


async def test_anonymous_reporter_is_hidden_from_everyone_else(api: Api) -> None:
    case = await dispatched_case(
        api,
        category_code="0601",
        reporter={"name": "匿名者", "phone": "13812345678", "anonymous": True},
    )
    url = f"/api/v1/cases/{case['id']}"
    for who in (DISPATCHER_C1, URBAN, ADMIN, SUPERVISOR_S1):
        reporter = (await api.get(who, url)).json()["reporter"]
        assert (reporter["account_id"], reporter["name"], reporter["phone"]) == (None, None, None)
        assert reporter["anonymous"] is True
    mine = (await api.get(RESIDENT, url)).json()["reporter"]
    assert mine["phone"] == "13812345678"
    # nor through the timeline: who filed it is not shown to handlers
    for who in (DISPATCHER_C1, URBAN, SUPERVISOR_S1):
        timeline = (await api.get(who, f"{url}/timeline")).json()
        assert timeline[0]["action"] == "report"
        assert timeline[0]["actor_id"] is None
        assert timeline[1]["actor_id"] == DISPATCHER_C1.sub  # staff stay visible to staff
    own = (await api.get(RESIDENT, f"{url}/timeline")).json()
    assert own[0]["actor_id"] == RESIDENT.sub


async def test_comments_public_and_internal(api: Api) -> None:
    case = await dispatched_case(api, category_code="0601")
    url = f"/api/v1/cases/{case['id']}/comments"
    r = await api.client.post(
        url,
        json={"body": "内部备注：当事人情绪激动", "visibility": "internal"},
        headers=api.headers(URBAN),
    )
    assert r.status_code == 201
    r = await api.client.post(
        url, json={"body": "已联系，明天处理", "visibility": "public"}, headers=api.headers(URBAN)
    )
    assert r.status_code == 201
    r = await api.client.post(
        url, json={"body": "谢谢", "visibility": "public"}, headers=api.headers(RESIDENT)
    )
    assert r.status_code == 201
    r = await api.client.post(
        url, json={"body": "x", "visibility": "internal"}, headers=api.headers(RESIDENT)
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "visibility"
    r = await api.client.post(url, json={"body": ""}, headers=api.headers(URBAN))
    assert r.status_code == 422
    r = await api.client.post(url, json={"body": "x"}, headers=api.headers(RESIDENT2))
    assert r.status_code == 404
    staff = (await api.get(URBAN, f"/api/v1/cases/{case['id']}/timeline")).json()
    resident = (await api.get(RESIDENT, f"/api/v1/cases/{case['id']}/timeline")).json()
    assert [e["reason"] for e in staff if e["kind"] == "comment"] == [
        "内部备注：当事人情绪激动",
        "已联系，明天处理",
        "谢谢",
    ]
    assert [e["reason"] for e in resident if e["kind"] == "comment"] == ["已联系，明天处理", "谢谢"]
    async with api_sessionmaker(api)() as session:
        n = (
            await session.execute(
                sa.text("SELECT count(*) FROM outbox_event WHERE type = 'case.commented'")
            )
        ).scalar_one()
    assert n == 2  # public comments only


async def test_notifications_are_recorded_by_platforms(api: Api) -> None:
    case = await api.report()
    url = f"/api/v1/cases/{case['id']}/notifications"
    body = {"channel": "sms", "recipient_account_id": RESIDENT.sub, "template": "case_accepted"}
    r = await api.client.post(url, json=body, headers=api.headers(RESIDENT))
    assert r.status_code == 403
    r = await api.client.post(url, json=body, headers=api.headers(PLATFORM2))
    assert r.status_code == 201
    assert r.json()["kind"] == "notification"
    timeline = (await api.get(ADMIN, f"/api/v1/cases/{case['id']}/timeline")).json()
    assert timeline[-1]["data"]["template"] == "case_accepted"
    r = await api.client.post(
        "/api/v1/cases/6b0c6f3e-3f55-4e55-9a43-1a1f4b8f0a11/notifications",
        json=body,
        headers=api.headers(PLATFORM2),
    )
    assert r.status_code == 404


async def test_timeline_refuses_update_and_delete_in_the_database(api: Api) -> None:
    case = await api.report()
    async with api_sessionmaker(api)() as session:
        for statement in (
            "UPDATE timeline_entry SET reason = 'rewritten' WHERE case_id = :id",
            "DELETE FROM timeline_entry WHERE case_id = :id",
        ):
            with pytest.raises(sa.exc.DBAPIError, match="append-only"):
                async with session.begin():
                    await session.execute(sa.text(statement), {"id": case["id"]})
        n = (
            await session.execute(
                sa.text(
                    "SELECT count(*) FROM timeline_entry WHERE case_id = :id AND reason IS NULL"
                ),
                {"id": case["id"]},
            )
        ).scalar_one()
    assert n == 1
