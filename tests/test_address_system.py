"""Issue 16 across the real services: a 12345 operator files by a spoken address alone and the
case lands in the address's grid (grid_service's standard-address register, the demo's
宝石山下一弄12号); an address that matches nothing waits as 待定位 in the dispatcher's "to place"
list until the locate action puts it in its grid, with its time limits for the new level."""

from __future__ import annotations

from datetime import datetime

import httpx

from tests.helpers import HOME, login
from tests.system import System

SPOKEN = "浙江省杭州市西湖区宝石山下一弄１２号"


def hotline(address: str) -> dict[str, object]:
    return {
        "category_code": "0802",
        "channel": "hotline",
        "description": "来电：井盖缺失，夜里很危险",
        "location": {"address": address},
        "reporter": {"name": "赵先生", "phone": "13900002222"},
    }


async def test_a_spoken_address_lands_in_the_right_grid(system: System) -> None:
    dispatcher = await login(system, "dispatcher")
    async with httpx.AsyncClient(timeout=20) as client:
        home = (
            await client.get(
                system["grid"].url + "/api/v1/grids/locate",
                params={"lat": HOME["lat"], "lng": HOME["lng"]},
            )
        ).json()
        assert home["area"]["level"] == "grid"
        # the demo register holds 宝石山下一弄12号 in the grid of the demo point
        match = await client.post(
            system["grid"].url + "/api/v1/addresses/match",
            json={"address": SPOKEN},
            headers=dispatcher.headers,
        )
        assert match.status_code == 200, match.text
        assert match.json()["status"] == "matched"

        r = await client.post(
            system["case"].url + "/api/v1/cases", json=hotline(SPOKEN), headers=dispatcher.headers
        )
        assert r.status_code == 201, r.text
        case = r.json()
        assert case["area"]["path"] == home["area"]["path"]
        assert case["area"]["name"] == home["area"]["name"]
        assert case["location_status"] == "located"
        assert case["location"]["address_id"] == match.json()["candidates"][0]["address"]["id"]
        assert case["handling_level"] == "community"

        # Open311: address_string alone, placed the same way; expected_datetime from the start
        posted = await client.post(
            system["case"].url + "/open311/v2/requests.json",
            data={
                "api_key": "demo-open311-key",
                "service_code": "0802",
                "address_string": "西湖区宝石山下一弄12号",
                "description": "井盖缺失",
            },
        )
        assert posted.status_code == 201, posted.text
        number = posted.json()[0]["service_request_id"]
        request = (
            await client.get(f"{system['case'].url}/open311/v2/requests/{number}.json")
        ).json()[0]
        assert request["expected_datetime"] is not None
        listed = (
            await client.get(
                system["case"].url + "/api/v1/cases",
                params={"q": "井盖缺失", "limit": 100},
                headers=dispatcher.headers,
            )
        ).json()["items"]
        by_number = {c["case_number"]: c for c in listed}
        assert by_number[number]["area_path"] == home["area"]["path"]
        assert by_number[number]["location_status"] == "located"


async def test_an_unmatched_address_waits_to_be_placed(system: System) -> None:
    dispatcher = await login(system, "dispatcher")
    case_url = system["case"].url + "/api/v1/cases"
    async with httpx.AsyncClient(timeout=20) as client:
        r = await client.post(case_url, json=hotline("文三路999号"), headers=dispatcher.headers)
        assert r.status_code == 201, r.text
        case = r.json()
        assert case["location_status"] == "to_locate"
        assert case["area"]["path"] == dispatcher.claims["areas"][0]  # the dispatcher's district
        assert "locate" in case["allowed_actions"]
        to_place = (
            await client.get(
                case_url,
                params={"location_status": "to_locate", "limit": 100},
                headers=dispatcher.headers,
            )
        ).json()["items"]
        assert case["id"] in [c["id"] for c in to_place]

        accepted = await client.post(
            f"{case_url}/{case['id']}/actions/accept", json={}, headers=dispatcher.headers
        )
        assert accepted.status_code == 200, accepted.text
        before = {
            d["kind"]: d
            for d in (
                await client.get(f"{case_url}/{case['id']}/deadlines", headers=dispatcher.headers)
            ).json()
            if d["status"] == "open"
        }
        placed = await client.post(
            f"{case_url}/{case['id']}/actions/locate",
            json={**{k: HOME[k] for k in ("lat", "lng")}, "reason": "来电人确认在宝石山下"},
            headers={**dispatcher.headers, "If-Match": f'"{accepted.json()["version"]}"'},
        )
        assert placed.status_code == 200, placed.text
        located = placed.json()
        home = (
            await client.get(
                system["grid"].url + "/api/v1/grids/locate",
                params={"lat": HOME["lat"], "lng": HOME["lng"]},
            )
        ).json()
        assert located["location_status"] == "located"
        assert located["area"]["path"] == home["area"]["path"]
        assert located["handling_level"] == "community"

        timeline = (
            await client.get(f"{case_url}/{case['id']}/timeline", headers=dispatcher.headers)
        ).json()
        entry = timeline[-1]
        assert (entry["action"], entry["reason"]) == ("locate", "来电人确认在宝石山下")
        assert entry["data"]["from"]["location_status"] == "to_locate"

        after = {
            d["kind"]: d
            for d in (
                await client.get(f"{case_url}/{case['id']}/deadlines", headers=dispatcher.headers)
            ).json()
            if d["status"] == "open"
        }
        assert after["resolve"]["handling_level"] == "community"
        assert before["resolve"]["handling_level"] != "community"
        assert after["resolve"]["started_at"] == before["resolve"]["started_at"]
        assert datetime.fromisoformat(located["due_at"]) == min(
            datetime.fromisoformat(d["due_at"]) for d in after.values()
        )
        to_place = (
            await client.get(
                case_url,
                params={"location_status": "to_locate", "limit": 100},
                headers=dispatcher.headers,
            )
        ).json()["items"]
        assert case["id"] not in [c["id"] for c in to_place]
