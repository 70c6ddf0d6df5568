"""The whole life of a case across the three services, over real HTTP, and what the
notification side makes of it — including while notify_service is down."""

from __future__ import annotations

import httpx

from tests.helpers import eventually, login, query, report_body
from tests.system import System


async def act(
    client: httpx.AsyncClient,
    system: System,
    who: object,
    case_id: str,
    action: str,
    **body: object,
) -> dict[str, object]:
    r = await client.post(
        f"{system['case'].url}/api/v1/cases/{case_id}/actions/{action}",
        json=body,
        headers=who.headers,
    )  # type: ignore[attr-defined]
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_whole_life_across_three_services(system: System) -> None:
    resident = await login(system, "resident")
    dispatcher = await login(system, "dispatcher")
    worker = await login(system, "worker")
    async with httpx.AsyncClient(timeout=20) as client:
        r = await client.post(
            system["case"].url + "/api/v1/cases", json=report_body(), headers=resident.headers
        )
        assert r.status_code == 201, r.text
        case = r.json()
        cid = case["id"]
        # Located by grid_service over HTTP: the demo grid that covers the point.
        located = (
            await client.get(
                system["grid"].url + "/api/v1/grids/locate",
                params={"lat": 30.2741, "lng": 120.1551},
            )
        ).json()
        assert case["area"]["path"] == located["area"]["path"]
        await act(client, system, dispatcher, cid, "accept")
        await act(
            client, system, dispatcher, cid, "dispatch", assignees=[{"account_id": worker.sub}]
        )
        await act(client, system, worker, cid, "claim")
        await act(client, system, worker, cid, "resolve", result="已联系市政更换井盖")
        await act(client, system, dispatcher, cid, "verify")
        final = await act(client, system, resident, cid, "rate", rating=5, reason="很快")
        assert final["status"] == "closed"
        open311 = (
            await client.get(f"{system['case'].url}/open311/v2/requests/{case['case_number']}.json")
        ).json()[0]
        assert open311["status"] == "closed"
        # the internal extension fields: only for the demo's partner platform (its key has the
        # scope open311:extensions), never for the public
        url = f"{system['case'].url}/open311/v2/requests/{case['case_number']}.json"
        public = (await client.get(url, params={"extensions": "true"})).json()[0]
        assert "case_id" not in public["extended_attributes"]
        partner = (
            await client.get(url, params={"extensions": "true", "api_key": "demo-open311-key"})
        ).json()[0]
        assert partner["extended_attributes"]["case_id"] == cid

    # Every event reached notify_service, and the people it concerns got their messages.
    async def relayed() -> bool:
        rows = await query(
            system,
            "case",
            "SELECT count(*) FROM outbox_event WHERE case_id = $1 AND relayed_at IS NULL",
            case_uuid(cid),
        )
        return rows[0][0] == 0

    await eventually(relayed, what="outbox relayed")

    async def delivered() -> bool:
        rows = await query(
            system,
            "notify",
            "SELECT template_key, recipient_account_id::text AS who, status FROM notification"
            " WHERE source_event_id = ANY($1::uuid[])",
            [
                str(r["id"])
                for r in await query(
                    system, "case", "SELECT id FROM outbox_event WHERE case_id = $1", case_uuid(cid)
                )
            ],
        )
        got = {(r["template_key"], r["who"]) for r in rows if r["status"] == "delivered"}
        return {
            ("case_accepted", resident.sub),
            ("case_assigned", worker.sub),
            ("case_result", resident.sub),
            ("case_rating_request", resident.sub),
        } <= got

    await eventually(delivered, what="messages delivered")


async def test_a_department_handles_what_its_category_routes_to_it(system: System) -> None:
    """0802 (manholes) is owned by dept-roads: the demo handler's token names that department,
    so the handler can claim and resolve what is dispatched to it."""
    resident = await login(system, "resident")
    dispatcher = await login(system, "dispatcher")
    handler = await login(system, "handler")
    assert handler.claims["depts"] == ["dept-roads"]
    async with httpx.AsyncClient(timeout=20) as client:
        r = await client.post(
            system["case"].url + "/api/v1/cases", json=report_body(), headers=resident.headers
        )
        cid = r.json()["id"]
        await act(client, system, dispatcher, cid, "accept")
        await act(
            client, system, dispatcher, cid, "dispatch", assignees=[{"department_id": "dept-roads"}]
        )
        await act(client, system, handler, cid, "claim")
        done = await act(client, system, handler, cid, "resolve", result="已修复")
        assert done["status"] == "resolved"

        # Everyone hears: the department's on-duty handler (found by the relay through
        # grid_service) is told of the dispatch, and every message to an account is also an
        # item of that person's in-app inbox, whichever channel carried it.
        async def inbox(who: object) -> list[str]:
            r = await client.get(
                system["notify"].url + "/api/v1/inbox",
                headers=who.headers,  # type: ignore[attr-defined]
                params={"limit": 100},
            )
            assert r.status_code == 200, r.text
            return [i["template_key"] for i in r.json()["items"]]

        async def heard() -> bool:
            return "case_assigned" in await inbox(handler) and {
                "case_accepted",
                "case_result",
            } <= set(await inbox(resident))

        await eventually(heard, what="the handler's and the resident's inbox items")


def case_uuid(value: str) -> object:
    import uuid

    return uuid.UUID(value)


async def test_nothing_lost_nothing_twice_while_notify_is_down(system: System) -> None:
    """notify_service stopped; ten cases created and accepted; notify_service started: every
    expected message is delivered exactly once."""
    resident = await login(system, "resident")
    dispatcher = await login(system, "dispatcher")
    notify = system["notify"]
    notify.kill()
    ids = []
    try:
        async with httpx.AsyncClient(timeout=20) as client:
            for i in range(10):
                r = await client.post(
                    system["case"].url + "/api/v1/cases",
                    json=report_body(description=f"停服期间的第{i}件"),
                    headers=resident.headers,
                )
                assert r.status_code == 201, r.text
                ids.append(r.json()["id"])
                await act(client, system, dispatcher, ids[-1], "accept")
    finally:
        notify.start()
        await notify.wait_ready()
    uuids = [case_uuid(i) for i in ids]

    async def all_relayed() -> bool:
        rows = await query(
            system,
            "case",
            "SELECT count(*) FROM outbox_event WHERE case_id ="
            " ANY($1::uuid[]) AND relayed_at IS NULL",
            uuids,
        )
        return rows[0][0] == 0

    await eventually(all_relayed, timeout=60, what="outbox drained after notify came back")

    async def accepted_messages() -> list[object]:
        events = [
            str(r["id"])
            for r in await query(
                system,
                "case",
                "SELECT id FROM outbox_event WHERE case_id = ANY($1::uuid[]) AND"
                " type = 'case.accepted'",
                uuids,
            )
        ]
        return list(
            await query(
                system,
                "notify",
                "SELECT source_event_id, status FROM notification WHERE template_key ="
                " 'case_accepted' AND source_event_id = ANY($1::uuid[])",
                events,
            )
        )

    async def done() -> bool:
        rows = await accepted_messages()
        return len(rows) >= 10 and all(r["status"] == "delivered" for r in rows)  # type: ignore[index]

    await eventually(done, timeout=60, what="ten acceptance messages delivered")
    rows = await accepted_messages()
    assert len(rows) == 10
    assert len({r["source_event_id"] for r in rows}) == 10  # type: ignore[index]
