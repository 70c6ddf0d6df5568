"""Area scope of people who send and read messages; raw contact points for system clients only.

A grid leader, dispatcher or supervisor (and an admin) addresses, and reads the messages of,
only accounts of their own areas; phone numbers and openids are for system clients. A
person's own messages stay theirs.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import sqlalchemy as sa
from conftest import CLOCK, FAKES, auth
from notifytest_fakes import person
from test_broadcasts_and_events import broadcast
from test_delivery import sender

from notify_service.notifications.models import Notification
from shared.testing import TestKeys

COMMUNITY = "330100.330106.330106001.330106001001"
GRID_A = COMMUNITY + ".330106001001001"
GRID_B = COMMUNITY + ".330106001001002"
BODY = {"template_key": "case_accepted", "variables": {"case_number": "XH-0042"}}


def leader_a(keys: TestKeys, sub: str = "leader-a") -> dict[str, str]:
    return auth(keys, sub=sub, roles=["grid_leader"], areas=[GRID_A])


def someone_in(area: str, phone: str = "13812345678") -> dict[str, Any]:
    found = person(phone, area_path=area)
    FAKES.grid_people[uuid.UUID(found["account_id"])] = found
    return found


async def post(
    client: httpx.AsyncClient, headers: dict[str, str], recipient: dict[str, Any], **extra: Any
) -> httpx.Response:
    return await client.post(
        "/api/v1/notifications",
        json={**BODY, "recipient": recipient},
        headers={**headers, "Idempotency-Key": uuid.uuid4().hex, **extra},
    )


async def stored(app: Any) -> int:
    async with app.state.sessionmaker() as session:
        count = await session.scalar(sa.select(sa.func.count()).select_from(Notification))
    return int(count or 0)


async def test_a_leader_reads_messages_of_own_grid_only(
    client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    in_a, in_b = someone_in(GRID_A), someone_in(GRID_B, "13812345679")
    to_a = await post(client, sender(test_keys), {"account_id": in_a["account_id"]})
    to_b = await post(client, sender(test_keys), {"account_id": in_b["account_id"]})
    raw = await post(client, sender(test_keys), {"phone": "13900000001"})
    assert {to_a.status_code, to_b.status_code, raw.status_code} == {202}

    mine = await client.get(
        f"/api/v1/notifications/{to_a.json()['id']}", headers=leader_a(test_keys)
    )
    assert mine.status_code == 200, mine.text
    assert mine.json()["recipient_account_id"] == in_a["account_id"]

    # another grid's resident: the same answer as for an id that does not exist
    other = await client.get(
        f"/api/v1/notifications/{to_b.json()['id']}", headers=leader_a(test_keys)
    )
    assert other.status_code == 404
    assert other.json()["code"] == "notification_not_found"
    assert in_b["account_id"] not in other.text
    # a message to a bare number (sent by a system client) is not a person's to read
    bare = await client.get(
        f"/api/v1/notifications/{raw.json()['id']}", headers=leader_a(test_keys)
    )
    assert bare.status_code == 404

    # the dispatcher of the street reads both grids; the system client reads everything
    street = auth(test_keys, sub="dispatcher-1", roles=["dispatcher"], areas=[COMMUNITY])
    for created in (to_a, to_b):
        seen = await client.get(f"/api/v1/notifications/{created.json()['id']}", headers=street)
        assert seen.status_code == 200
    assert (
        await client.get(f"/api/v1/notifications/{raw.json()['id']}", headers=sender(test_keys))
    ).status_code == 200


async def test_a_persons_own_messages_stay_theirs(
    client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    # a supervisor of grid B (say, after a transfer) still reads the messages sent to them
    me = someone_in(GRID_A)
    created = await post(client, sender(test_keys), {"account_id": me["account_id"]})
    assert created.status_code == 202
    supervisor = auth(test_keys, sub=me["account_id"], roles=["supervisor"], areas=[GRID_B])
    own = await client.get(f"/api/v1/notifications/{created.json()['id']}", headers=supervisor)
    assert own.status_code == 200
    assert own.json()["recipient_account_id"] == me["account_id"]


async def test_a_leader_addresses_accounts_of_own_grid_only(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    in_a, in_b = someone_in(GRID_A), someone_in(GRID_B, "13812345679")
    before = await stored(app)

    outside = await post(client, leader_a(test_keys), {"account_id": in_b["account_id"]})
    assert outside.status_code == 403
    problem = outside.json()
    assert problem["code"] == "recipient_outside_scope"
    assert problem["detail"] == "收件人不在您的辖区内"
    assert problem["errors"][0]["field"] == "recipient.account_id"
    unknown = await post(client, leader_a(test_keys), {"account_id": str(uuid.uuid4())})
    assert unknown.status_code == 403
    assert unknown.json()["code"] == "recipient_outside_scope"
    english = await post(
        client, leader_a(test_keys), {"account_id": in_b["account_id"]}, **{"Accept-Language": "en"}
    )
    assert english.json()["detail"] == "The recipient is outside your areas"
    assert await stored(app) == before  # nothing stored for a refused message

    inside = await post(client, leader_a(test_keys), {"account_id": in_a["account_id"]})
    assert inside.status_code == 202, inside.text
    assert inside.json()["recipient_account_id"] == in_a["account_id"]
    assert await stored(app) == before + 1

    # a system client is not bound to areas
    platform = await post(client, sender(test_keys), {"account_id": in_b["account_id"]})
    assert platform.status_code == 202


async def test_raw_numbers_and_openids_are_for_system_clients(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    before = await stored(app)
    people = [
        leader_a(test_keys),
        auth(test_keys, sub="dispatcher-1", roles=["dispatcher"], areas=["330100"]),
        auth(test_keys, sub="admin-1", roles=["admin"], areas=["330100"]),
    ]
    for headers in people:
        phone = await post(client, headers, {"phone": "13900000001"})
        assert phone.status_code == 403, phone.text
        assert phone.json()["code"] == "raw_recipient_not_allowed"
        assert phone.json()["errors"][0]["field"] == "recipient.phone"
        openid = await post(client, headers, {"wechat_mp_openid": "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"})
        assert openid.status_code == 403
        assert openid.json()["errors"][0]["field"] == "recipient.wechat_mp_openid"
    assert await stored(app) == before

    case_service = auth(
        test_keys, sub="client:case", roles=["platform"], scope="notifications:write", cid="case"
    )
    for headers in (sender(test_keys), case_service):
        ok = await post(client, headers, {"phone": "13900000001"})
        assert ok.status_code == 202, ok.text
        assert ok.json()["phone_masked"] == "139****0001"


async def test_area_lookups_are_cached_and_a_moved_account_follows(
    client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    resident = someone_in(GRID_A)
    created = await post(client, sender(test_keys), {"account_id": resident["account_id"]})
    nid = created.json()["id"]
    for _ in range(5):
        assert (
            await client.get(f"/api/v1/notifications/{nid}", headers=leader_a(test_keys))
        ).status_code == 200
        assert (
            await post(client, leader_a(test_keys), {"account_id": resident["account_id"]})
        ).status_code == 202
    assert FAKES.grid_resolve_calls == 1  # one lookup for ten checks

    # the resident moves to grid B: seen there once the cached entry is older than a minute
    FAKES.grid_people[uuid.UUID(resident["account_id"])] = {
        **resident,
        "area_path": GRID_B,
        "area_paths": [GRID_B],
    }
    CLOCK.advance(seconds=61)
    moved = await client.get(f"/api/v1/notifications/{nid}", headers=leader_a(test_keys))
    assert moved.status_code == 404
    assert FAKES.grid_resolve_calls == 2
    refused = await post(client, leader_a(test_keys), {"account_id": resident["account_id"]})
    assert refused.status_code == 403
    assert FAKES.grid_resolve_calls == 2


async def test_grid_service_down_refuses_rather_than_guesses(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    resident = someone_in(GRID_A)
    FAKES.grid_fail = True
    before = await stored(app)
    answer = await post(client, leader_a(test_keys), {"account_id": resident["account_id"]})
    assert answer.status_code == 503
    assert answer.json()["code"] == "upstream_unavailable"
    assert await stored(app) == before


async def test_broadcasts_are_read_inside_own_areas(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    created = await broadcast(client, test_keys, key="scoped-1")  # by a leader of 330106001
    assert created.status_code == 202, created.text
    bid = created.json()["id"]
    inside = auth(test_keys, sub="s-1", roles=["supervisor"], areas=["330100.330106"])
    assert (await client.get(f"/api/v1/broadcasts/{bid}", headers=inside)).status_code == 200
    elsewhere = auth(test_keys, sub="s-2", roles=["supervisor"], areas=["330100.330108"])
    other = await client.get(f"/api/v1/broadcasts/{bid}", headers=elsewhere)
    assert other.status_code == 404
    assert other.json()["code"] == "broadcast_not_found"
    admin_elsewhere = auth(test_keys, sub="a-2", roles=["admin"], areas=["330100.330108"])
    refused = await client.post(
        "/api/v1/broadcasts",
        json={
            "area_path": "330100.330106.330106001",
            "audience": "residents",
            "template_key": "emergency_warning",
            "variables": {"content": "台风"},
            "channels": ["sms"],
        },
        headers={**admin_elsewhere, "Idempotency-Key": "scoped-2"},
    )
    assert refused.status_code == 403
    assert refused.json()["code"] == "area_not_allowed"
    assert (
        await client.get(f"/api/v1/broadcasts/{bid}", headers=sender(test_keys))
    ).status_code == 200
