"""Dispute screening (排查) and the monthly information report (信息报告) across the running
services, on a system of its own with the sweep on.

Last month's deadline has passed when the system starts, so its first sweep writes one
reminder per grid that did not report. In the worker's community two grids report for last
month (one zero report, one with a dispute); the worker's own grid files nothing: it is listed
as missing, its worker hears once (however often the sweep runs), the zero report is counted.
The monthly report of the street is generated, sent to the district's 综治中心 (the committee
above) and read back as XLSX with those figures. A 重大 labour dispute (6 people) is told to
the handlers of the department that owns its category.
"""

from __future__ import annotations

import asyncio
import io
import json
import random
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import pytest_asyncio
from openpyxl import load_workbook

from tests.conftest import FAST
from tests.helpers import HOME, PASSWORD, Person, eventually, login, query
from tests.system import System, start_system, stop_system

SHANGHAI = ZoneInfo("Asia/Shanghai")
pytestmark = pytest.mark.timeout(300)


@pytest_asyncio.fixture(scope="module")
async def swept(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    tmp: Path = tmp_path_factory.mktemp("screening")
    env = {
        **FAST,
        "CASE_MEDIATION_SWEEP_ENABLED": "true",
        "CASE_MEDIATION_SWEEP_POLL_SECONDS": "1",
        "CASE_MEDIATION_NOTICE_POLL_SECONDS": "0.2",
    }
    running = await start_system(tmp, env, demo=True)
    yield running
    await stop_system(running)


def last_month() -> str:
    first = datetime.now(SHANGHAI).date().replace(day=1)
    prev = first - timedelta(days=1)
    return f"{prev.year}-{prev.month:02d}"


async def areas(client: httpx.AsyncClient, system: System, **params: Any) -> list[dict[str, Any]]:
    r = await client.get(system["grid"].url + "/api/v1/areas", params={"limit": 100, **params})
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def notifications(system: System, template: str, account: str) -> list[dict[str, Any]]:
    rows = await query(
        system,
        "notify",
        "SELECT id, status, variables FROM notification"
        " WHERE template_key = $1 AND recipient_account_id = $2",
        template,
        account,
    )
    return [{**dict(r), "variables": json.loads(r["variables"])} for r in rows]


async def test_a_month_of_screening_reminders_and_the_monthly_report(swept: System) -> None:
    admin = await login(swept, "admin")
    dispatcher = await login(swept, "dispatcher")
    worker = await login(swept, "worker")
    resident = await login(swept, "resident")
    home_grid = worker.claims["areas"][0]
    month = last_month()
    case_url = swept["case"].url
    reports_url = case_url + "/api/v1/mediation/screening/reports"
    async with httpx.AsyncClient(timeout=30) as client:
        community = next(
            a
            for a in await areas(client, swept, level="community")
            if home_grid.startswith(a["path"] + ".")
        )
        street = next(
            a
            for a in await areas(client, swept, level="street")
            if community["path"].startswith(a["path"] + ".")
        )
        grids = await areas(client, swept, level="grid", under=community["path"])
        others = [g for g in grids if g["path"] != home_grid]
        assert len(others) >= 2, grids
        home = next(g for g in grids if g["path"] == home_grid)

        # the first sweep at start: the worker's grid did not report last month → reminded once
        async def reminded() -> bool:
            rows = await notifications(swept, "mediation_screening_reminder", worker.sub)
            return len(rows) == 1 and rows[0]["status"] in ("sent", "delivered")

        await eventually(reminded, timeout=60, what="the worker reminded of last month's report")
        await asyncio.sleep(3)  # three more sweeps: still one reminder per grid and period
        rows = await notifications(swept, "mediation_screening_reminder", worker.sub)
        assert len(rows) == 1, rows
        assert home["name"] in rows[0]["variables"]["grid_name"]
        notices = await query(
            swept,
            "case",
            "SELECT dedup_key, count(*) AS n FROM mediation_notice"
            " WHERE kind = 'screening_reminder' GROUP BY dedup_key HAVING count(*) > 1",
        )
        assert notices == []

        # two other grids of the community report for last month (late): a zero report and a
        # dispute found (its case filed by the resident, its file given with the report)
        r = await client.post(
            reports_url,
            headers=dispatcher.headers,
            json={
                "grid_path": others[0]["path"],
                "period": month,
                "zero_report": True,
                "note": "本月走访未发现矛盾纠纷",
            },
        )
        assert r.status_code == 201, r.text
        assert r.json()["zero_report"] is True
        assert r.json()["late"] is True
        again = await client.post(
            reports_url,
            headers=dispatcher.headers,
            json={"grid_path": others[0]["path"], "period": month, "zero_report": True},
        )
        assert again.status_code == 409, again.text
        assert again.json()["code"] == "screening_report_exists"
        r = await client.post(
            case_url + "/api/v1/cases",
            headers=resident.headers,
            json={
                "category_code": "0101",
                "channel": "mini_program",
                "description": "邻里因停车位发生争执",
                "location": dict(HOME),
            },
        )
        assert r.status_code == 201, r.text
        found_case = r.json()["id"]
        # the dispute found, with the file it gets
        found = {
            "case_id": found_case,
            "file": {
                "dispute_type": "邻里纠纷",
                "people_involved": 2,
                "parties": [
                    {"side": "applicant", "name": "赵一"},
                    {"side": "respondent", "name": "钱二"},
                ],
            },
        }
        bad = await client.post(
            reports_url,
            headers=dispatcher.headers,
            json={
                "grid_path": others[1]["path"],
                "period": month,
                "zero_report": True,
                "disputes": [{"case_id": found_case}],
            },
        )
        assert bad.status_code == 422, bad.text  # a zero report lists no disputes
        outside = await client.post(
            reports_url,
            headers=dispatcher.headers,
            json={
                "grid_path": others[1]["path"],
                "period": month,
                "disputes": [found],
            },
        )
        # the case lies in the worker's grid, not in others[1]: refused, nothing written
        assert outside.status_code == 422, outside.text
        assert outside.json()["errors"][0]["field"] == "disputes[0].case_id"
        r = await client.post(
            reports_url,
            headers=worker.headers,
            json={
                "grid_path": home_grid,
                "period": datetime.now(SHANGHAI).strftime("%Y-%m"),
                "disputes": [found],
            },
        )
        assert r.status_code == 201, r.text
        assert len(r.json()["dispute_ids"]) == 1
        file = await client.get(
            f"{case_url}/api/v1/cases/{found_case}/mediation", headers=dispatcher.headers
        )
        assert file.status_code == 200, file.text
        assert file.json()["dispute_type"] == "邻里纠纷"

        # last month in the community: the worker's grid (and the rest) listed as missing
        r = await client.get(
            case_url + "/api/v1/mediation/screening/missing",
            headers=dispatcher.headers,
            params={"area_path": community["path"], "period": month},
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["deadline_passed"] is True
        assert body["grids"] == len(grids)
        assert body["reported"] == 1
        assert body["zero_reports"] == 1
        missing = {g["grid_path"] for g in body["missing"]}
        assert home_grid in missing
        assert others[0]["path"] not in missing
        assert missing == {g["path"] for g in grids} - {others[0]["path"]}
        summary = await client.get(
            case_url + "/api/v1/mediation/screening/summary",
            headers=dispatcher.headers,
            params={
                "area_path": community["path"],
                "from_month": month,
                "to_month": datetime.now(SHANGHAI).strftime("%Y-%m"),
            },
        )
        assert summary.json() == {"reports": 2, "zero_reports": 1, "disputes": 1}
        # another community's grid is not the worker's to report
        foreign = await client.post(
            reports_url,
            headers=worker.headers,
            json={
                "grid_path": others[0]["path"],
                "period": datetime.now(SHANGHAI).strftime("%Y-%m"),
                "zero_report": True,
            },
        )
        assert foreign.status_code == 403, foreign.text

        # the monthly information report of the street, regenerated with these figures, sent
        # to the district's 综治中心 and read back
        r = await client.post(
            case_url + "/api/v1/mediation/monthly-reports",
            headers=admin.headers,
            params={"area_path": street["path"], "month": month},
        )
        assert r.status_code == 201, r.text
        report = r.json()
        assert report["summary"]["zero_reports"] == 1
        assert report["summary"]["reports"] == 1
        assert home["name"] in report["summary"]["missing_grids"]
        listed = await client.get(
            case_url + "/api/v1/mediation/monthly-reports",
            headers=dispatcher.headers,
            params={"area_path": street["path"], "month": month},
        )
        assert [x["id"] for x in listed.json()] == [report["id"]]
        x = await client.get(
            f"{case_url}/api/v1/mediation/monthly-reports/{report['id']}.xlsx",
            headers=dispatcher.headers,
        )
        assert x.status_code == 200, x.text
        book = load_workbook(io.BytesIO(x.content))
        sheet = book["信息报告"]
        figures = {row[0]: row[1] for row in sheet.iter_rows(min_row=4, values_only=True)}
        assert figures["其中零报告"] == 1
        assert figures["已报送排查的网格"] == 1
        assert home["name"] in figures["未报送的网格"]
        assert str(sheet["A1"].value).endswith("矛盾纠纷排查调处信息报告")
        assert book["矛盾纠纷台账"]["A1"].value == "案件编号"

        async def committee_told() -> bool:
            rows = await notifications(swept, "mediation_monthly_report", dispatcher.sub)
            return any(street["name"] in r["variables"]["area_name"] for r in rows)

        await eventually(
            committee_told, timeout=60, what="the district told of the street's report"
        )

        # a 重大 labour dispute (6 people): the department owning 0103 hears at once
        depts = await client.get(
            swept["grid"].url + "/api/v1/departments",
            headers=admin.headers,
            params={"category": "0103", "limit": 100},
        )
        assert depts.status_code == 200, depts.text
        owner = next(d for d in depts.json()["items"] if d["code"] == "dept-hrss")
        username = f"hrss-{random.randrange(10**8)}"
        r = await client.post(
            swept["grid"].url + "/api/v1/accounts",
            headers=admin.headers,
            json={
                "username": username,
                "name": "人社局处置员",
                "password": PASSWORD,
                "roles": ["department_handler"],
                "department_ids": [owner["id"]],
            },
        )
        assert r.status_code == 201, r.text
        handler: Person = await login(swept, username)
        r = await client.post(
            case_url + "/api/v1/cases",
            headers=resident.headers,
            json={
                "category_code": "0103",
                "channel": "mini_program",
                "description": "六名工人讨薪",
                "location": dict(HOME),
            },
        )
        assert r.status_code == 201, r.text
        labour = r.json()["id"]
        r = await client.post(
            f"{case_url}/api/v1/cases/{labour}/mediation",
            headers=dispatcher.headers,
            json={
                "dispute_type": "劳动纠纷",
                "people_involved": 6,
                "parties": [
                    {"side": "applicant", "name": "孙三"},
                    {"side": "respondent", "kind": "organisation", "name": "某建筑公司"},
                ],
            },
        )
        assert r.status_code == 201, r.text
        assert r.json()["risk_level"] == "major"

        async def department_told() -> bool:
            rows = await notifications(swept, "mediation_major", handler.sub)
            return len(rows) == 1

        await eventually(department_told, timeout=60, what="the owning department told")
    assert date.fromisoformat(month + "-01") < datetime.now(SHANGHAI).date()
