"""What residents see of staff: only members who consented to the public contact card
(服务联系卡), and only its fields — in a department's handler list and when reading a member."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from gridtest_helpers import make_chain
from test_departments import URBAN
from test_members import appoint

CARD_FIELDS = {
    "id",
    "area_id",
    "post",
    "post_title",
    "name",
    "duties",
    "phone",
    "phone_is_masked",
}


async def handler(
    client: httpx.AsyncClient, admin: Any, dept: dict[str, Any], username: str, phone: str
) -> dict[str, Any]:
    created = await client.post(
        "/api/v1/accounts",
        headers=admin(),
        json={
            "username": username,
            "name": f"处置员{username}",
            "password": "a-long-password",
            "roles": ["department_handler"],
            "area_paths": ["330100.330106"],
            "department_ids": [dept["id"]],
            "phone": phone,
        },
    )
    assert created.status_code == 201, created.text
    return dict(created.json())


async def world(client: httpx.AsyncClient, admin: Any) -> dict[str, Any]:
    tree = await make_chain(client, admin())
    dept = (await client.post("/api/v1/departments", headers=admin(), json=URBAN)).json()
    other = (
        await client.post(
            "/api/v1/departments",
            headers=admin(),
            json={**URBAN, "code": "xh_housing", "name": "住建局", "categories": []},
        )
    ).json()
    consenting = await handler(client, admin, dept, "h-yes", "13700000001")
    shy = await handler(client, admin, dept, "h-no", "13700000002")
    await handler(client, admin, dept, "h-none", "13700000003")  # holds no post at all
    housing = await handler(client, admin, other, "h-housing", "13700000004")
    grid = tree["grid1"]["id"]
    card = await appoint(
        client,
        admin(),
        area_id=grid,
        post="mediator",
        name="李强",
        phone="13800000011",
        duties="市容纠纷调解",
        account_id=consenting["id"],
        public_consent=True,
    )
    hidden = await appoint(
        client,
        admin(),
        area_id=grid,
        post="part_time_worker",
        name="周敏",
        phone="13800000012",
        account_id=shy["id"],
        public_consent=False,
    )
    housing_card = await appoint(
        client,
        admin(),
        area_id=grid,
        post="building_head",
        name="吴刚",
        phone="13800000014",
        account_id=housing["id"],
        public_consent=True,
    )
    return {
        "dept": dept,
        "other": other,
        "card": card,
        "hidden": hidden,
        "housing_card": housing_card,
    }


def resident(bearer: Any) -> dict[str, str]:
    return dict(bearer(sub=str(uuid.uuid4()), roles=["resident"]))


async def test_resident_lists_only_consenting_handlers_as_contact_cards(
    client: httpx.AsyncClient, admin: Any, bearer: Any
) -> None:
    w = await world(client, admin)
    listed = await client.get(
        f"/api/v1/departments/{w['dept']['id']}/handlers", headers=resident(bearer)
    )
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert items == [
        {
            "id": w["card"]["id"],
            "area_id": w["card"]["area_id"],
            "post": "mediator",
            "post_title": "调解员",
            "name": "李强",
            "duties": "市容纠纷调解",
            "phone": "13800000011",
            "phone_is_masked": False,
        }
    ]
    for absent in ("h-no", "h-none", "周敏", "13700000002", "13800000012", "username", "roles"):
        assert absent not in listed.text
    # another department lists its own consenting handler, not this one's
    housing = await client.get(
        f"/api/v1/departments/{w['other']['id']}/handlers", headers=resident(bearer)
    )
    assert [i["name"] for i in housing.json()["items"]] == ["吴刚"]
    # a token with no role at all is no more than a resident
    nobody = await client.get(
        f"/api/v1/departments/{w['dept']['id']}/handlers", headers=bearer(roles=[])
    )
    assert [set(i) for i in nobody.json()["items"]] == [CARD_FIELDS]


async def test_resident_pages_through_consenting_handlers(
    client: httpx.AsyncClient, admin: Any, bearer: Any
) -> None:
    w = await world(client, admin)
    for n in range(3):
        more = await handler(client, admin, w["dept"], f"h-more-{n}", f"1370000010{n}")
        await appoint(
            client,
            admin(),
            area_id=w["card"]["area_id"],
            post="mediator",
            name=f"调解员{n}",
            phone=f"1380000010{n}",
            account_id=more["id"],
            public_consent=n != 1,
        )
    url = f"/api/v1/departments/{w['dept']['id']}/handlers"
    first = (await client.get(url, headers=resident(bearer), params={"limit": 2})).json()
    second = (
        await client.get(
            url, headers=resident(bearer), params={"limit": 2, "cursor": first["next_cursor"]}
        )
    ).json()
    names = [i["name"] for i in first["items"] + second["items"]]
    assert names == ["李强", "调解员0", "调解员2"]
    assert second["next_cursor"] is None


async def test_resident_reads_a_member_only_under_the_contact_card_rule(
    client: httpx.AsyncClient, admin: Any, bearer: Any
) -> None:
    w = await world(client, admin)
    shown = await client.get(f"/api/v1/members/{w['card']['id']}", headers=resident(bearer))
    assert shown.status_code == 200, shown.text
    assert set(shown.json()) == CARD_FIELDS
    assert shown.json()["phone"] == "13800000011"
    assert shown.json()["phone_is_masked"] is False

    hidden = await client.get(f"/api/v1/members/{w['hidden']['id']}", headers=resident(bearer))
    assert hidden.status_code == 404
    assert hidden.json()["code"] == "member_not_found"
    assert "周敏" not in hidden.text
    unknown = await client.get(f"/api/v1/members/{uuid.uuid4()}", headers=resident(bearer))
    assert unknown.status_code == 404
    assert unknown.json()["code"] == hidden.json()["code"]
    english = await client.get(
        f"/api/v1/members/{w['hidden']['id']}",
        headers={**resident(bearer), "Accept-Language": "en"},
    )
    assert english.json()["detail"] == f"No member {w['hidden']['id']}"


async def test_staff_see_handlers_and_members_as_before(
    client: httpx.AsyncClient, admin: Any, bearer: Any
) -> None:
    w = await world(client, admin)
    dispatcher = bearer(roles=["dispatcher"], areas=["330100.330106"])
    listed = await client.get(f"/api/v1/departments/{w['dept']['id']}/handlers", headers=dispatcher)
    assert [h["username"] for h in listed.json()["items"]] == ["h-yes", "h-no", "h-none"]
    assert listed.json()["items"][1]["phone_masked"] == "137****0002"
    hidden = await client.get(f"/api/v1/members/{w['hidden']['id']}", headers=dispatcher)
    assert hidden.status_code == 200
    assert hidden.json()["name"] == "周敏"
    assert hidden.json()["phone_masked"] == "138****0012"
    assert hidden.json()["public_consent"] is False
    platform = bearer(roles=["platform"], cid="case_service", scope="departments:read")
    assert (
        await client.get(f"/api/v1/members/{w['hidden']['id']}", headers=platform)
    ).status_code == 200
