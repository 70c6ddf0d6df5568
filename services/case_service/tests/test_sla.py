"""Time limits on the working calendar, reminders, overdue supervision and escalation.

The clock is injected: actions go through ``apply_action(now=...)`` and timers through
``fire_due(now=...)``; nothing sleeps. Dates are worked out by hand from the official 2026
schedule (Golden Week 1-7 October off; Saturday 10 October a working day). The category used,
0802 井盖缺失破损, is a high-priority report: built-in limits accept 2 working hours, dispatch 4
working hours, first response 1 working day, resolve 1 working day at community/street level,
3 working days at district level.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import (
    ADMIN,
    DISPATCHER_C1,
    DISPATCHER_S1,
    RESIDENT,
    SUPERVISOR_S1,
    SUPERVISOR_S2,
    WORKER_A,
    WORKER_C,
    Api,
    Person,
)
from sqlmodel import col, select

from case_service.actions import apply_action
from case_service.cases.lifecycle import Action
from case_service.cases.models import Case, TimelineEntry
from case_service.cases.schemas import AssigneeIn, CaseActionRequest
from case_service.outbox.models import OutboxEvent
from case_service.sla.calendar import SHANGHAI, WorkingCalendar
from case_service.sla.flows import escalator
from case_service.sla.models import CaseDeadline, SlaTimer, Supervision
from case_service.sla.service import deadline_state
from case_service.sla.timers import fire_due
from shared.auth import Principal


def sh(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=SHANGHAI)


def principal(p: Person) -> Principal:
    return Principal(
        subject=p.sub, roles=frozenset(p.roles), area_paths=p.areas, department_ids=p.depts
    )


class Clocked:
    """Drives one case through the lifecycle at chosen moments."""

    def __init__(self, api: Api, app: Any, case_id: str) -> None:
        self.api, self.app, self.case_id = api, app, uuid.UUID(case_id)

    async def act(self, who: Person, action: Action, at: datetime, **body: Any) -> Case:
        async with self.app.state.sessionmaker() as s, s.begin():
            return await apply_action(
                s,
                principal=principal(who),
                case_id=self.case_id,
                action=action,
                body=CaseActionRequest(**body),
                if_match=None,
                settings=self.app.state.settings,
                now=at,
            )

    async def deadlines(self) -> dict[str, CaseDeadline]:
        async with self.app.state.sessionmaker() as s:
            rows = (
                (
                    await s.execute(
                        select(CaseDeadline)
                        .where(col(CaseDeadline.case_id) == self.case_id)
                        .order_by(col(CaseDeadline.started_at))
                    )
                )
                .scalars()
                .all()
            )
        out: dict[str, CaseDeadline] = {}
        # The running deadline of each kind, else the latest ended one.
        for d in sorted(rows, key=lambda d: (d.status in {"open", "paused"}, d.started_at)):
            out[d.kind] = d
        return out

    async def fire(self, at: datetime) -> int:
        return await fire_due(
            self.app.state.sessionmaker, now=at, escalate=escalator(self.app.state.settings)
        )

    async def events(self, type_: str) -> list[OutboxEvent]:
        async with self.app.state.sessionmaker() as s:
            return list(
                (
                    await s.execute(
                        select(OutboxEvent).where(
                            col(OutboxEvent.case_id) == self.case_id, col(OutboxEvent.type) == type_
                        )
                    )
                )
                .scalars()
                .all()
            )

    async def timeline_kinds(self) -> list[str]:
        async with self.app.state.sessionmaker() as s:
            return list(
                (
                    await s.execute(
                        select(TimelineEntry.kind)
                        .where(col(TimelineEntry.case_id) == self.case_id)
                        .order_by(col(TimelineEntry.created_at))
                    )
                )
                .scalars()
                .all()
            )


async def new_case(api: Api, app: Any, **fields: Any) -> Clocked:
    case = await api.report(RESIDENT, **fields)
    return Clocked(api, app, case["id"])


async def accepted_and_claimed(c: Clocked, at: datetime) -> None:
    await c.act(DISPATCHER_C1, Action.accept, at)
    await c.act(DISPATCHER_C1, Action.dispatch, at, assignees=[AssigneeIn(account_id=WORKER_A.sub)])
    await c.act(WORKER_A, Action.claim, at)


async def test_intake_starts_the_acceptance_clock(api: Api, app: Any) -> None:
    c = await new_case(api, app)
    d = await c.deadlines()
    assert set(d) == {"accept"}
    assert d["accept"].unit == "working_hours"
    assert d["accept"].amount == 2
    r = await api.get(RESIDENT, f"/api/v1/cases/{c.case_id}/deadlines")
    assert r.status_code == 200
    body = r.json()
    assert [x["kind"] for x in body] == ["accept"]
    assert body[0]["state"] in {"on_track", "due_soon", "overdue"}


async def test_acceptance_across_golden_week(api: Api, app: Any) -> None:
    c = await new_case(api, app)
    await c.act(DISPATCHER_C1, Action.accept, sh(2026, 9, 30, 16))
    d = await c.deadlines()
    assert d["accept"].status == "met"
    # dispatch: 2 h on 30 Sep (16-18), then 2 h on Thursday 8 October -> 11:00.
    assert d["dispatch"].due_at == sh(2026, 10, 8, 11)
    # resolve: 1 working day after 30 Sep, skipping 1-7 October -> 8 October 18:00.
    assert d["resolve"].due_at == sh(2026, 10, 8, 18)
    assert d["first_response"].due_at == sh(2026, 10, 8, 18)


async def test_deadline_on_the_tiaoxiu_saturday(api: Api, app: Any) -> None:
    c = await new_case(api, app)
    await c.act(DISPATCHER_C1, Action.accept, sh(2026, 10, 9, 17))
    d = await c.deadlines()
    # Friday 9 Oct 17:00: 1 h Friday, 3 h on the working Saturday 10 Oct -> 12:00.
    assert d["dispatch"].due_at == sh(2026, 10, 10, 12)
    assert d["resolve"].due_at == sh(2026, 10, 10, 18)


async def test_deadline_across_a_weekend(api: Api, app: Any) -> None:
    c = await new_case(api, app)
    await c.act(DISPATCHER_C1, Action.accept, sh(2026, 11, 20, 17))  # a Friday
    d = await c.deadlines()
    assert d["dispatch"].due_at == sh(2026, 11, 23, 12)  # 1 h Friday + 3 h Monday
    assert d["resolve"].due_at == sh(2026, 11, 23, 18)


async def test_admin_override_moves_new_deadlines(api: Api, app: Any) -> None:
    r = await api.client.put(
        "/api/v1/calendar/overrides/2026-11-23",
        params={"jurisdiction": "330100.330106"},
        json={"is_workday": False, "reason": "区内防汛停工"},
        headers=api.headers(Person("admin-d", ("admin",), ("330100.330106",))),
    )
    assert r.status_code == 200, r.text
    c = await new_case(api, app)
    await c.act(DISPATCHER_C1, Action.accept, sh(2026, 11, 20, 17))
    d = await c.deadlines()
    assert d["resolve"].due_at == sh(2026, 11, 24, 18)  # Monday 23rd is off in the district
    listed = await api.get(
        ADMIN, "/api/v1/calendar/overrides", jurisdiction="330100.330106.330106001", year=2026
    )
    assert [(o["day"], o["is_workday"]) for o in listed.json()] == [("2026-11-23", False)]


async def test_calendar_override_refusals(api: Api) -> None:
    body = {"is_workday": True, "reason": "补班"}
    r = await api.client.put(
        "/api/v1/calendar/overrides/2026-11-28",
        json=body,
        params={"jurisdiction": "330100.330106"},
        headers=api.headers(DISPATCHER_S1),
    )
    assert (r.status_code, r.json()["code"]) == (403, "missing_role")
    outsider = Person("admin-x", ("admin",), ("330100.330108",))
    r = await api.client.put(
        "/api/v1/calendar/overrides/2026-11-28",
        json=body,
        params={"jurisdiction": "330100.330106"},
        headers=api.headers(outsider),
    )
    assert (r.status_code, r.json()["code"]) == (404, "jurisdiction_not_found")
    r = await api.client.put(
        "/api/v1/calendar/overrides/not-a-day", json=body, headers=api.headers(ADMIN)
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "path.day"
    r = await api.client.put(
        "/api/v1/calendar/overrides/2026-11-28", json={"reason": ""}, headers=api.headers(ADMIN)
    )
    assert {e["field"] for e in r.json()["errors"]} == {"is_workday", "reason"}


async def test_suspension_pauses_the_clock(api: Api, app: Any) -> None:
    c = await new_case(api, app)
    await accepted_and_claimed(c, sh(2026, 11, 23, 9))  # Monday 09:00
    assert (await c.deadlines())["resolve"].due_at == sh(2026, 11, 24, 18)
    await c.act(DISPATCHER_C1, Action.suspend, sh(2026, 11, 24, 10), reason="等待业主回国")
    assert (await c.deadlines())["resolve"].status == "paused"
    # While paused nothing fires, even long after the due time.
    assert await c.fire(sh(2026, 11, 27, 12)) == 0
    await c.act(DISPATCHER_C1, Action.resume, sh(2026, 11, 26, 14))  # Thursday 14:00
    d = (await c.deadlines())["resolve"]
    # 6.5 working hours were left at Tuesday 10:00 -> from Thursday 14:00: 4 h Thursday,
    # 2.5 h Friday -> Friday 11:30.
    assert d.status == "open"
    assert d.due_at == sh(2026, 11, 27, 11, 30)


async def test_case_due_time_is_in_utc_whatever_zone_the_action_came_in(api: Api, app: Any) -> None:
    # urgent: the time limits run in calendar hours, computed from the action's own ``now``
    c = await new_case(api, app)
    accepted = await c.act(DISPATCHER_C1, Action.accept, sh(2026, 11, 23, 10), priority="urgent")
    await c.act(DISPATCHER_C1, Action.suspend, sh(2026, 11, 23, 11), reason="等待业主回国")
    resumed = await c.act(DISPATCHER_C1, Action.resume, sh(2026, 11, 24, 14))
    for case in (accepted, resumed):
        assert case.due_at is not None
        assert case.due_at.utcoffset() == timedelta(0), case.due_at
    open_ = [d for d in (await c.deadlines()).values() if d.status == "open"]
    assert resumed.due_at == min(d.due_at for d in open_)


async def test_extension_approved_and_refused(api: Api, app: Any) -> None:
    c = await new_case(api, app)
    await accepted_and_claimed(c, sh(2026, 11, 23, 9))
    url = f"/api/v1/cases/{c.case_id}/extensions"
    ask = {
        "deadline_kind": "resolve",
        "amount": 2,
        "unit": "working_days",
        "reason": "需协调供电公司停电施工",
    }
    r = await api.client.post(url, json=ask, headers=api.headers(DISPATCHER_C1))
    assert (r.status_code, r.json()["code"]) == (403, "not_a_handler")
    r = await api.client.post(url, json={**ask, "amount": 1.5}, headers=api.headers(WORKER_A))
    assert r.status_code == 422
    ext = await api.client.post(url, json=ask, headers=api.headers(WORKER_A))
    assert ext.status_code == 201, ext.text
    again = await api.client.post(url, json=ask, headers=api.headers(WORKER_A))
    assert (again.status_code, again.json()["code"]) == (409, "extension_pending")
    decide = f"{url}/{ext.json()['id']}/decision"
    r = await api.client.post(decide, json={"approve": True}, headers=api.headers(WORKER_A))
    assert (r.status_code, r.json()["code"]) == (403, "missing_role")
    r = await api.client.post(decide, json={"approve": True}, headers=api.headers(SUPERVISOR_S2))
    assert r.status_code == 404  # another street's supervisor does not see the case
    r = await api.client.post(decide, json={"approve": True}, headers=api.headers(SUPERVISOR_S1))
    assert r.status_code == 200, r.text
    approved = r.json()
    assert approved["status"] == "approved"
    # Tuesday 24th 18:00 + 2 working days -> Thursday 26th 18:00.
    assert datetime.fromisoformat(approved["previous_due_at"]) == sh(2026, 11, 24, 18)
    assert datetime.fromisoformat(approved["new_due_at"]) == sh(2026, 11, 26, 18)
    d = (await c.deadlines())["resolve"]
    assert (d.due_at, d.extension_count) == (sh(2026, 11, 26, 18), 1)
    r = await api.client.post(
        decide, json={"approve": False, "reason": "x"}, headers=api.headers(SUPERVISOR_S1)
    )
    assert (r.status_code, r.json()["code"]) == (409, "extension_decided")
    # A second request, refused: the deadline stays.
    ext2 = await api.client.post(url, json=ask, headers=api.headers(WORKER_A))
    decide2 = f"{url}/{ext2.json()['id']}/decision"
    r = await api.client.post(decide2, json={"approve": False}, headers=api.headers(DISPATCHER_C1))
    assert (r.status_code, r.json()["code"]) == (422, "reason_required")
    r = await api.client.post(
        decide2, json={"approve": False, "reason": "理由不充分"}, headers=api.headers(DISPATCHER_C1)
    )
    assert r.json()["status"] == "refused"
    d = (await c.deadlines())["resolve"]
    assert (d.due_at, d.extension_count) == (sh(2026, 11, 26, 18), 1)
    kinds = await c.timeline_kinds()
    assert kinds.count("extension_requested") == 2
    assert "extension_approved" in kinds
    assert "extension_refused" in kinds


async def test_reminder_and_overdue_fire_exactly_once(api: Api, app: Any) -> None:
    c = await new_case(api, app)
    await accepted_and_claimed(c, sh(2026, 11, 23, 9))
    d = (await c.deadlines())["resolve"]  # Tuesday 24th 18:00, 15 working hours
    # 75% used = 11.25 h -> Monday 7.5 h, Tuesday 3 h to noon + 0.75 h after lunch -> 14:15.
    async with app.state.sessionmaker() as s:
        reminder = (
            await s.execute(
                select(SlaTimer).where(
                    col(SlaTimer.deadline_id) == d.id, col(SlaTimer.kind) == "reminder"
                )
            )
        ).scalar_one()
    assert reminder.due_at == sh(2026, 11, 24, 14, 15)
    assert await c.fire(sh(2026, 11, 24, 14, 14)) == 0
    await c.fire(sh(2026, 11, 24, 14, 20))
    await c.fire(sh(2026, 11, 24, 14, 25))
    assert len(await c.events("case.deadline_approaching")) == 1
    cal = WorkingCalendar()
    assert deadline_state(d, sh(2026, 11, 24, 14), cal)["state"] == "on_track"
    assert deadline_state(d, sh(2026, 11, 24, 14, 20), cal) == {
        "state": "due_soon",
        "seconds_left": 3 * 3600 + 40 * 60,
    }
    assert deadline_state(d, sh(2026, 11, 24, 18), cal)["state"] == "overdue"
    await c.fire(sh(2026, 11, 24, 18, 1))
    await c.fire(sh(2026, 11, 25, 9))
    overdue = await c.events("case.overdue")
    assert len(overdue) == 1
    assert overdue[0].payload["deadline_kind"] == "resolve"
    async with app.state.sessionmaker() as s:
        sups = (
            (await s.execute(select(Supervision).where(col(Supervision.case_id) == c.case_id)))
            .scalars()
            .all()
        )
    assert [(x.kind, x.opened_by) for x in sups] == [("overdue", None)]
    kinds = await c.timeline_kinds()
    assert kinds.count("deadline_reminder") == 1
    assert kinds.count("overdue") == 1
    assert (await c.deadlines())["resolve"].overdue_at is not None
    # The handler still resolves: the deadline is met late, and nothing fires any more.
    await c.act(WORKER_A, Action.resolve, sh(2026, 11, 25, 10), result="已处理")
    r = await api.get(WORKER_A, f"/api/v1/cases/{c.case_id}/deadlines")
    assert {x["kind"]: x["state"] for x in r.json()}["resolve"] == "met_late"
    assert await c.fire(sh(2026, 12, 31)) == 0


async def test_overdue_escalates_automatically_with_the_next_levels_limit(
    api: Api, app: Any
) -> None:
    r = await api.client.post(
        "/api/v1/sla/policies",
        headers=api.headers(ADMIN),
        json={
            "name": "社区级井盖：超时自动升级",
            "category_code": "0802",
            "handling_level": "community",
            "limits": {
                "accept": {"amount": 1, "unit": "working_hours"},
                "resolve": {"amount": 4, "unit": "working_hours"},
            },
            "auto_escalate": True,
        },
    )
    assert r.status_code == 201, r.text
    await api.client.post(
        "/api/v1/sla/policies",
        headers=api.headers(ADMIN),
        json={
            "name": "街道级井盖",
            "category_code": "0802",
            "handling_level": "street",
            "limits": {
                "accept": {"amount": 2, "unit": "working_hours"},
                "resolve": {"amount": 2, "unit": "working_days"},
            },
        },
    )
    c = await new_case(api, app)
    await accepted_and_claimed(c, sh(2026, 11, 23, 9))
    assert (await c.deadlines())["resolve"].due_at == sh(2026, 11, 23, 14, 30)
    await c.fire(sh(2026, 11, 23, 14, 31))
    async with app.state.sessionmaker() as s:
        case = await s.get(Case, c.case_id)
    assert case is not None
    assert case.status == "escalated"
    assert case.handling_level == "street"
    d = await c.deadlines()
    # The street's own acceptance limit starts at the moment of escalation.
    assert d["accept"].handling_level == "street"
    assert d["accept"].due_at == sh(2026, 11, 23, 16, 31)  # fired at 14:31, + 2 working hours
    await c.act(DISPATCHER_S1, Action.accept, sh(2026, 11, 23, 15))
    d = await c.deadlines()
    assert d["resolve"].handling_level == "street"
    assert d["resolve"].amount == 2
    assert d["resolve"].due_at == sh(2026, 11, 25, 18)
    assert len(await c.events("case.escalated")) == 1


async def test_policy_admin_only_and_validated(api: Api) -> None:
    body = {"name": "x", "limits": {"resolve": {"amount": 1, "unit": "working_days"}}}
    r = await api.client.post("/api/v1/sla/policies", json=body, headers=api.headers(DISPATCHER_C1))
    assert (r.status_code, r.json()["code"]) == (403, "missing_role")
    bad = {"name": "x", "limits": {"resolve": {"amount": 0, "unit": "fortnights"}}}
    r = await api.client.post("/api/v1/sla/policies", json=bad, headers=api.headers(ADMIN))
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {
        "limits.resolve.amount",
        "limits.resolve.unit",
    }
    first = await api.client.post("/api/v1/sla/policies", json=body, headers=api.headers(ADMIN))
    second = await api.client.post("/api/v1/sla/policies", json=body, headers=api.headers(ADMIN))
    assert second.json()["version"] == first.json()["version"] + 1
    listed = await api.get(DISPATCHER_C1, "/api/v1/sla/policies")
    assert [p["id"] for p in listed.json()] == [second.json()["id"]]


async def test_a_running_case_keeps_the_policy_it_started_under(api: Api, app: Any) -> None:
    c = await new_case(api, app)
    await accepted_and_claimed(c, sh(2026, 11, 23, 9))
    before = (await c.deadlines())["resolve"].due_at
    r = await api.client.post(
        "/api/v1/sla/policies",
        headers=api.headers(ADMIN),
        json={"name": "收紧", "limits": {"resolve": {"amount": 1, "unit": "working_hours"}}},
    )
    assert r.status_code == 201
    assert (await c.deadlines())["resolve"].due_at == before


async def test_supervision_order_answered_and_lapsed(api: Api, app: Any) -> None:
    c = await new_case(api, app)
    await accepted_and_claimed(c, sh(2026, 11, 23, 9))
    url = f"/api/v1/cases/{c.case_id}/supervisions"
    order = {
        "kind": "supervise",
        "reason": "群众多次来电，请尽快反馈",
        "respond_within": {"amount": 4, "unit": "working_hours"},
    }
    r = await api.client.post(url, json=order, headers=api.headers(DISPATCHER_C1))
    assert (r.status_code, r.json()["code"]) == (403, "missing_role")
    r = await api.client.post(url, json=order, headers=api.headers(SUPERVISOR_S2))
    assert r.status_code == 404
    first = await api.client.post(url, json=order, headers=api.headers(SUPERVISOR_S1))
    assert first.status_code == 201, first.text
    second = await api.client.post(
        url, json={**order, "kind": "urge"}, headers=api.headers(SUPERVISOR_S1)
    )
    answer = f"/api/v1/supervisions/{first.json()['id']}/response"
    r = await api.client.post(answer, json={"response": "已到场"}, headers=api.headers(RESIDENT))
    assert (r.status_code, r.json()["code"]) == (403, "not_a_handler")
    r = await api.client.post(answer, json={"response": "已到场"}, headers=api.headers(WORKER_C))
    assert (r.status_code, r.json()["code"]) == (404, "supervision_not_found")
    r = await api.client.post(
        answer, json={"response": "已到场处置，明日完成"}, headers=api.headers(WORKER_A)
    )
    assert r.status_code == 200
    assert r.json()["status"] == "responded"
    r = await api.client.post(answer, json={"response": "again"}, headers=api.headers(WORKER_A))
    assert (r.status_code, r.json()["code"]) == (409, "supervision_answered")
    # The unanswered urge order lapses when its time is up, once.
    due = datetime.fromisoformat(second.json()["response_due_at"])
    await c.fire(due + timedelta(minutes=1))
    await c.fire(due + timedelta(minutes=2))
    assert len(await c.events("case.supervision_lapsed")) == 1
    listed = await api.get(SUPERVISOR_S1, "/api/v1/supervisions", status="lapsed")
    assert [s["id"] for s in listed.json()["items"]] == [second.json()["id"]]
    assert (await api.get(SUPERVISOR_S2, "/api/v1/supervisions")).json()["items"] == []
    r = await api.get(SUPERVISOR_S1, "/api/v1/supervisions", status="bogus")
    assert r.status_code == 422


async def test_major_incident_is_reported_to_every_level_above(api: Api, app: Any) -> None:
    c = await new_case(api, app, category_code="0901", description="小区地下车库起火")
    events = await c.events("case.major_incident")
    assert len(events) == 1
    above = events[0].payload["levels_above"]
    assert above[:3] == ["330100", "330100.330106", "330100.330106.330106001"]
    assert events[0].payload["critical"] is True
    d = await c.deadlines()
    assert (d["accept"].unit, d["accept"].amount) == ("calendar_hours", 0.5)


async def test_two_workers_racing_never_double_fire(api: Api, app: Any) -> None:
    cases = [await new_case(api, app) for _ in range(6)]
    for c in cases:
        await accepted_and_claimed(c, sh(2026, 11, 23, 9))
    async with app.state.sessionmaker() as s:
        due = (
            await s.execute(
                sa.select(sa.func.count())
                .select_from(SlaTimer)
                .where(
                    col(SlaTimer.fired_at).is_(None), col(SlaTimer.due_at) <= sh(2026, 11, 24, 15)
                )
            )
        ).scalar_one()
    assert due == len(cases)  # each case's resolve reminder (dispatch and feedback were met)
    maker = app.state.sessionmaker
    results = await asyncio.gather(
        *[fire_due(maker, now=sh(2026, 11, 24, 15), limit=3) for _ in range(8)],
        *[fire_due(maker, now=sh(2026, 11, 24, 15), limit=3) for _ in range(8)],
    )
    while await fire_due(maker, now=sh(2026, 11, 24, 15), limit=3):
        pass
    assert sum(results) <= due
    async with app.state.sessionmaker() as s:
        events = (
            await s.execute(
                sa.select(OutboxEvent.case_id, OutboxEvent.type, sa.func.count())
                .where(col(OutboxEvent.type).in_(("case.deadline_approaching",)))
                .group_by(OutboxEvent.case_id, OutboxEvent.type)
            )
        ).all()
    assert len(events) == len(cases)
    assert {n for *_, n in events} == {1}


async def test_a_worker_killed_mid_batch_loses_nothing(api: Api, app: Any) -> None:
    cases = [await new_case(api, app) for _ in range(3)]
    for c in cases:
        await accepted_and_claimed(c, sh(2026, 11, 23, 9))
    maker = app.state.sessionmaker
    started = asyncio.Event()

    async def stuck(session: Any, case: Case, reason: str, now: datetime) -> bool:
        started.set()
        await asyncio.sleep(3600)
        return True

    # Auto-escalation makes the overdue timer call `stuck` mid-batch; the worker dies there.
    async with maker() as s, s.begin():
        await s.execute(sa.update(CaseDeadline).values(auto_escalate=True))
    task = asyncio.create_task(fire_due(maker, now=sh(2026, 11, 25, 9), escalate=stuck))
    await asyncio.wait_for(started.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with maker() as s:
        fired = (
            await s.execute(
                sa.select(sa.func.count())
                .select_from(SlaTimer)
                .where(col(SlaTimer.fired_at).is_not(None))
            )
        ).scalar_one()
        sups = (await s.execute(sa.select(sa.func.count()).select_from(Supervision))).scalar_one()
    assert (fired, sups) == (0, 0)  # everything of the dead batch was rolled back
    await fire_due(maker, now=sh(2026, 11, 25, 9), escalate=escalator(app.state.settings))
    for c in cases:
        assert len(await c.events("case.deadline_approaching")) == 1
        assert len(await c.events("case.overdue")) == 1
        assert len(await c.events("case.escalated")) == 1
    assert await fire_due(maker, now=sh(2026, 11, 25, 9)) == 0


async def test_default_policies_ship_with_the_catalogue(api: Api, app: Any) -> None:
    from case_service.sla.defaults import DEFAULT_POLICIES, load_default_policies

    async with app.state.sessionmaker() as s, s.begin():
        assert await load_default_policies(s) == len(DEFAULT_POLICIES)
    async with app.state.sessionmaker() as s, s.begin():
        assert await load_default_policies(s) == 0  # idempotent
    listed = (await api.get(DISPATCHER_C1, "/api/v1/sla/policies")).json()
    assert len(listed) == len(DEFAULT_POLICIES)
    # A street-level case: resolve within one working day, escalated automatically if missed.
    c = await new_case(api, app)
    await c.act(DISPATCHER_C1, Action.accept, sh(2026, 11, 23, 10))
    d = (await c.deadlines())["resolve"]
    assert (d.amount, d.unit, d.auto_escalate) == (1, "working_days", True)
    assert d.policy_id is not None


def test_working_hours_setting_is_validated_and_applied() -> None:
    from pydantic import ValidationError

    from case_service.config import Settings
    from case_service.sla.calendar import LimitUnit, parse_periods

    with pytest.raises(ValidationError, match="working_hours"):
        Settings(working_hours="9-12")
    with pytest.raises(ValidationError, match="working_hours"):
        Settings(working_hours="13:00-18:00,09:00-12:00")
    with pytest.raises(ValidationError, match="working_timezone"):
        Settings(working_timezone="Mars/Olympus")
    summer = WorkingCalendar(periods=parse_periods("08:30-12:00,14:30-18:00"))
    # 11:00 + 2 working hours with a long summer lunch: 1 h to noon, 1 h from 14:30.
    assert summer.deadline(sh(2026, 7, 1, 11), 2, LimitUnit.working_hours) == sh(2026, 7, 1, 15, 30)


async def test_relay_names_who_hears_of_overdue_and_major_incidents(api: Api, app: Any) -> None:
    """The relay asks grid_service who answers for the area (outside any transaction), stores
    the answer on the event, and sends the same body on every retry."""
    import json

    import httpx

    from case_service.clients.notify import NotifyClient
    from case_service.outbox.relay import relay_once
    from shared.http import ServiceClient

    asked: list[tuple[tuple[str, ...], tuple[str, ...], str]] = []

    async def resolve(paths: list[str], roles: tuple[str, ...], match: str) -> list[str]:
        asked.append((tuple(paths), roles, match))
        return (
            ["11111111-1111-1111-1111-111111111111"]
            if match == "covering"
            else ["22222222-2222-2222-2222-222222222222"]
        )

    posted: list[dict[str, Any]] = []
    answers = iter([503] * 2 + [200] * 1000)

    def notify(request: httpx.Request) -> httpx.Response:
        events = json.loads(request.content)["events"]  # one batch call per relay_once
        posted.extend(events)
        status = next(answers)
        if status != 200:
            return httpx.Response(status)
        return httpx.Response(200, json={"results": [{"result": "accepted"} for _ in events]})

    client = NotifyClient(
        ServiceClient(
            "http://notify.test", name="notify", retries=0, transport=httpx.MockTransport(notify)
        )
    )
    c = await new_case(api, app)
    await accepted_and_claimed(c, sh(2026, 11, 23, 9))
    await c.fire(sh(2026, 11, 25, 9))  # resolve deadline passed: case.overdue
    major = await new_case(api, app, category_code="0901", description="仓库起火")
    maker = app.state.sessionmaker
    for _ in range(3):  # notify refuses the first posts: retried later with the same body
        await relay_once(maker, client, batch=500, resolve=resolve)
        async with maker() as s, s.begin():
            await s.execute(sa.update(OutboxEvent).values(next_attempt_at=sh(2026, 1, 1)))
    overdue = [p for p in posted if p["type"] == "case.overdue"]
    assert overdue
    assert {json.dumps(p, sort_keys=True) for p in overdue} == {
        json.dumps(overdue[0], sort_keys=True)
    }
    assert overdue[0]["payload"]["supervisor_account_ids"] == [
        "11111111-1111-1111-1111-111111111111"
    ]
    majors = [p for p in posted if p["type"] == "case.major_incident"]
    assert majors[-1]["payload"]["leader_account_ids"] == ["22222222-2222-2222-2222-222222222222"]
    assert majors[-1]["case_id"] == str(major.case_id)
    covering = [a for a in asked if a[2] == "covering"]
    exact = [a for a in asked if a[2] == "exact"]
    assert len(covering) == 1  # asked once, then stored on the row
    assert covering[0][1] == ("supervisor", "grid_leader")
    assert covering[0][0] == ("330100.330106.330106001.330106001001",)
    assert exact[0][0][:2] == ("330100", "330100.330106")
