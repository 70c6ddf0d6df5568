"""Issue 21, finding 2, across the three services: a resident's `major: true` alerts no one
above; the dispatcher's decision at accept does."""

from __future__ import annotations

import uuid

import httpx

from tests.helpers import eventually, login, query, report_body
from tests.system import System


async def _major_messages(system: System, case_id: str) -> list[object]:
    events = [
        str(r["id"])
        for r in await query(
            system, "case", "SELECT id FROM outbox_event WHERE case_id = $1", uuid.UUID(case_id)
        )
    ]
    return list(
        await query(
            system,
            "notify",
            "SELECT recipient_account_id::text AS who FROM notification"
            " WHERE template_key = 'case_major_incident' AND source_event_id = ANY($1::uuid[])",
            events,
        )
    )


async def _relayed(system: System, case_id: str) -> bool:
    rows = await query(
        system,
        "case",
        "SELECT count(*) FROM outbox_event WHERE case_id = $1 AND relayed_at IS NULL",
        uuid.UUID(case_id),
    )
    return rows[0][0] == 0


async def test_a_residents_major_alerts_no_one_until_the_dispatcher_decides(
    system: System,
) -> None:
    resident = await login(system, "resident")
    dispatcher = await login(system, "dispatcher")
    async with httpx.AsyncClient(timeout=20) as client:
        r = await client.post(
            system["case"].url + "/api/v1/cases",
            json=report_body(description="楼道里燃气味很重", priority="urgent", major=True),
            headers=resident.headers,
        )
        assert r.status_code == 201, r.text
        case = r.json()
        assert (case["priority"], case["major"]) == ("high", False)
        assert (case["requested_priority"], case["requested_major"]) == ("urgent", True)
        cid = case["id"]

        async def relayed() -> bool:
            return await _relayed(system, cid)

        await eventually(relayed, what="the report's events relayed")
        assert await _major_messages(system, cid) == []

        r = await client.post(
            f"{system['case'].url}/api/v1/cases/{cid}/actions/accept",
            json={"priority": "urgent", "major": True, "reason": "核实为燃气泄漏"},
            headers=dispatcher.headers,
        )
        assert r.status_code == 200, r.text
        assert (r.json()["priority"], r.json()["major"]) == ("urgent", True)

        async def alerted() -> bool:
            return await _relayed(system, cid) and bool(await _major_messages(system, cid))

        await eventually(alerted, what="the major-incident alert after the dispatcher's decision")
        # the demo dispatcher, at a level above the case's grid, is among those told
        assert dispatcher.sub in {m["who"] for m in await _major_messages(system, cid)}  # type: ignore[index]
