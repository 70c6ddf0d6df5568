"""Members: AB岗 backups answering for an away primary, consent on contact cards, scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from gridtest_helpers import make_chain


async def appoint(
    client: httpx.AsyncClient, headers: dict[str, str], **body: Any
) -> dict[str, Any]:
    response = await client.post("/api/v1/members", headers=headers, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def staff(client: httpx.AsyncClient, admin: Any) -> dict[str, Any]:
    tree = await make_chain(client, admin())
    grid = tree["grid1"]["id"]
    leader = await appoint(
        client,
        admin(),
        area_id=grid,
        post="grid_leader",
        name="陈建国",
        phone="13800000001",
        public_consent=True,
        duties="统筹",
    )
    leader_b = await appoint(
        client,
        admin(),
        area_id=grid,
        post="grid_leader",
        name="周敏",
        phone="13800000002",
        public_consent=False,
        backup_for_id=leader["id"],
    )
    worker = await appoint(
        client,
        admin(),
        area_id=grid,
        post="full_time_worker",
        name="王芳",
        phone="13800000003",
        public_consent=False,
    )
    return {"tree": tree, "leader": leader, "leader_b": leader_b, "worker": worker}


async def test_locate_names_who_answers_with_masked_phones(
    client: httpx.AsyncClient, admin: Any
) -> None:
    s = await staff(client, admin)
    body = (await client.get("/api/v1/grids/locate", params={"lat": 30.25, "lng": 120.12})).json()
    people = [
        (p["post"], p["name"], p["is_backup"], p["phone_masked"], p["phone"])
        for p in body["responsible"]
    ]
    assert people == [
        ("grid_leader", "陈建国", False, "138****0001", "13800000001"),  # consented
        ("full_time_worker", "王芳", False, "138****0003", None),  # did not
    ]
    assert s["leader"]["phone_masked"] == "138****0001"
    assert "phone" not in s["leader"]


async def test_backup_answers_while_the_primary_is_away(
    client: httpx.AsyncClient, admin: Any
) -> None:
    s = await staff(client, admin)
    until = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    away = await client.post(
        f"/api/v1/members/{s['leader']['id']}/away",
        headers=admin(),
        json={"reason": "leave", "until": until},
    )
    assert away.status_code == 200
    assert away.json()["away"] is True
    body = (await client.get("/api/v1/grids/locate", params={"lat": 30.25, "lng": 120.12})).json()
    leader = body["responsible"][0]
    assert (leader["post"], leader["name"], leader["is_backup"], leader["member_id"]) == (
        "grid_leader",
        "周敏",
        True,
        s["leader_b"]["id"],
    )
    card = (await client.get(f"/api/v1/areas/{s['tree']['grid1']['id']}/contact-card")).json()
    assert card["entries"][0]["name"] == "周敏"
    assert card["entries"][0]["is_backup"] is True
    back = await client.delete(f"/api/v1/members/{s['leader']['id']}/away", headers=admin())
    assert back.json()["away"] is False
    body = (await client.get("/api/v1/grids/locate", params={"lat": 30.25, "lng": 120.12})).json()
    assert body["responsible"][0]["name"] == "陈建国"


async def test_away_in_the_past_or_future_does_not_count(
    client: httpx.AsyncClient, admin: Any
) -> None:
    s = await staff(client, admin)
    later = datetime.now(UTC) + timedelta(days=1)
    await client.post(
        f"/api/v1/members/{s['leader']['id']}/away",
        headers=admin(),
        json={
            "reason": "training",
            "since": later.isoformat(),
            "until": (later + timedelta(days=1)).isoformat(),
        },
    )
    body = (await client.get("/api/v1/grids/locate", params={"lat": 30.25, "lng": 120.12})).json()
    assert body["responsible"][0]["name"] == "陈建国"
    bad = await client.post(
        f"/api/v1/members/{s['leader']['id']}/away",
        headers=admin(),
        json={"reason": "leave", "since": later.isoformat(), "until": later.isoformat()},
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "until"


async def test_contact_card_shows_full_phone_only_with_consent(
    client: httpx.AsyncClient, admin: Any
) -> None:
    s = await staff(client, admin)
    card = await client.get(f"/api/v1/areas/{s['tree']['grid1']['id']}/contact-card")
    assert card.status_code == 200
    entries = {e["name"]: e for e in card.json()["entries"]}
    assert entries["陈建国"]["phone"] == "13800000001"
    assert entries["陈建国"]["phone_is_masked"] is False
    assert entries["陈建国"]["post_title"] == "网格长"
    assert entries["王芳"]["phone"] == "138****0003"
    assert entries["王芳"]["phone_is_masked"] is True
    consent = await client.patch(
        f"/api/v1/members/{s['worker']['id']}", headers=admin(), json={"public_consent": True}
    )
    assert consent.status_code == 200
    card = await client.get(f"/api/v1/areas/{s['tree']['grid1']['id']}/contact-card")
    assert {e["name"]: e["phone"] for e in card.json()["entries"]}["王芳"] == "13800000003"


async def test_member_can_mark_themselves_away_but_not_others(
    client: httpx.AsyncClient, admin: Any, bearer: Any
) -> None:
    s = await staff(client, admin)
    account = "11111111-1111-1111-1111-111111111111"
    other = bearer(sub=account, roles=["grid_worker"], areas=["330100.330106"])
    refused = await client.post(
        f"/api/v1/members/{s['worker']['id']}/away", headers=other, json={"reason": "leave"}
    )
    assert refused.status_code == 403
    created = await client.post(
        "/api/v1/accounts",
        headers=admin(),
        json={
            "username": "wangfang",
            "name": "王芳",
            "password": "a-long-password",
            "roles": ["grid_worker"],
        },
    )
    mine = created.json()["id"]
    linked = await client.patch(
        f"/api/v1/members/{s['worker']['id']}", headers=admin(), json={"account_id": mine}
    )
    assert linked.json()["account_id"] == mine
    me = bearer(sub=mine, roles=["grid_worker"])
    away = await client.post(
        f"/api/v1/members/{s['worker']['id']}/away", headers=me, json={"reason": "training"}
    )
    assert away.status_code == 200
    assert away.json()["away"] is True
    consent = await client.patch(
        f"/api/v1/members/{s['worker']['id']}", headers=me, json={"public_consent": True}
    )
    assert consent.json()["public_consent"] is True
    rename = await client.patch(
        f"/api/v1/members/{s['worker']['id']}", headers=me, json={"name": "x"}
    )
    assert rename.status_code == 403


async def test_member_refusals(client: httpx.AsyncClient, admin: Any) -> None:
    s = await staff(client, admin)
    grid = s["tree"]["grid1"]["id"]
    cases = [
        (
            {"area_id": "00000000-0000-0000-0000-000000000000", "post": "mediator", "name": "x"},
            "area_id",
        ),
        ({"area_id": grid, "post": "chief", "name": "x"}, "post"),
        ({"area_id": grid, "post": "mediator", "name": "x", "phone": "call me"}, "phone"),
        (
            {"area_id": grid, "post": "mediator", "name": "x", "backup_for_id": s["leader"]["id"]},
            "backup_for_id",
        ),
        (
            {
                "area_id": grid,
                "post": "grid_leader",
                "name": "x",
                "backup_for_id": s["leader_b"]["id"],
            },
            "backup_for_id",
        ),
        (
            {
                "area_id": grid,
                "post": "mediator",
                "name": "x",
                "account_id": "00000000-0000-0000-0000-000000000000",
            },
            "account_id",
        ),
        ({"area_id": grid, "post": "mediator"}, "name"),
    ]
    for body, field in cases:
        response = await client.post("/api/v1/members", headers=admin(), json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["errors"][0]["field"] == field
    outside = await client.post(
        "/api/v1/members",
        headers=admin("330100.330108"),
        json={"area_id": grid, "post": "mediator", "name": "x"},
    )
    assert outside.status_code == 403
    assert outside.json()["code"] == "outside_scope"
    missing = await client.get(
        "/api/v1/members/00000000-0000-0000-0000-000000000000", headers=admin()
    )
    assert missing.status_code == 404


async def test_delete_member_and_area_rules(client: httpx.AsyncClient, admin: Any) -> None:
    s = await staff(client, admin)
    has_backup = await client.delete(f"/api/v1/members/{s['leader']['id']}", headers=admin())
    assert has_backup.status_code == 409
    assert has_backup.json()["code"] == "member_has_backup"
    area_busy = await client.delete(f"/api/v1/areas/{s['tree']['grid1']['id']}", headers=admin())
    assert area_busy.status_code == 409
    assert area_busy.json()["code"] == "area_has_members"
    assert (
        await client.delete(f"/api/v1/members/{s['leader_b']['id']}", headers=admin())
    ).status_code == 204
    listed = await client.get(
        "/api/v1/members", headers=admin(), params={"area_id": s["tree"]["grid1"]["id"]}
    )
    assert [m["name"] for m in listed.json()["items"]] == ["陈建国", "王芳"]


async def test_members_of_an_ancestor_answer_when_the_grid_has_none(
    client: httpx.AsyncClient, admin: Any
) -> None:
    tree = await make_chain(client, admin())
    await appoint(
        client,
        admin(),
        area_id=tree["community"]["id"],
        post="grid_instructor",
        name="高强",
        phone="13800000009",
    )
    body = (await client.get("/api/v1/grids/locate", params={"lat": 30.25, "lng": 120.18})).json()
    assert [p["name"] for p in body["responsible"]] == ["高强"]


async def test_residents_cannot_list_members(client: httpx.AsyncClient, bearer: Any) -> None:
    response = await client.get("/api/v1/members", headers=bearer(roles=["resident"]))
    assert response.status_code == 403


async def test_the_mediation_team_has_lawyers_and_notaries(
    client: httpx.AsyncClient, admin: Any
) -> None:
    """组团式服务 (003:L30): lawyers and notaries join a grid's mediation team, with their
    titles on the contact card."""
    tree = await make_chain(client, admin())
    grid = tree["grid1"]["id"]
    lawyer = await appoint(client, admin(), area_id=grid, post="lawyer", name="孙律师")
    notary = await appoint(client, admin(), area_id=grid, post="notary", name="钱公证")
    assert (lawyer["post"], notary["post"]) == ("lawyer", "notary")
    card = await client.get(f"/api/v1/areas/{grid}/contact-card")
    assert card.status_code == 200, card.text
    titles = {e["post"]: e["post_title"] for e in card.json()["entries"]}
    assert titles["lawyer"] == "律师"
    assert titles["notary"] == "公证员"
