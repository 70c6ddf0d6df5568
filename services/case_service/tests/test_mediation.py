"""Dispute mediation (issue 20): the file with protected parties, 重大 upward at once, and the
procedure as a transition table — accept, mediators (AB岗), sessions with the parties told,
records, extension by consent, agreement with performance terms, referral up the levels,
judicial confirmation, return visits due at the performance deadline."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa
from conftest import (
    ADMIN,
    COMMUNITY1,
    DISPATCHER_C1,
    DISPATCHER_S1,
    GRID_A,
    LEADER_A,
    RESIDENT,
    STREET1,
    SUPERVISOR_S1,
    URBAN,
    WORKER_A,
    Api,
    Person,
)
from test_lifecycle import api_sessionmaker
from test_outbox import FakeNotify

from case_service.outbox.relay import relay_once
from case_service.sla.timers import fire_due


def shanghai_today() -> date:
    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


STREET_MEDIATOR = Person("street-med", ("grid_worker",), (STREET1,))
BACKUP = Person(str(uuid.uuid5(uuid.NAMESPACE_DNS, "backup")), ("grid_worker",), (GRID_A,))

M_COMMUNITY = uuid.uuid5(uuid.NAMESPACE_DNS, "m-community")
M_AWAY = uuid.uuid5(uuid.NAMESPACE_DNS, "m-away")
M_BACKUP = uuid.uuid5(uuid.NAMESPACE_DNS, "m-backup")
M_LEADER = uuid.uuid5(uuid.NAMESPACE_DNS, "m-leader")
M_STREET = uuid.uuid5(uuid.NAMESPACE_DNS, "m-street")
AREA_C1 = uuid.uuid5(uuid.NAMESPACE_DNS, COMMUNITY1)


def member(
    mid: uuid.UUID, post: str, path: str, account: str | None, **more: Any
) -> dict[str, Any]:
    return {
        "id": str(mid),
        "area_id": str(AREA_C1),
        "area_path": path,
        "post": post,
        "name": {
            M_COMMUNITY: "王芳",
            M_AWAY: "赵敏",
            M_BACKUP: "钱多",
            M_LEADER: "孙立",
            M_STREET: "周正",
        }[mid],
        "account_id": account,
        "backup_for_id": None,
        "away": False,
        **more,
    }


MEMBERS = {
    M_COMMUNITY: member(M_COMMUNITY, "mediator", COMMUNITY1, WORKER_A.sub),
    M_AWAY: member(M_AWAY, "mediator", COMMUNITY1, None, away=True),
    M_BACKUP: member(M_BACKUP, "lawyer", COMMUNITY1, BACKUP.sub, backup_for_id=str(M_AWAY)),
    M_LEADER: member(M_LEADER, "grid_leader", COMMUNITY1, LEADER_A.sub),
    M_STREET: member(M_STREET, "mediator", STREET1, STREET_MEDIATOR.sub),
}


class FakeDirectory:
    def __init__(self) -> None:
        self.asked: list[str] = []

    async def get(self, member_id: uuid.UUID) -> dict[str, Any] | None:
        self.asked.append(str(member_id))
        return MEMBERS.get(member_id)

    async def in_area(self, area_id: uuid.UUID) -> list[dict[str, Any]]:
        return [m for m in MEMBERS.values() if m["area_id"] == str(area_id)]


@pytest.fixture
def directory(api: Api) -> FakeDirectory:
    fake = FakeDirectory()
    api.client._transport.app.state.member_directory = fake  # type: ignore[attr-defined]
    return fake


async def rows(api: Api, sql: str, **params: Any) -> list[Any]:
    async with api_sessionmaker(api)() as session:
        return list((await session.execute(sa.text(sql), params)).all())


async def event_types(api: Api, case_id: str) -> list[str]:
    found = await rows(
        api, "SELECT type FROM outbox_event WHERE case_id = :id ORDER BY created_at", id=case_id
    )
    return [r.type for r in found]


PARTIES = [
    {
        "side": "applicant",
        "name": "张三",
        "phone": "13800000001",
        "id_number": "330106198001011234",
    },
    {"side": "respondent", "name": "李四", "phone": "13800000002"},
]


async def dispute_case(api: Api, **file: Any) -> tuple[dict[str, Any], httpx.Response]:
    case = await api.report(RESIDENT, category_code="0101", description="楼上漏水，邻里争执")
    body = {
        "dispute_type": "邻里纠纷",
        "facts": "楼上装修漏水致楼下受损",
        "people_involved": 2,
        "amount_yuan": "3000",
        "parties": PARTIES,
        **file,
    }
    r = await api.client.post(
        f"/api/v1/cases/{case['id']}/mediation", json=body, headers=api.headers(DISPATCHER_C1)
    )
    return case, r


async def step(
    api: Api, who: Person, case_id: str, action: str, expect: int = 200, **body: Any
) -> dict[str, Any]:
    r = await api.client.post(
        f"/api/v1/cases/{case_id}/mediation/actions/{action}", json=body, headers=api.headers(who)
    )
    assert r.status_code == expect, r.text
    return dict(r.json())


# ------------------------------------------------------------------------------ the file


async def test_parties_are_encrypted_masked_and_reveals_audited(api: Api) -> None:
    case, r = await dispute_case(api)
    assert r.status_code == 201, r.text
    file = r.json()
    assert file["status"] == "registered"
    assert file["level"] == "community"
    assert file["level_area_path"] == COMMUNITY1
    assert file["risk_level"] == "general"
    assert file["risk_title"] == "一般"
    applicant = file["parties"][0]
    assert applicant["name"] == "张*"
    assert applicant["phone"] == "138****0001"
    assert applicant["id_number"] == "330106********1234"
    assert applicant["masked"] is True
    stored = await rows(
        api, "SELECT name, phone, id_number, phone_hash FROM dispute_party ORDER BY ord"
    )
    assert all("张三" not in r.name and "李四" not in r.name for r in stored)
    assert "13800000001" not in stored[0].phone
    assert stored[0].phone_hash
    assert "330106198001011234" not in stored[0].id_number
    # the dispatcher reveals, with a reason, into the append-only audit
    url = f"/api/v1/cases/{case['id']}/mediation"
    full = await api.get(DISPATCHER_C1, url, reveal="true", reason="电话通知调解时间")
    assert full.status_code == 200, full.text
    assert full.json()["parties"][0]["name"] == "张三"
    assert full.json()["parties"][0]["id_number"] == "330106198001011234"
    no_reason = await api.get(DISPATCHER_C1, url, reveal="true")
    assert no_reason.status_code == 422
    assert no_reason.json()["errors"][0]["field"] == "query.reason"
    # the reporter sees the file, masked, and may not reveal
    assert (await api.get(RESIDENT, url)).json()["parties"][1]["name"] == "李*"
    denied = await api.get(RESIDENT, url, reveal="true", reason="想看")
    assert denied.status_code == 403
    assert denied.json()["code"] == "reveal_not_allowed"
    audit = await api.get(SUPERVISOR_S1, f"{url}/reveals")
    assert audit.status_code == 200
    assert [(a["actor_id"], a["reason"]) for a in audit.json()["items"]] == [
        (DISPATCHER_C1.sub, "电话通知调解时间")
    ]
    with pytest.raises(sa.exc.DBAPIError):
        async with api_sessionmaker(api)() as session, session.begin():
            await session.execute(sa.text("DELETE FROM dispute_party_reveal"))
    timeline = (await api.get(ADMIN, f"/api/v1/cases/{case['id']}/timeline")).json()
    assert ("mediation", "registered") in [(e["kind"], e["action"]) for e in timeline]
    assert "mediation.registered" in await event_types(api, case["id"])


async def test_a_party_without_a_name_is_422_and_nothing_is_written(api: Api) -> None:
    _, r = await dispute_case(
        api, parties=[{"side": "applicant", "phone": "13800000001"}, PARTIES[1]]
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "parties.0.name"
    assert r.headers["content-type"].startswith("application/problem+json")
    one_side = await dispute_case(api, parties=[PARTIES[0], {**PARTIES[0], "name": "王五"}])
    assert one_side[1].status_code == 422
    assert one_side[1].json()["code"] == "parties_incomplete"
    assert await rows(api, "SELECT id FROM dispute") == []
    assert await rows(api, "SELECT id FROM dispute_party") == []


async def test_six_people_involved_is_major_and_goes_upward_at_once(api: Api) -> None:
    case, r = await dispute_case(api, people_involved=6, risk_level="general")
    assert r.status_code == 201, r.text
    assert r.json()["risk_level"] == "major"
    assert r.json()["risk_title"] == "重大"
    got = (await api.get(ADMIN, f"/api/v1/cases/{case['id']}")).json()
    assert got["major"] is True
    found = await rows(
        api,
        "SELECT payload FROM outbox_event WHERE case_id = :id AND type = 'case.major_incident'",
        id=case["id"],
    )
    assert len(found) == 1
    assert COMMUNITY1 in found[0].payload["levels_above"]
    assert found[0].payload["critical"] is True
    timeline = (await api.get(ADMIN, f"/api/v1/cases/{case['id']}/timeline")).json()
    major = next(e for e in timeline if (e["kind"], e["action"]) == ("mediation", "major"))
    assert "6" in major["reason"]


async def test_escalating_dispute_is_major_once_even_when_changed_later(api: Api) -> None:
    case, r = await dispute_case(api)
    assert r.json()["risk_level"] == "general"
    url = f"/api/v1/cases/{case['id']}/mediation"
    changed = await api.client.patch(
        url, json={"escalating": True}, headers=api.headers(DISPATCHER_C1)
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["risk_level"] == "major"
    again = await api.client.patch(
        url, json={"people_involved": 9}, headers=api.headers(DISPATCHER_C1)
    )
    assert again.status_code == 200
    assert (await event_types(api, case["id"])).count("case.major_incident") == 1


async def test_threshold_is_configurable(api: Api) -> None:
    from case_service.mediation import service

    service.configure(major_people_threshold=10)
    try:
        _, r = await dispute_case(api, people_involved=6)
        assert r.json()["risk_level"] == "general"
    finally:
        service.configure(major_people_threshold=5)


async def test_other_categories_are_turned_into_disputes_by_a_dispatcher_only(api: Api) -> None:
    case = await api.report(RESIDENT)  # 0802, not a 矛盾纠纷 category
    body = {"dispute_type": "邻里纠纷", "people_involved": 2, "parties": PARTIES}
    url = f"/api/v1/cases/{case['id']}/mediation"
    denied = await api.client.post(url, json=body, headers=api.headers(LEADER_A))
    assert denied.status_code == 403
    assert denied.json()["code"] == "mediation_not_permitted"
    made = await api.client.post(url, json=body, headers=api.headers(DISPATCHER_C1))
    assert made.status_code == 201
    assert made.json()["converted"] is True
    twice = await api.client.post(url, json=body, headers=api.headers(DISPATCHER_C1))
    assert twice.status_code == 409
    assert twice.json()["code"] == "dispute_exists"


# ------------------------------------------------------------------------------ procedure


async def test_the_procedure_from_acceptance_to_performance(
    api: Api, directory: FakeDirectory
) -> None:
    case, _r = await dispute_case(api)
    cid = case["id"]
    # the transition table: no agreement before acceptance
    early = await step(api, DISPATCHER_C1, cid, "agree", 409)
    assert early["code"] == "illegal_mediation_transition"
    assert early["allowed_actions"] == ["accept", "refuse"]
    accepted = await step(api, DISPATCHER_C1, cid, "accept")
    assert accepted["status"] == "accepted"
    due = datetime.fromisoformat(accepted["due_at"])
    assert timedelta(days=27) < due - datetime.now(UTC) < timedelta(days=36)
    # an away mediator is replaced by their backup (AB岗); a grid leader is no mediator
    wrong = await step(api, DISPATCHER_C1, cid, "assign", 422, member_ids=[str(M_LEADER)])
    assert wrong["errors"][0]["field"] == "member_ids[0]"
    assert wrong["code"] == "not_a_mediation_post"
    assigned = await step(
        api, DISPATCHER_C1, cid, "assign", member_ids=[str(M_COMMUNITY), str(M_AWAY)]
    )
    assert assigned["status"] == "mediating"
    assert [(m["name"], m["backup_for_member_id"]) for m in assigned["mediators"]] == [
        ("王芳", None),
        ("钱多", str(M_AWAY)),
    ]
    # a resident and an unassigned role may not mediate; the assigned mediator may
    when = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    session = {"starts_at": when, "place": "社区调解室", "attendees": ["张三", "李四"]}
    no = await step(api, RESIDENT, cid, "schedule_session", 403, session=session)
    assert no["code"] == "mediation_not_permitted"
    assert (await step(api, WORKER_A, cid, "accept", 409))["code"] == "illegal_mediation_transition"
    first = await step(api, WORKER_A, cid, "schedule_session", session=session)
    await step(api, BACKUP, cid, "record_session", session_number=1, record="第一次调解：双方陈述")
    second = await step(
        api, WORKER_A, cid, "schedule_session", session={**session, "place": "调解中心"}
    )
    assert [s["number"] for s in second["sessions"]] == [1, 2]
    assert first["sessions"][0]["notified"] == 2
    # each party is told the time and place: the phones travel sealed, opened by the relay
    sealed = await rows(
        api,
        "SELECT payload FROM outbox_event WHERE case_id = :id"
        " AND type = 'mediation.schedule_session'",
        id=cid,
    )
    assert len(sealed) == 2
    assert "13800000001" not in json.dumps(sealed[0].payload)
    notify = FakeNotify()
    await relay_once(api_sessionmaker(api), notify.client(), batch=200)
    sessions = [p for p in notify.posted() if p["type"] == "mediation.schedule_session"]
    assert [c["phone"] for c in sessions[0]["payload"]["contacts"]] == [
        "13800000001",
        "13800000002",
    ]
    assert sessions[1]["payload"]["session_place"] == "调解中心"
    assert "contacts_sealed" not in sessions[0]["payload"]
    # an extension needs both parties' consent
    ext = {"days": 10, "reason": "等待鉴定"}
    refused = await step(
        api, WORKER_A, cid, "extend", 422, **ext, consents={"applicant": True, "respondent": False}
    )
    assert refused["errors"][0]["field"] == "consents.respondent"
    extended = await step(
        api, WORKER_A, cid, "extend", **ext, consents={"applicant": True, "respondent": True}
    )
    assert datetime.fromisoformat(extended["due_at"]) > due
    # an agreement without performance terms is 422 naming the field; nothing half-written
    deadline = (shanghai_today() + timedelta(days=20)).isoformat()
    term = {
        "content": "李四赔偿张三3000元",
        "manner": "银行转账",
        "place": "社区调解室",
        "deadline_on": deadline,
    }
    bad = await step(
        api,
        WORKER_A,
        cid,
        "agree",
        422,
        responsibility="李四承担责任",
        terms=[{k: v for k, v in term.items() if k != "manner"}],
    )
    assert bad["errors"][0]["field"] == "terms.0.manner"
    none = await step(api, WORKER_A, cid, "agree", 422, responsibility="李四承担责任")
    assert none["errors"][0]["field"] == "terms"
    assert await rows(api, "SELECT id FROM dispute_term") == []
    assert (await api.get(ADMIN, f"/api/v1/cases/{cid}/mediation")).json()["status"] == "mediating"
    agreed = await step(api, WORKER_A, cid, "agree", responsibility="李四承担责任", terms=[term])
    assert agreed["status"] == "agreed"
    assert agreed["confirmation_due_on"] == (shanghai_today() + timedelta(days=30)).isoformat()
    # judicial confirmation
    applied = await step(api, DISPATCHER_C1, cid, "apply_confirmation", court="西湖区人民法院")
    assert applied["judicial_status"] == "applied"
    assert (await step(api, DISPATCHER_C1, cid, "confirm"))["judicial_status"] == "confirmed"
    # the return visit falls due at the performance deadline (the timer), told to the mediators
    maker = api_sessionmaker(api)
    term_due = datetime.fromisoformat(agreed["terms"][0]["visit_due_at"])
    await fire_due(maker, now=term_due - timedelta(minutes=1))
    assert "mediation.visit_due" not in await event_types(api, cid)
    await fire_due(maker, now=term_due + timedelta(minutes=1))
    visit = await rows(
        api,
        "SELECT payload FROM outbox_event WHERE case_id = :id AND type = 'mediation.visit_due'",
        id=cid,
    )
    assert sorted(visit[0].payload["assignee_account_ids"]) == sorted([WORKER_A.sub, BACKUP.sub])
    term_id = agreed["terms"][0]["id"]
    not_yet = await step(
        api, WORKER_A, cid, "visit_not_performed", term_id=term_id, note="尚未付款"
    )
    assert not_yet["terms"][0]["performance"] == "not_performed"
    urged = await step(api, WORKER_A, cid, "urge", term_id=term_id, note="电话督促")
    assert urged["terms"][0]["performance"] == "urged"
    done = await step(api, WORKER_A, cid, "visit_performed", term_id=term_id, note="已转账")
    assert done["status"] == "performed"
    assert done["terms"][0]["performance"] == "performed"
    timeline = (await api.get(ADMIN, f"/api/v1/cases/{cid}/timeline")).json()
    actions = [e["action"] for e in timeline if e["kind"] == "mediation"]
    # (the timer fired at a clock set 20 days ahead, so its entry sorts last)
    assert actions == [
        "registered",
        "accept",
        "assign",
        "schedule_session",
        "record_session",
        "schedule_session",
        "extend",
        "agree",
        "apply_confirmation",
        "confirm",
        "visit_not_performed",
        "urge",
        "visit_performed",
        "visit_due",
    ]
    types = await event_types(api, cid)
    assert types.count("mediation.schedule_session") == 2
    assert "mediation.visit_performed" in types


async def test_no_agreement_goes_up_the_levels_then_to_court(
    api: Api, directory: FakeDirectory
) -> None:
    case, _ = await dispute_case(api)
    cid = case["id"]
    await step(api, DISPATCHER_C1, cid, "accept")
    await step(api, DISPATCHER_C1, cid, "assign", member_ids=[str(M_COMMUNITY)])
    failed = await step(api, WORKER_A, cid, "fail", reason="双方对赔偿数额分歧较大")
    assert failed["allowed_actions"] == ["refer_up", "refer_department", "advise_court"]
    # a community dispatcher cannot act for the street; a street mediator is not a community one
    up = await step(api, DISPATCHER_C1, cid, "refer_up", reason="社区调解不成")
    assert up["level"] == "street"
    assert up["level_area_path"] == STREET1
    assert up["status"] == "accepted"
    assert all(not m["active"] for m in up["mediators"])
    assert (await step(api, DISPATCHER_C1, cid, "assign", 403, member_ids=[str(M_STREET)]))[
        "code"
    ] == "mediation_not_permitted"
    outside = await step(api, DISPATCHER_S1, cid, "assign", 200, member_ids=[str(M_STREET)])
    assert outside["mediators"][-1]["level"] == "street"
    assert (await step(api, WORKER_A, cid, "fail", 403, reason="x"))[
        "code"
    ] == "mediation_not_permitted"
    await step(api, STREET_MEDIATOR, cid, "fail", reason="街道调处仍未达成")
    court = await step(api, DISPATCHER_S1, cid, "advise_court", reason="告知当事人向人民法院起诉")
    assert court["status"] == "advised_court"
    assert court["allowed_actions"] == []
    timeline = (await api.get(ADMIN, f"/api/v1/cases/{cid}/timeline")).json()
    steps = [(e["action"], e["data"].get("level")) for e in timeline if e["kind"] == "mediation"]
    assert steps == [
        ("registered", "community"),
        ("accept", "community"),
        ("assign", "community"),
        ("fail", "community"),
        ("refer_up", "community"),
        ("assign", "street"),
        ("fail", "street"),
        ("advise_court", "street"),
    ]
    refer = next(e for e in timeline if (e["kind"], e["action"]) == ("mediation", "refer_up"))
    assert refer["data"]["to_level"] == "street"
    assert refer["data"]["level_title"] == "街道（乡镇）矛盾纠纷调处中心"


async def test_refusal_needs_a_reason_and_other_roles_get_403(api: Api) -> None:
    case, _ = await dispute_case(api)
    cid = case["id"]
    missing = await step(api, DISPATCHER_C1, cid, "refuse", 422)
    assert missing["errors"][0]["field"] == "reason"
    assert (await step(api, RESIDENT, cid, "accept", 403))["code"] == "mediation_not_permitted"
    assert (await step(api, URBAN, cid, "accept", 404))["code"] == "case_not_found"
    refused = await step(api, LEADER_A, cid, "refuse", reason="当事人已向人民法院起诉")
    assert refused["status"] == "refused"
    assert refused["refused_reason"] == "当事人已向人民法院起诉"
    en = await api.client.post(
        f"/api/v1/cases/{cid}/mediation/actions/accept",
        json={},
        headers=api.headers(DISPATCHER_C1, **{"Accept-Language": "en"}),
    )
    assert en.status_code == 409
    assert "not possible" in en.json()["detail"]


async def test_judicial_confirmation_only_within_30_days(
    api: Api, directory: FakeDirectory
) -> None:
    case, _ = await dispute_case(api)
    cid = case["id"]
    await step(api, DISPATCHER_C1, cid, "accept")
    await step(api, DISPATCHER_C1, cid, "assign", member_ids=[str(M_COMMUNITY)])
    term = {
        "content": "赔偿",
        "manner": "现金",
        "place": "社区",
        "deadline_on": (shanghai_today() + timedelta(days=5)).isoformat(),
    }
    await step(api, WORKER_A, cid, "agree", responsibility="各半", terms=[term])
    async with api_sessionmaker(api)() as session, session.begin():
        await session.execute(
            sa.text("UPDATE dispute SET agreed_at = agreed_at - interval '31 days'")
        )
    late = await step(api, DISPATCHER_C1, cid, "apply_confirmation", 409, court="西湖区人民法院")
    assert late["code"] == "confirmation_window_passed"


# ------------------------------------------------------------------------------ documents


async def agreed_case(api: Api) -> tuple[str, dict[str, Any]]:
    case, _ = await dispute_case(api)
    cid = case["id"]
    await step(api, DISPATCHER_C1, cid, "accept")
    await step(api, DISPATCHER_C1, cid, "assign", member_ids=[str(M_COMMUNITY)])
    when = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    await step(
        api,
        WORKER_A,
        cid,
        "schedule_session",
        session={"starts_at": when, "place": "社区调解室", "attendees": ["张三", "李四", "王芳"]},
    )
    await step(
        api,
        WORKER_A,
        cid,
        "record_session",
        session_number=1,
        record="申请人称楼上漏水致天花板受损；被申请人承认装修不当。",
    )
    terms = [
        {
            "content": "李四赔偿张三维修费3000元",
            "manner": "银行转账",
            "place": "社区调解室",
            "deadline_on": "2026-12-31",
        },
        {
            "content": "李四修复防水层",
            "manner": "委托施工队维修",
            "place": "李四住所",
            "deadline_on": "2027-01-15",
        },
    ]
    agreed = await step(
        api, WORKER_A, cid, "agree", responsibility="李四装修不当，承担全部责任", terms=terms
    )
    return cid, agreed


async def test_the_agreement_docx_holds_every_required_element(
    api: Api, directory: FakeDirectory
) -> None:
    from case_service.mediation.documents import docx_text

    cid, _ = await agreed_case(api)
    url = f"/api/v1/cases/{cid}/mediation/agreement.docx"
    r = await api.get(WORKER_A, url)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    text = docx_text(r.content)
    for element in [
        "人民调解协议书",
        "申请人：张三",
        "身份证号码：330106198001011234",
        "联系电话：13800000001",
        "被申请人：李四",
        "楼上装修漏水致楼下受损",  # facts
        "李四装修不当，承担全部责任",  # responsibility
        "协议内容 | 履行方式 | 履行地点 | 履行期限",
        "李四赔偿张三维修费3000元 | 银行转账 | 社区调解室 | 2026年12月31日前",
        "李四修复防水层 | 委托施工队维修 | 李四住所 | 2027年01月15日前",
        "申请人（签名或盖章）：张三",
        "被申请人（签名或盖章）：李四",
        "调解员（签名）：王芳",
        "社区（村）人民调解委员会（印章）",
        "三十日内共同向人民法院申请司法确认",
        "一式3份",
    ]:
        assert element in text, element
    # printing the parties in full is a reveal, audited; a resident may not
    audit = (await api.get(ADMIN, f"/api/v1/cases/{cid}/mediation/reveals")).json()["items"]
    assert [(a["actor_id"], a["purpose"]) for a in audit] == [(WORKER_A.sub, "agreement_docx")]
    denied = await api.get(RESIDENT, url)
    assert denied.status_code == 403
    assert denied.json()["code"] == "mediation_not_permitted"
    record = await api.get(WORKER_A, f"/api/v1/cases/{cid}/mediation/sessions/1/record.docx")
    assert record.status_code == 200
    record_text = docx_text(record.content)
    for element in [
        "人民调解笔录",
        "第1次调解",
        "地点：社区调解室",
        "参加人员：张三、李四、王芳",
        "被申请人承认装修不当",
        "调解员（签名）：王芳",
        "记录人（签名）",
    ]:
        assert element in record_text, element
    missing = await api.get(WORKER_A, f"/api/v1/cases/{cid}/mediation/sessions/9/record.docx")
    assert missing.status_code == 404
    assert missing.json()["code"] == "session_not_found"


async def test_no_agreement_document_before_an_agreement(api: Api) -> None:
    case, _ = await dispute_case(api)
    r = await api.get(DISPATCHER_C1, f"/api/v1/cases/{case['id']}/mediation/agreement.docx")
    assert r.status_code == 409
    assert r.json()["code"] == "no_agreement"


async def test_an_administrator_changes_the_template_but_not_its_required_elements(
    api: Api, directory: FakeDirectory
) -> None:
    from case_service.mediation.documents import docx_text

    url = "/api/v1/mediation/templates/agreement"
    current = (await api.get(ADMIN, url)).json()
    assert current["customised"] is False
    assert "terms" in current["required_placeholders"]
    blocks = current["blocks"]
    without_terms = [b for b in blocks if b["text"] != "{terms}"]
    h = api.headers(ADMIN)
    bad = await api.client.put(url, json={"title": "协议书", "blocks": without_terms}, headers=h)
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_template"
    assert bad.json()["errors"][0]["field"] == "blocks"
    assert "{terms}" in bad.json()["errors"][0]["reason"]
    unknown = [*blocks, {"kind": "paragraph", "text": "{secret}"}]
    r = await api.client.put(url, json={"title": "协议书", "blocks": unknown}, headers=h)
    assert r.json()["errors"][0]["field"] == f"blocks[{len(blocks)}].text"
    mine = [{"kind": "heading", "text": "西湖区矛盾纠纷多元化解"}, *blocks]
    denied = await api.client.put(
        url, json={"title": "协议书", "blocks": mine}, headers=api.headers(DISPATCHER_C1)
    )
    assert denied.status_code == 403
    ok = await api.client.put(
        url, json={"title": "西湖区人民调解协议书", "blocks": mine}, headers=h
    )
    assert ok.status_code == 200
    assert ok.json()["version"] == 1
    assert ok.json()["customised"] is True
    cid, _ = await agreed_case(api)
    text = docx_text(
        (await api.get(WORKER_A, f"/api/v1/cases/{cid}/mediation/agreement.docx")).content
    )
    assert "西湖区人民调解协议书" in text
    assert "西湖区矛盾纠纷多元化解" in text
    assert "银行转账" in text
    reset = await api.client.delete(url, headers=h)
    assert reset.json()["customised"] is False


# ------------------------------------------------------------------------------ ledger, indicators


async def files_in_states(api: Api) -> list[dict[str, Any]]:
    """Four disputes: registered; agreed, performed and confirmed; failed and advised to
    court; a 重大 labour dispute of 6 people."""
    case1, _ = await dispute_case(api)
    cid2, agreed = await agreed_case(api)
    await step(api, DISPATCHER_C1, cid2, "apply_confirmation", court="西湖区人民法院")
    await step(api, DISPATCHER_C1, cid2, "confirm")
    for t in agreed["terms"]:
        await step(api, WORKER_A, cid2, "visit_performed", term_id=t["id"], note="已履行")
    case3, _ = await dispute_case(api)
    await step(api, DISPATCHER_C1, case3["id"], "accept")
    await step(api, DISPATCHER_C1, case3["id"], "assign", member_ids=[str(M_COMMUNITY)])
    await step(api, WORKER_A, case3["id"], "fail", reason="分歧较大")
    await step(api, DISPATCHER_C1, case3["id"], "advise_court", reason="告知诉讼")
    case4, _ = await dispute_case(api, dispute_type="劳动纠纷", people_involved=6)
    ids = [case1["id"], cid2, case3["id"], case4["id"]]
    return [(await api.get(ADMIN, f"/api/v1/cases/{i}/mediation")).json() for i in ids]


async def test_indicators_equal_a_recount_and_the_ledger_reads_back(
    api: Api, directory: FakeDirectory
) -> None:
    from openpyxl import load_workbook

    files = await files_in_states(api)
    month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    r = await api.get(
        DISPATCHER_C1,
        "/api/v1/mediation/indicators",
        area_path=COMMUNITY1,
        from_month=month,
        by="type",
    )
    assert r.status_code == 200, r.text
    table = r.json()

    def recount(group: list[dict[str, Any]]) -> dict[str, Any]:
        accepted = [f for f in group if f["accepted_at"]]
        agreed = [f for f in group if f["agreed_at"]]
        return {
            "registered": len(group),
            "accepted": len(accepted),
            "agreements": len(agreed),
            "performed": len([f for f in group if f["status"] == "performed"]),
            "confirmed": len([f for f in group if f["judicial_status"] == "confirmed"]),
            "major": len([f for f in group if f["risk_level"] == "major"]),
            "group": len([f for f in group if f["people_involved"] >= 5]),
        }

    def shown(g: dict[str, Any]) -> dict[str, Any]:
        return {
            "registered": g["registered"],
            "accepted": g["accepted"],
            "agreements": g["mediated_successfully"]["numerator"],
            "performed": g["performed"]["numerator"],
            "confirmed": g["judicially_confirmed"],
            "major": g["major"],
            "group": g["group_disputes"],
        }

    by_type = {g["key"]: g for g in table["groups"]}
    assert set(by_type) == {"邻里纠纷", "劳动纠纷"}
    for key, g in by_type.items():
        assert shown(g) == recount([f for f in files if f["dispute_type"] == key]), key
    assert shown(table["total"]) == recount(files)
    assert table["total"]["mediated_successfully"]["rate"] == 0.5  # 1 agreement of 2 accepted
    assert table["total"]["performed"]["rate"] == 1.0
    by_month = await api.get(
        DISPATCHER_C1,
        "/api/v1/mediation/indicators",
        area_path=COMMUNITY1,
        from_month=month,
        by="month",
    )
    assert [g["key"] for g in by_month.json()["groups"]] == [month]
    # the ledger: one row per dispute, parties masked
    x = await api.get(
        DISPATCHER_C1, "/api/v1/mediation/ledger", area_path=COMMUNITY1, from_month=month
    )
    assert x.status_code == 200, x.text
    sheet = load_workbook(io.BytesIO(x.content)).active
    assert sheet is not None
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0][:3] == ["案件编号", "登记日期", "纠纷类型"]
    assert [r[0] for r in rows[1:]] == [f["case_number"] for f in files]
    assert rows[1][4] == "张*、李*"
    assert [r[7] for r in rows[1:]] == ["一般", "一般", "一般", "重大"]
    assert [r[9] for r in rows[1:]] == ["已登记", "已履行", "已告知诉讼", "已登记"]
    assert rows[2][13] == "已确认"
    assert "张三" not in json.dumps(rows, ensure_ascii=False)
    # the same ledger as JSON (the console's page): the same rows, each with its case id
    j = await api.get(
        DISPATCHER_C1,
        "/api/v1/mediation/ledger",
        area_path=COMMUNITY1,
        from_month=month,
        format="json",
    )
    assert j.status_code == 200, j.text
    assert j.headers["content-type"].startswith("application/json")
    entries = j.json()["items"]
    assert [e["case_id"] for e in entries] == [f["case_id"] for f in files]
    # XLSX keeps no empty strings: "" reads back as None
    assert [[v if v != "" else None for v in list(e.values())[1:]] for e in entries] == rows[1:]
    assert entries[0]["parties"] == "张*、李*"
    assert entries[1]["judicial"] == "已确认"
    assert "张三" not in j.text
    assert (
        await api.get(
            DISPATCHER_C1,
            "/api/v1/mediation/ledger",
            area_path=COMMUNITY1,
            from_month=month,
            format="csv",
        )
    ).json()["errors"][0]["field"] == "query.format"
    # another community's dispatcher, a bad month
    from conftest import DISPATCHER_C2

    other = await api.get(
        DISPATCHER_C2, "/api/v1/mediation/ledger", area_path=COMMUNITY1, from_month=month
    )
    assert other.status_code == 403
    assert other.json()["code"] == "area_not_covered"
    bad = await api.get(
        DISPATCHER_C1, "/api/v1/mediation/indicators", area_path=COMMUNITY1, from_month="2026-13"
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "query.from_month"
    for path in ("/api/v1/mediation/ledger", "/api/v1/mediation/indicators"):
        year0 = await api.get(DISPATCHER_C1, path, area_path=COMMUNITY1, from_month="0000-01")
        assert year0.status_code == 422, year0.text  # was a 500: year 0 is no date
        assert year0.json()["errors"][0]["field"] == "query.from_month"
    empty = await api.get(
        DISPATCHER_C1, "/api/v1/mediation/indicators", area_path=COMMUNITY1, from_month="2020-01"
    )
    assert empty.json()["total"]["registered"] == 0
    assert empty.json()["total"]["mediated_successfully"]["rate"] is None


async def test_the_whole_file_downloads_as_one_archive(api: Api, directory: FakeDirectory) -> None:
    """一档一册: the file, the timeline, the agreement, each record and the attachments."""
    import zipfile

    from test_attachments import PNG, upload

    from case_service.mediation.documents import docx_text

    status, photo = await upload(api, RESIDENT, "漏水.png", PNG, declared="image/png")
    assert status == 201
    case = await api.report(RESIDENT, category_code="0101", attachment_ids=[photo["id"]])
    cid = case["id"]
    body = {"dispute_type": "邻里纠纷", "facts": "漏水", "people_involved": 2, "parties": PARTIES}
    r = await api.client.post(
        f"/api/v1/cases/{cid}/mediation", json=body, headers=api.headers(DISPATCHER_C1)
    )
    assert r.status_code == 201, r.text
    await step(api, DISPATCHER_C1, cid, "accept")
    await step(api, DISPATCHER_C1, cid, "assign", member_ids=[str(M_COMMUNITY)])
    when = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    await step(
        api, WORKER_A, cid, "schedule_session", session={"starts_at": when, "place": "调解室"}
    )
    await step(api, WORKER_A, cid, "record_session", session_number=1, record="双方同意赔偿")
    term = {
        "content": "赔偿3000元",
        "manner": "转账",
        "place": "调解室",
        "deadline_on": "2027-01-31",
    }
    await step(api, WORKER_A, cid, "agree", responsibility="李四负责", terms=[term])
    url = f"/api/v1/cases/{cid}/mediation/archive.zip"
    assert (await api.get(RESIDENT, url)).status_code == 403
    got = await api.get(WORKER_A, url)
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "application/zip"
    zf = zipfile.ZipFile(io.BytesIO(got.content))
    names = zf.namelist()
    assert {"档案.json", "时间线.json", "调解协议书.docx", "调解笔录-第1次.docx"} <= set(names)
    assert [n for n in names if n.startswith("附件/")] == [f"附件/{photo['id']}-漏水.png"]
    assert zf.read(f"附件/{photo['id']}-漏水.png") == PNG
    file = json.loads(zf.read("档案.json"))
    assert file["parties"][0]["name"] == "张三"
    assert file["status"] == "agreed"
    steps = [e["action"] for e in json.loads(zf.read("时间线.json"))]
    assert steps[0] == "report"
    assert "agree" in steps
    assert "赔偿3000元 | 转账 | 调解室" in docx_text(zf.read("调解协议书.docx"))
    assert "双方同意赔偿" in docx_text(zf.read("调解笔录-第1次.docx"))
    audit = (await api.get(ADMIN, f"/api/v1/cases/{cid}/mediation/reveals")).json()["items"]
    assert [a["purpose"] for a in audit] == ["archive"]


async def test_an_open_mediation_past_its_one_month_limit_raises_the_alert_once(
    api: Api, directory: FakeDirectory
) -> None:
    case, _r = await dispute_case(api)
    cid = case["id"]
    accepted = await step(api, DISPATCHER_C1, cid, "accept")
    due = datetime.fromisoformat(accepted["due_at"])
    maker = api_sessionmaker(api)
    await fire_due(maker, now=due - timedelta(minutes=1))
    assert "mediation.overdue" not in await event_types(api, cid)
    await fire_due(maker, now=due + timedelta(minutes=1))
    await fire_due(maker, now=due + timedelta(minutes=2))  # fired once, not again
    assert (await event_types(api, cid)).count("mediation.overdue") == 1
    notice = await rows(
        api,
        "SELECT template_key, recipients FROM mediation_notice WHERE kind = 'overdue'"
        " AND dedup_key LIKE :key",
        key=f"overdue:%:{due.isoformat()}",
    )
    assert [n.template_key for n in notice] == ["mediation_overdue"]
    timeline = await api.get(DISPATCHER_C1, f"/api/v1/cases/{cid}/timeline")
    overdue = [e for e in timeline.json() if e["kind"] == "mediation" and e["action"] == "overdue"]
    assert len(overdue) == 1
    assert "调解期限" in overdue[0]["reason"]


async def test_an_agreed_dispute_raises_no_overdue_alert(
    api: Api, directory: FakeDirectory
) -> None:
    cid, agreed = await agreed_case(api)
    due = datetime.fromisoformat(agreed["due_at"])
    await fire_due(api_sessionmaker(api), now=due + timedelta(minutes=1))
    assert "mediation.overdue" not in await event_types(api, cid)
