"""Dispute mediation across the running services (issue 20's three disputes).

(1) A neighbours' dispute reported by a resident: a community mediator from grid_service's
members, two sessions with both parties told by SMS (outbox → notify_service), the agreement
DOCX read back holding every required element, judicial confirmation, the return visit due at
the performance deadline (the timer worker) and recorded. (2) No agreement at the community →
the street mediation centre → no agreement → advised to court, each step on the timeline.
(3) Six people involved: 重大, reported upward at once (the district dispatcher hears).
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from case_service.mediation.documents import docx_text
from tests.helpers import HOME, PASSWORD, Person, eventually, login, query
from tests.system import System

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _phone() -> str:
    return f"137{random.randrange(10**8):08d}"


class Mediation:
    def __init__(self, system: System, client: httpx.AsyncClient) -> None:
        self.system = system
        self.client = client
        self.case_url = system["case"].url

    async def areas(self, level: str) -> list[dict[str, Any]]:
        r = await self.client.get(
            self.system["grid"].url + "/api/v1/areas", params={"level": level, "limit": 100}
        )
        assert r.status_code == 200, r.text
        return list(r.json()["items"])

    async def mediator(self, admin: Person, area: dict[str, Any], post: str) -> tuple[str, Person]:
        """An account and the member post it holds (调解员 of a community or a street centre)."""
        grid = self.system["grid"].url
        username = f"med-{random.randrange(10**8)}"
        r = await self.client.post(
            grid + "/api/v1/accounts",
            headers=admin.headers,
            json={
                "username": username,
                "name": "调解员",
                "password": PASSWORD,
                "roles": ["grid_worker"],
                "area_paths": [area["path"]],
            },
        )
        assert r.status_code == 201, r.text
        account_id = r.json()["id"]
        r = await self.client.post(
            grid + "/api/v1/members",
            headers=admin.headers,
            json={
                "area_id": area["id"],
                "post": post,
                "name": "周调解",
                "phone": _phone(),
                "account_id": account_id,
                "duties": "矛盾纠纷调解",
            },
        )
        assert r.status_code == 201, r.text
        return r.json()["id"], await login(self.system, username)

    async def dispute(
        self, resident: Person, dispatcher: Person, **file: Any
    ) -> tuple[str, list[str]]:
        r = await self.client.post(
            self.case_url + "/api/v1/cases",
            headers=resident.headers,
            json={
                "category_code": "0101",
                "channel": "mini_program",
                "description": "楼上装修漏水，邻里争执",
                "location": dict(HOME),
                "reporter": {"name": "李娜", "phone": "13900000007"},
            },
        )
        assert r.status_code == 201, r.text
        case_id = r.json()["id"]
        phones = [_phone(), _phone()]
        body = {
            "dispute_type": "邻里纠纷",
            "facts": "楼上住户装修漏水，致楼下天花板受损",
            "people_involved": 2,
            "amount_yuan": "3000",
            "parties": [
                {
                    "side": "applicant",
                    "name": "张建华",
                    "phone": phones[0],
                    "id_number": "33010619800101123X",
                },
                {"side": "respondent", "name": "李卫东", "phone": phones[1]},
            ],
            **file,
        }
        r = await self.client.post(
            f"{self.case_url}/api/v1/cases/{case_id}/mediation",
            headers=dispatcher.headers,
            json=body,
        )
        assert r.status_code == 201, r.text
        return case_id, phones

    async def step(self, who: Person, case_id: str, action: str, **body: Any) -> dict[str, Any]:
        r = await self.client.post(
            f"{self.case_url}/api/v1/cases/{case_id}/mediation/actions/{action}",
            headers=who.headers,
            json=body,
        )
        assert r.status_code == 200, f"{action}: {r.text}"
        return dict(r.json())

    async def timeline(self, who: Person, case_id: str) -> list[dict[str, Any]]:
        r = await self.client.get(
            f"{self.case_url}/api/v1/cases/{case_id}/timeline", headers=who.headers
        )
        assert r.status_code == 200, r.text
        return [e for e in r.json() if e["kind"] == "mediation"]

    async def inbox(self, who: Person) -> list[str]:
        r = await self.client.get(
            self.system["notify"].url + "/api/v1/inbox", headers=who.headers, params={"limit": 100}
        )
        assert r.status_code == 200, r.text
        return [i["template_key"] for i in r.json()["items"]]


async def test_three_disputes(system: System) -> None:
    admin = await login(system, "admin")
    dispatcher = await login(system, "dispatcher")  # the district's 综治中心
    resident = await login(system, "resident")
    worker = await login(system, "worker")
    home_grid = worker.claims["areas"][0]
    async with httpx.AsyncClient(timeout=30) as client:
        m = Mediation(system, client)
        community = next(
            a for a in await m.areas("community") if home_grid.startswith(a["path"] + ".")
        )
        street = next(
            a for a in await m.areas("street") if community["path"].startswith(a["path"] + ".")
        )
        community_member, community_mediator = await m.mediator(admin, community, "mediator")
        street_member, street_mediator = await m.mediator(admin, street, "lawyer")

        # (1) a neighbours' dispute ------------------------------------------------------
        case_id, phones = await m.dispute(resident, dispatcher)
        await m.step(dispatcher, case_id, "accept")
        assigned = await m.step(dispatcher, case_id, "assign", member_ids=[community_member])
        assert assigned["mediators"][0]["account_id"] == community_mediator.sub
        for n, place in enumerate(["社区调解室", "社区党群服务中心"], 1):
            when = (datetime.now(SHANGHAI) + timedelta(days=n)).replace(microsecond=0)
            await m.step(
                community_mediator,
                case_id,
                "schedule_session",
                session={
                    "starts_at": when.isoformat(),
                    "place": place,
                    "attendees": ["张建华", "李卫东", "周调解"],
                },
            )
            await m.step(
                community_mediator,
                case_id,
                "record_session",
                session_number=n,
                record=f"第{n}次调解：双方陈述，调解员释法明理。",
            )

        async def parties_told() -> bool:
            found = await query(
                system,
                "notify",
                "SELECT phone, status, variables FROM notification WHERE template_key = $1",
                "mediation_session",
            )
            mine = [r for r in found if r["phone"] in phones]
            return len(mine) == 4 and all(r["status"] in ("sent", "delivered") for r in mine)

        try:
            await eventually(parties_told, timeout=60, what="both parties told of both sessions")
        except AssertionError as exc:
            outbox = await query(
                system,
                "case",
                "SELECT type, relayed_at, attempts, last_error FROM outbox_event"
                " WHERE case_id = $1 ORDER BY created_at",
                uuid.UUID(case_id),
            )
            sent = await query(
                system,
                "notify",
                "SELECT template_key, phone, status, last_error_code FROM notification"
                " WHERE template_key LIKE 'mediation%'",
            )
            raise AssertionError(
                f"{exc}: outbox {[dict(r) for r in outbox]} notify {[dict(r) for r in sent]}"
            ) from exc
        deadline = (datetime.now(SHANGHAI) + timedelta(days=10)).date()
        agreed = await m.step(
            community_mediator,
            case_id,
            "agree",
            responsibility="被申请人装修不当，承担赔偿责任",
            terms=[
                {
                    "content": "李卫东赔偿张建华维修费3000元",
                    "manner": "银行转账",
                    "place": "社区调解室",
                    "deadline_on": deadline.isoformat(),
                }
            ],
        )
        r = await client.get(
            f"{m.case_url}/api/v1/cases/{case_id}/mediation/agreement.docx",
            headers=community_mediator.headers,
        )
        assert r.status_code == 200, r.text
        text = docx_text(r.content)
        for element in [
            "人民调解协议书",
            "申请人：张建华",
            "身份证号码：33010619800101123X",
            "被申请人：李卫东",
            "楼上住户装修漏水",
            "被申请人装修不当，承担赔偿责任",
            "协议内容 | 履行方式 | 履行地点 | 履行期限",
            f"李卫东赔偿张建华维修费3000元 | 银行转账 | 社区调解室 | {deadline:%Y年%m月%d日}前",
            "申请人（签名或盖章）：张建华",
            "被申请人（签名或盖章）：李卫东",
            "调解员（签名）：周调解",
            "人民调解委员会（印章）",
        ]:
            assert element in text, element
        await m.step(dispatcher, case_id, "apply_confirmation", court="西湖区人民法院")
        confirmed = await m.step(dispatcher, case_id, "confirm")
        assert confirmed["judicial_status"] == "confirmed"
        # the return visit falls due at the end of the deadline day: its timer is there …
        term = agreed["terms"][0]
        timers = await query(
            system,
            "case",
            "SELECT due_at FROM sla_timer WHERE kind = 'visit_due' AND dispute_term_id = $1",
            uuid.UUID(term["id"]),
        )
        due = datetime.fromisoformat(term["visit_due_at"])
        assert [t["due_at"] for t in timers] == [due]
        assert due.astimezone(SHANGHAI).date() == deadline + timedelta(days=1)
        # … and when the clock reaches it, the worker fires it and the mediator is told
        await query(
            system,
            "case",
            "UPDATE sla_timer SET due_at = now() WHERE kind = 'visit_due' AND dispute_term_id = $1",
            uuid.UUID(term["id"]),
        )

        async def visit_due() -> bool:
            return "mediation_visit_due" in await m.inbox(community_mediator)

        await eventually(visit_due, timeout=60, what="the mediator told the return visit is due")
        done = await m.step(
            community_mediator,
            case_id,
            "visit_performed",
            term_id=term["id"],
            note="回访：已通过银行转账履行",
        )
        assert done["status"] == "performed"
        steps = [e["action"] for e in await m.timeline(dispatcher, case_id)]
        for expected in [
            "registered",
            "accept",
            "assign",
            "schedule_session",
            "record_session",
            "agree",
            "apply_confirmation",
            "confirm",
            "visit_due",
            "visit_performed",
        ]:
            assert expected in steps, expected

        # (2) no agreement, up the levels, then court -------------------------------------
        case2, _ = await m.dispute(resident, dispatcher)
        await m.step(dispatcher, case2, "accept")
        await m.step(dispatcher, case2, "assign", member_ids=[community_member])
        await m.step(community_mediator, case2, "fail", reason="双方对赔偿数额分歧较大")
        up = await m.step(dispatcher, case2, "refer_up", reason="社区调解不成，移交街道调处中心")
        assert up["level"] == "street"
        assert up["level_area_path"] == street["path"]
        await m.step(dispatcher, case2, "assign", member_ids=[street_member])
        await m.step(street_mediator, case2, "fail", reason="街道调处仍未达成协议")
        court = await m.step(dispatcher, case2, "advise_court", reason="告知当事人向人民法院起诉")
        assert court["status"] == "advised_court"
        assert [(e["action"], e["data"]["level"]) for e in await m.timeline(dispatcher, case2)] == [
            ("registered", "community"),
            ("accept", "community"),
            ("assign", "community"),
            ("fail", "community"),
            ("refer_up", "community"),
            ("assign", "street"),
            ("fail", "street"),
            ("advise_court", "street"),
        ]

        # (3) six people involved: 重大, upward at once -------------------------------------
        case3, _ = await m.dispute(resident, dispatcher, dispute_type="劳动纠纷", people_involved=6)
        r = await client.get(
            f"{m.case_url}/api/v1/cases/{case3}/mediation", headers=dispatcher.headers
        )
        assert r.json()["risk_level"] == "major"
        r = await client.get(f"{m.case_url}/api/v1/cases/{case3}", headers=dispatcher.headers)
        assert r.json()["major"] is True

        async def told_upward() -> bool:
            found = await query(
                system,
                "notify",
                "SELECT recipient_account_id FROM notification WHERE template_key = $1"
                " AND variables->>'case_number' = $2",
                "case_major_incident",
                r.json()["case_number"],
            )
            return dispatcher.sub in {str(f["recipient_account_id"]) for f in found}

        await eventually(told_upward, timeout=60, what="the district told of the 重大 dispute")
