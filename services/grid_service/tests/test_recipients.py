"""Recipients for notify_service: full contact details, scope-protected, keyset pages."""

from __future__ import annotations

from typing import Any

import httpx
from gridtest_helpers import make_chain

NOTIFY = {
    "roles": ["platform"],
    "scope": "recipients:read",
    "cid": "notify_service",
    "sub": "client:notify_service",
}


async def residents(
    client: httpx.AsyncClient, admin: Any, fake_wechat: dict[str, Any], own_tokens: None
) -> tuple[dict[str, Any], list[str]]:
    tree = await make_chain(client, admin())
    ids = []
    for i, grid in enumerate([tree["grid1"], tree["grid1"], tree["grid2"]]):
        fake_wechat["answers"][f"c{i}"] = {"openid": f"openid-{i}", "session_key": "k"}
        token = (
            await client.post("/api/v1/auth/wechat", json={"code": f"c{i}", "name": f"居民{i}"})
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        me = await client.patch(
            "/api/v1/accounts/me",
            headers=headers,
            json={
                "phone": f"1370000000{i}",
                "home_area_id": grid["id"],
                "channels": ["wechat_mp", "sms"],
            },
        )
        assert me.status_code == 200, me.text
        ids.append(me.json()["id"])
    return tree, ids


async def test_resolve_gives_full_contact_details(
    client: httpx.AsyncClient,
    admin: Any,
    bearer: Any,
    fake_wechat: dict[str, Any],
    own_tokens: None,
) -> None:
    tree, ids = await residents(client, admin, fake_wechat, own_tokens)
    unknown = "00000000-0000-0000-0000-000000000000"
    response = await client.post(
        "/api/v1/recipients/resolve",
        headers=bearer(**NOTIFY),
        json={"account_ids": [ids[1], unknown, ids[0]]},
    )
    assert response.status_code == 200
    items = response.json()["items"]
    assert [i["account_id"] for i in items] == [ids[1], ids[0]]
    assert items[0]["phone"] == "13700000001"
    assert items[0]["wechat_mp_openid"] == "openid-1"
    assert items[0]["channels"] == ["wechat_mp", "sms"]
    assert items[0]["area_path"] == tree["grid1"]["path"]
    assert items[0]["area_paths"] == [tree["grid1"]["path"]]
    assert items[0]["name"] == "居民1"


async def test_resolve_names_every_area_of_a_staff_member(
    client: httpx.AsyncClient, admin: Any, bearer: Any
) -> None:
    """notify_service scopes who may message whom by these areas: all of them count."""
    tree = await make_chain(client, admin())
    created = await client.post(
        "/api/v1/accounts",
        headers=admin(),
        json={
            "username": "two-grids",
            "name": "两网格网格员",
            "password": "a-long-password",
            "roles": ["grid_worker"],
            "area_paths": [tree["grid1"]["path"], tree["grid2"]["path"]],
        },
    )
    assert created.status_code == 201, created.text
    response = await client.post(
        "/api/v1/recipients/resolve",
        headers=bearer(**NOTIFY),
        json={"account_ids": [created.json()["id"]]},
    )
    (item,) = response.json()["items"]
    assert item["area_path"] == tree["grid1"]["path"]
    assert item["area_paths"] == [tree["grid1"]["path"], tree["grid2"]["path"]]


async def test_recipients_need_the_scope(client: httpx.AsyncClient, bearer: Any) -> None:
    body = {"account_ids": []}
    no_scope = await client.post(
        "/api/v1/recipients/resolve", headers=bearer(roles=["platform"], scope="open311"), json=body
    )
    assert no_scope.status_code == 403
    assert no_scope.json()["code"] == "missing_scope"
    worker = await client.get(
        "/api/v1/recipients", headers=bearer(roles=["grid_worker"]), params={"area_path": "330100"}
    )
    assert worker.status_code == 403
    anonymous = await client.post("/api/v1/recipients/resolve", json=body)
    assert anonymous.status_code == 401
    admin_ok = await client.post(
        "/api/v1/recipients/resolve", headers=bearer(roles=["admin"]), json=body
    )
    assert admin_ok.status_code == 200
    too_many = await client.post(
        "/api/v1/recipients/resolve",
        headers=bearer(**NOTIFY),
        json={"account_ids": ["00000000-0000-0000-0000-000000000000"] * 1001},
    )
    assert too_many.status_code == 422
    assert too_many.json()["errors"][0]["field"] == "account_ids"
    not_uuid = await client.post(
        "/api/v1/recipients/resolve", headers=bearer(**NOTIFY), json={"account_ids": ["x"]}
    )
    assert not_uuid.status_code == 422


async def test_list_a_subtree_in_pages(
    client: httpx.AsyncClient,
    admin: Any,
    bearer: Any,
    fake_wechat: dict[str, Any],
    own_tokens: None,
) -> None:
    tree, ids = await residents(client, admin, fake_wechat, own_tokens)
    await client.post(
        "/api/v1/accounts",
        headers=admin(),
        json={
            "username": "worker1",
            "name": "网格员",
            "password": "a-long-password",
            "roles": ["grid_worker"],
            "area_paths": [tree["grid1"]["path"]],
            "phone": "13600000000",
        },
    )
    notify = bearer(**NOTIFY)
    first = await client.get(
        "/api/v1/recipients",
        headers=notify,
        params={"area_path": tree["community"]["path"], "limit": 2},
    )
    assert first.status_code == 200
    page1 = first.json()
    assert len(page1["items"]) == 2
    assert page1["next_cursor"]
    second = await client.get(
        "/api/v1/recipients",
        headers=notify,
        params={"area_path": tree["community"]["path"], "limit": 2, "cursor": page1["next_cursor"]},
    )
    page2 = second.json()
    assert page2["next_cursor"] is None
    assert sorted(i["account_id"] for i in page1["items"] + page2["items"]) == sorted(ids)
    grid1 = await client.get(
        "/api/v1/recipients", headers=notify, params={"area_path": tree["grid1"]["path"]}
    )
    assert sorted(i["account_id"] for i in grid1.json()["items"]) == sorted(ids[:2])
    staff = await client.get(
        "/api/v1/recipients", headers=notify, params={"area_path": "330100", "audience": "staff"}
    )
    assert [i["phone"] for i in staff.json()["items"]] == ["13600000000"]
    # a prefix that is not a path boundary does not match
    partial = await client.get(
        "/api/v1/recipients", headers=notify, params={"area_path": tree["grid1"]["path"][:-1]}
    )
    assert partial.json()["items"] == []
    bad = await client.get(
        "/api/v1/recipients", headers=notify, params={"area_path": "330100", "audience": "aliens"}
    )
    assert bad.status_code == 422
    missing = await client.get("/api/v1/recipients", headers=notify)
    assert missing.status_code == 422
    big_page = await client.get(
        "/api/v1/recipients", headers=notify, params={"area_path": "330100", "limit": 1000}
    )
    assert big_page.status_code == 200
    too_big = await client.get(
        "/api/v1/recipients", headers=notify, params={"area_path": "330100", "limit": 1001}
    )
    assert too_big.status_code == 422
    assert too_big.json()["errors"][0]["field"] == "query.limit"
    cursor = await client.get(
        "/api/v1/recipients", headers=notify, params={"area_path": "330100", "cursor": "garbage"}
    )
    assert cursor.status_code == 422


async def test_responsible_staff_by_role_covering_or_exact(
    client: httpx.AsyncClient, app: Any, bearer: Any
) -> None:
    from grid_service.accounts.models import Account

    district, street = "330100.330106", "330100.330106.330106001"
    community = f"{street}.330106001001"
    people = {
        "sup-district": (["supervisor"], [district], False),
        "sup-street": (["supervisor"], [street], False),
        "sup-other": (["supervisor"], ["330100.330106.330106002"], False),
        "sup-prefix-twin": (["supervisor"], ["330100.3301060"], False),
        "leader-community": (["grid_leader"], [community], False),
        "worker-community": (["grid_worker"], [community], False),
        "sup-gone": (["supervisor"], [district], True),
        "disp-district": (["dispatcher"], [district], False),
        "disp-street": (["dispatcher"], [street], False),
    }
    ids = {}
    async with app.state.sessionmaker() as s, s.begin():
        for username, (roles, paths, disabled) in people.items():
            account = Account(
                kind="staff",
                username=username,
                name=username,
                password_hash="x",
                roles=roles,
                area_paths=paths,
                department_ids=[],
                home_area_path=paths[0],
                disabled=disabled,
            )
            s.add(account)
            await s.flush()
            ids[username] = str(account.id)
    case_service = {
        "roles": ["platform"],
        "scope": "responsible:read",
        "cid": "case_service",
        "sub": "client:case_service",
    }
    r = await client.get(
        "/api/v1/recipients/responsible",
        headers=bearer(**case_service),
        params={
            "area_path": f"{community}.330106001001001",
            "roles": ["supervisor", "grid_leader"],
        },
    )
    assert r.status_code == 200, r.text
    assert sorted(r.json()["account_ids"]) == sorted(
        [ids["sup-district"], ids["sup-street"], ids["leader-community"]]
    )
    r = await client.get(
        "/api/v1/recipients/responsible",
        headers=bearer(**case_service),
        params={"area_path": ["330100", district, street], "roles": "dispatcher", "match": "exact"},
    )
    assert sorted(r.json()["account_ids"]) == sorted([ids["disp-district"], ids["disp-street"]])
    r = await client.get(
        "/api/v1/recipients/responsible",
        headers=bearer(**NOTIFY),
        params={"area_path": district, "roles": "supervisor"},
    )
    assert (r.status_code, r.json()["code"]) == (403, "missing_scope")
    r = await client.get(
        "/api/v1/recipients/responsible",
        headers=bearer(**case_service),
        params={"roles": "supervisor"},
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "query.area_path"


async def test_responsible_handlers_of_departments_on_duty(
    client: httpx.AsyncClient, app: Any, bearer: Any, admin: Any
) -> None:
    """The on-duty handlers of the lead and co-handling departments: enabled, with the role,
    in one of the departments, and not away on a post right now."""
    from datetime import timedelta

    from grid_service.accounts.models import Account
    from grid_service.members.models import Member
    from shared.db import utcnow

    district = "330100.330106"
    people = {
        "urban-1": (["department_handler"], ["dept-urban"], False),
        "urban-2": (["department_handler"], ["dept-urban", "dept-housing"], False),
        "housing-1": (["department_handler"], ["dept-housing"], False),
        "roads-1": (["department_handler"], ["dept-roads"], False),
        "urban-gone": (["department_handler"], ["dept-urban"], True),
        "urban-away": (["department_handler"], ["dept-urban"], False),
        "urban-back": (["department_handler"], ["dept-urban"], False),
        "urban-dispatcher": (["dispatcher"], ["dept-urban"], False),
    }
    ids = {}
    now = utcnow()
    from grid_service.departments.models import Department

    dept_ids: dict[str, str] = {}
    async with app.state.sessionmaker() as s, s.begin():
        for code in ("dept-urban", "dept-housing", "dept-roads"):
            dept = Department(code=code, name=code, categories=[], area_paths=[district])
            s.add(dept)
            await s.flush()
            dept_ids[code] = str(dept.id)
    async with app.state.sessionmaker() as s, s.begin():
        for username, (roles, depts, disabled) in people.items():
            account = Account(
                kind="staff",
                username=username,
                name=username,
                password_hash="x",
                roles=roles,
                area_paths=[district],
                department_ids=[dept_ids[d] for d in depts],
                home_area_path=district,
                disabled=disabled,
            )
            s.add(account)
            await s.flush()
            ids[username] = str(account.id)
    tree = await make_chain(client, admin())
    async with app.state.sessionmaker() as s, s.begin():
        for username, since, until in (
            ("urban-away", now - timedelta(hours=1), now + timedelta(days=1)),
            ("urban-back", now - timedelta(days=3), now - timedelta(days=1)),
        ):
            s.add(
                Member(
                    area_id=tree["grid1"]["id"],
                    area_path=district,
                    post="grid_worker",
                    name=username,
                    account_id=ids[username],
                    away_since=since,
                    away_until=until,
                )
            )
    case_service = {
        "roles": ["platform"],
        "scope": "responsible:read",
        "cid": "case_service",
        "sub": "client:case_service",
    }
    r = await client.get(
        "/api/v1/recipients/responsible",
        headers=bearer(**case_service),
        params={
            "department_id": ["dept-urban", "dept-housing"],
            "roles": "department_handler",
            "match": "department",
        },
    )
    assert r.status_code == 200, r.text
    assert sorted(r.json()["account_ids"]) == sorted(
        [ids["urban-1"], ids["urban-2"], ids["housing-1"], ids["urban-back"]]
    )
    missing = await client.get(
        "/api/v1/recipients/responsible",
        headers=bearer(**case_service),
        params={"roles": "department_handler", "match": "department"},
    )
    assert missing.status_code == 422
    assert missing.json()["errors"] == [
        {"field": "query.department_id", "reason": "match=department 时必填", "type": "missing"}
    ]
