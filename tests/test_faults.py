"""Faults across processes: a service killed with SIGKILL while work is due loses nothing and
does nothing twice once it is back."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from tests.helpers import eventually, login, query, report_body
from tests.system import System


async def test_case_service_killed_while_timers_fall_due(system: System) -> None:
    """Acceptance limits of a few seconds fall due while case_service is dead; after a restart
    each overdue case is marked, supervised and announced exactly once."""
    admin = await login(system, "admin")
    resident = await login(system, "resident")
    async with httpx.AsyncClient(timeout=20) as client:
        # 0803 (street lights) gets an acceptance limit of 1.8 s on the clock.
        r = await client.post(
            system["case"].url + "/api/v1/sla/policies",
            headers=admin.headers,
            json={
                "name": "故障测试：路灯 1.8 秒受理",
                "category_code": "0803",
                "limits": {
                    "accept": {"amount": 0.0005, "unit": "calendar_hours"},
                    "resolve": {"amount": 1, "unit": "working_days"},
                },
            },
        )
        assert r.status_code == 201, r.text
        ids = []
        for i in range(5):
            r = await client.post(
                system["case"].url + "/api/v1/cases",
                json=report_body(category_code="0803", description=f"路灯不亮 {i}"),
                headers=resident.headers,
            )
            assert r.status_code == 201, r.text
            ids.append(uuid.UUID(r.json()["id"]))
    case = system["case"]
    case.kill()
    try:
        await asyncio.sleep(3)  # every acceptance limit passes while nobody watches
        pending = await query(
            system,
            "case",
            "SELECT count(*) FROM sla_timer WHERE case_id ="
            " ANY($1::uuid[]) AND kind = 'overdue' AND fired_at IS NULL",
            ids,
        )
        assert pending[0][0] == len(ids)
    finally:
        case.start()
        await case.wait_ready()

    async def all_overdue() -> bool:
        rows = await query(
            system,
            "case",
            "SELECT count(*) FROM outbox_event WHERE case_id ="
            " ANY($1::uuid[]) AND type = 'case.overdue'",
            ids,
        )
        return rows[0][0] >= len(ids)

    await eventually(all_overdue, timeout=60, what="overdue events after the restart")
    await asyncio.sleep(1.5)  # several more timer scans: nothing may fire again
    per_case = await query(
        system,
        "case",
        "SELECT case_id, count(*) AS n FROM outbox_event WHERE case_id = ANY($1::uuid[]) AND"
        " type = 'case.overdue' GROUP BY case_id",
        ids,
    )
    assert {r["case_id"]: r["n"] for r in per_case} == dict.fromkeys(ids, 1)
    supervisions = await query(
        system,
        "case",
        "SELECT case_id, count(*) AS n FROM supervision WHERE case_id = ANY($1::uuid[])"
        " AND kind = 'overdue' GROUP BY case_id",
        ids,
    )
    assert {r["case_id"]: r["n"] for r in supervisions} == dict.fromkeys(ids, 1)
