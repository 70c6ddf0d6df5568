"""Special-group forms that work (issue 22): one details model per tag in the OpenAPI, PATCH
that changes only what is sent, follow-ups due, and the tagged list with masked name and
address."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from basicinfo_helpers import (
    GRID1,
    headers,
    id_number,
    make_resident,
    setup_grid,
    staff_account,
)

from grid_service.basicinfo.specialgroups import FOLLOW_UP_FIELDS
from shared.testing import TestKeys


async def granted_officer(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys, *tags: str
) -> dict[str, str]:
    officer_id = await staff_account(client, admin(), "zhuangan", "grid_worker")
    for tag in tags:
        response = await client.post(
            "/api/v1/privacy/special-group-grants",
            headers=admin(),
            json={"account_id": officer_id, "tag": tag, "reason": "专干"},
        )
        assert response.status_code == 201, response.text
    return headers(test_keys, sub=officer_id, roles=["grid_worker"], areas=[GRID1])


async def test_patch_changes_only_what_is_sent(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys
) -> None:
    s = await setup_grid(client, admin())
    officer = await granted_officer(client, admin, test_keys, "serious_mental_disorder")
    resident = await make_resident(client, officer, s["grid"])
    url = f"/api/v1/residents/{resident['id']}/special-groups/serious_mental_disorder"
    put = await client.put(
        url,
        headers=officer,
        json={
            "attention_level": "key",
            "helper_name": "王芳",
            "follow_up_interval_days": 14,
            "last_followed_up_on": "2026-11-20",
            "details": {"risk_level": 3, "guardian_name": "张强", "treatment": "门诊"},
        },
    )
    assert put.status_code == 200, put.text
    assert put.json()["next_follow_up_on"] == "2026-12-04"

    # the form saved without last_followed_up_on: PATCH keeps it (PUT would wipe it)
    patched = await client.patch(
        url, headers=officer, json={"helper_name": "李娜", "details": {"risk_level": 1}}
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["helper_name"] == "李娜"
    assert body["last_followed_up_on"] == "2026-11-20"
    assert body["attention_level"] == "key"
    assert body["details"] == {"risk_level": 1, "guardian_name": "张强", "treatment": "门诊"}
    # null removes a detail; recording a follow-up moves the next one on
    today = datetime.now(UTC).date()
    followed = await client.patch(
        url,
        headers=officer,
        json={"last_followed_up_on": today.isoformat(), "details": {"treatment": None}},
    )
    assert followed.json()["details"] == {"risk_level": 1, "guardian_name": "张强"}
    assert followed.json()["next_follow_up_on"] == (today + timedelta(days=14)).isoformat()

    # a field of another tag: 422 naming it and the fields this tag has
    wrong = await client.patch(url, headers=officer, json={"details": {"school": "一小"}})
    assert wrong.status_code == 422
    problem = wrong.json()["errors"][0]
    assert problem["field"] == "details.school"
    assert "risk_level" in problem["reason"]
    assert "guardian_name" in problem["reason"]
    bad = await client.patch(url, headers=officer, json={"details": {"risk_level": 9}})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "details.risk_level"
    unchanged = await client.get(
        f"/api/v1/residents/{resident['id']}/special-groups", headers=officer
    )
    assert unchanged.json()[0]["details"] == {"risk_level": 1, "guardian_name": "张强"}
    missing = await client.patch(
        f"/api/v1/residents/{resident['id']}/special-groups/drug_user",
        headers=await granted_officer_other(client, admin, test_keys),
        json={"helper_name": "x"},
    )
    assert missing.status_code == 404


async def granted_officer_other(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys
) -> dict[str, str]:
    officer_id = await staff_account(client, admin(), "jindu", "grid_worker")
    await client.post(
        "/api/v1/privacy/special-group-grants",
        headers=admin(),
        json={"account_id": officer_id, "tag": "drug_user", "reason": "禁毒专干"},
    )
    return headers(test_keys, sub=officer_id, roles=["grid_worker"], areas=[GRID1])


async def test_follow_ups_due_and_the_tagged_list_show_masked_names_and_addresses(
    client: httpx.AsyncClient, admin: Any, test_keys: TestKeys
) -> None:
    s = await setup_grid(client, admin())
    officer = await granted_officer(client, admin, test_keys, "low_income", "disabled")
    address = s["addresses"][0]["id"]
    due_one = await make_resident(client, officer, s["grid"], current_address_id=address)
    later = await make_resident(
        client,
        officer,
        s["grid"],
        name="李秀英",
        id_number=id_number("11010519500101002"),
        phone="13912345678",
    )
    long_ago = (datetime.now(UTC) - timedelta(days=40)).date().isoformat()
    recent = datetime.now(UTC).date().isoformat()
    for resident, last in ((due_one, long_ago), (later, recent)):
        response = await client.put(
            f"/api/v1/residents/{resident['id']}/special-groups/low_income",
            headers=officer,
            json={"follow_up_interval_days": 30, "last_followed_up_on": last},
        )
        assert response.status_code == 200, response.text
    due = await client.get("/api/v1/special-groups/follow-ups/due", headers=officer)
    assert due.status_code == 200, due.text
    items = due.json()["items"]
    assert [(i["resident_id"], i["due"]) for i in items] == [(due_one["id"], True)]
    assert items[0]["resident_name"] == "张*"
    assert items[0]["address"] == "文三路90号3栋2单元***室"
    assert "张伟" not in due.text
    listed = await client.get("/api/v1/special-groups/low_income/residents", headers=officer)
    rows = {i["resident_id"]: i for i in listed.json()["items"]}
    assert rows[later["id"]]["resident_name"] == "李**"
    assert rows[later["id"]]["due"] is False
    assert rows[due_one["id"]]["address"] == "文三路90号3栋2单元***室"
    # someone without the grant sees no follow-ups at all
    plain = headers(test_keys, sub="someone", roles=["grid_worker"], areas=[GRID1])
    none = await client.get("/api/v1/special-groups/follow-ups/due", headers=plain)
    assert none.json()["items"] == []


async def test_the_openapi_documents_one_details_model_per_tag(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    details = schemas["SpecialGroupSet"]["properties"]["details"]
    titles = {variant["title"] for variant in details["oneOf"]}
    assert titles == {model.__name__ for model in FOLLOW_UP_FIELDS.values()}
    low_income = next(v for v in details["oneOf"] if v["title"] == "LowIncome")
    assert set(low_income["properties"]) == {"allowance_certificate_no", "monthly_allowance_yuan"}
    assert low_income["additionalProperties"] is False
    assert "low_income" in low_income["description"]
    patch = spec["paths"]["/api/v1/residents/{resident_id}/special-groups/{tag}"]["patch"]
    assert patch["summary"]
