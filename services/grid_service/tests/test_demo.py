"""The demo dataset: loads twice without change, valid tree, logins for every role."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa

from grid_service.demo import DEMO_PASSWORD, DEMO_POINT, load_demo


async def load(app: Any) -> None:
    async with app.state.sessionmaker() as session, session.begin():
        await load_demo(session, app.state.settings)


async def count(app: Any, table: str) -> int:
    async with app.state.engine.connect() as conn:
        return int((await conn.execute(sa.text(f"SELECT count(*) FROM {table}"))).scalar_one())  # noqa: S608


async def test_demo_is_idempotent_and_plausible(
    client: httpx.AsyncClient, app: Any, bearer: Any
) -> None:
    await load(app)
    counts = {
        t: await count(app, t)
        for t in ("area", "member", "department", "account", "platform_client", "standard_address")
    }
    await load(app)
    assert counts == {t: await count(app, t) for t in counts}
    levels = {}
    for level in ("street", "community", "grid"):
        page = await client.get("/api/v1/areas", params={"level": level, "limit": 100})
        levels[level] = page.json()["items"]
    assert (len(levels["street"]), len(levels["community"]), len(levels["grid"])) == (3, 12, 60)
    assert all(len(g["code"]) == 15 and g["code"].startswith("330106") for g in levels["grid"])
    assert all(500 <= g["household_count"] <= 1000 for g in levels["grid"])
    # the exported tree passes every import rule (valid, inside parents, no overlaps)
    exported = (await client.get("/api/v1/areas/export")).json()
    assert len(exported["features"]) == 2 + 3 + 12 + 60

    located = await client.get(
        "/api/v1/grids/locate", params={"lat": DEMO_POINT[0], "lng": DEMO_POINT[1]}
    )
    assert located.status_code == 200
    body = located.json()
    assert body["area"]["level"] == "grid"
    assert body["area"]["path"].startswith("330100.330106.")
    posts = [p["post"] for p in body["responsible"]]
    assert posts == ["grid_leader", "full_time_worker", "building_head"]
    assert {p["name"] for p in body["responsible"]} >= {"陈建国", "王芳"}
    # the hotline's spoken address is in the register, in the grid covering the demo point
    token = bearer(sub="d-1", roles=["dispatcher"], areas=["330100.330106"])
    matched = await client.post(
        "/api/v1/addresses/match",
        headers=token,
        json={"address": "浙江省杭州市西湖区宝石山下一弄１２号"},
    )
    assert matched.status_code == 200, matched.text
    assert matched.json()["status"] == "matched"
    assert matched.json()["candidates"][0]["area"]["path"] == body["area"]["path"]


async def test_demo_accounts_and_clients_sign_in(
    client: httpx.AsyncClient, app: Any, own_tokens: None
) -> None:
    await load(app)
    for username in (
        "admin",
        "dispatcher",
        "leader",
        "worker",
        "handler",
        "supervisor",
        "resident",
    ):
        response = await client.post(
            "/api/v1/auth/token",
            data={"grant_type": "password", "username": username, "password": DEMO_PASSWORD},
        )
        assert response.status_code == 200, (username, response.text)
    notify = await client.post(
        "/api/v1/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "notify_service",
            "client_secret": "notify-dev-secret",
        },
    )
    assert notify.json()["scope"] == "recipients:read"
    case = await client.post(
        "/api/v1/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "case_service",
            "client_secret": "case-dev-secret",
        },
    )
    headers = {"Authorization": f"Bearer {case.json()['access_token']}"}
    owner = await client.post(
        "/api/v1/platform-clients/verify-api-key",
        headers=headers,
        json={"api_key": "demo-open311-key"},
    )
    assert owner.json()["client_id"] == "open311-demo"
    handler = await client.get("/api/v1/departments", headers=headers, params={"category": "0802"})
    assert [d["code"] for d in handler.json()["items"]] == ["dept-roads"]
    # The demo handler's token names its department by code, as case categories do.
    token = await client.post(
        "/api/v1/auth/token",
        data={"grant_type": "password", "username": "handler", "password": "demo12345"},
    )
    claims = token.json()["access_token"].split(".")[1]
    import base64
    import json

    decoded = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    assert decoded["depts"] == ["dept-roads"]
    resident = await client.get(
        "/api/v1/recipients",
        headers={"Authorization": f"Bearer {notify.json()['access_token']}"},
        params={"area_path": "330100.330106"},
    )
    assert [r["name"] for r in resident.json()["items"]] == ["居民 李娜"]
