"""Logins (password with lockout, refresh rotation, client credentials, WeChat), key
rotation seen from another service, account management inside an admin's scope."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import jwt
import pytest

from shared.auth import JWKSVerifier
from shared.http import ServiceClient
from shared.problem import AppError

PASSWORD = "correct-horse-battery"


def other_service_verifier(app: Any) -> JWKSVerifier:
    """What case_service/notify_service build: a JWKS verifier pointed at grid_service."""
    client = ServiceClient("http://grid.test", name="jwks", transport=httpx.ASGITransport(app=app))
    return JWKSVerifier(
        client,
        "/.well-known/jwks.json",
        issuer="gridgov",
        audience="gridgov",
        min_refresh_seconds=0,
    )


async def create_staff(client: httpx.AsyncClient, admin: Any, **extra: Any) -> dict[str, Any]:
    body = {
        "username": "wangfang",
        "name": "王芳",
        "password": PASSWORD,
        "roles": ["grid_worker"],
        "phone": "13812345678",
        **extra,
    }
    response = await client.post("/api/v1/accounts", headers=admin(), json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def login(
    client: httpx.AsyncClient, username: str = "wangfang", password: str = PASSWORD
) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/token",
        data={"grant_type": "password", "username": username, "password": password},
    )


async def test_password_login_issues_verifiable_tokens(
    client: httpx.AsyncClient, admin: Any, app: Any
) -> None:
    account = await create_staff(client, admin)
    assert account["phone_masked"] == "138****5678"
    response = await login(client)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["refresh_token"]
    claims = await other_service_verifier(app).verify(body["access_token"])
    assert claims["sub"] == account["id"]
    assert claims["roles"] == ["grid_worker"]
    assert claims["name"] == "王芳"
    assert claims["typ"] == "access"
    assert jwt.get_unverified_header(body["access_token"])["alg"] == "ES256"


async def test_me_and_phone_binding(
    client: httpx.AsyncClient, admin: Any, own_tokens: None
) -> None:
    await create_staff(client, admin)
    token = (await login(client)).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    me = await client.get("/api/v1/accounts/me", headers=headers)
    assert me.status_code == 200
    assert me.json()["username"] == "wangfang"
    changed = await client.patch(
        "/api/v1/accounts/me", headers=headers, json={"phone": "13999998888", "channels": ["sms"]}
    )
    assert changed.json()["phone_masked"] == "139****8888"
    assert "13999998888" not in changed.text
    bad = await client.patch("/api/v1/accounts/me", headers=headers, json={"phone": "abc"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "phone"
    no_area = await client.patch(
        "/api/v1/accounts/me",
        headers=headers,
        json={"home_area_id": "00000000-0000-0000-0000-000000000000"},
    )
    assert no_area.status_code == 422
    assert no_area.json()["errors"][0]["field"] == "home_area_id"


async def test_wrong_password_and_unknown_user(client: httpx.AsyncClient, admin: Any) -> None:
    await create_staff(client, admin)
    for response in (
        await login(client, password="wrong-password"),
        await login(client, username="nobody"),
    ):
        assert response.status_code == 400
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "invalid_grant"
        assert response.json()["error"] == "invalid_grant"


async def test_lockout_after_repeated_failures(client: httpx.AsyncClient, admin: Any) -> None:
    account = await create_staff(client, admin)
    for _ in range(3):  # GRID_LOGIN_MAX_FAILURES=3 in the tests
        assert (await login(client, password="wrong-password")).json()["code"] == "invalid_grant"
    locked = await login(client)  # even the right password
    assert locked.status_code == 400
    assert locked.json()["code"] == "account_locked"
    assert 590 <= int(locked.headers["retry-after"]) <= 601
    shown = await client.get(f"/api/v1/accounts/{account['id']}", headers=admin())
    assert shown.json()["locked_until"] is not None
    unlocked = await client.post(f"/api/v1/accounts/{account['id']}/unlock", headers=admin())
    assert unlocked.json()["locked_until"] is None
    assert (await login(client)).status_code == 200


async def test_a_success_resets_the_failure_count(client: httpx.AsyncClient, admin: Any) -> None:
    await create_staff(client, admin)
    for _ in range(2):
        await login(client, password="wrong-password")
    assert (await login(client)).status_code == 200
    for _ in range(2):
        await login(client, password="wrong-password")
    assert (await login(client)).status_code == 200


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": token}
    )


async def test_refresh_tokens_rotate_and_reuse_revokes_the_family(
    client: httpx.AsyncClient, admin: Any
) -> None:
    await create_staff(client, admin)
    first = (await login(client)).json()
    second = await refresh(client, first["refresh_token"])
    assert second.status_code == 200
    assert second.json()["refresh_token"] != first["refresh_token"]
    third = (await refresh(client, second.json()["refresh_token"])).json()
    reused = await refresh(client, first["refresh_token"])  # stolen and replayed
    assert reused.status_code == 400
    assert reused.json()["code"] == "refresh_token_reused"
    latest = await refresh(client, third["refresh_token"])  # the family is gone
    assert latest.status_code == 400
    assert latest.json()["code"] == "refresh_token_revoked"
    unknown = await refresh(client, "not-a-token")
    assert unknown.json()["code"] == "invalid_grant"
    other_login = (await login(client)).json()  # a new sign-in is unaffected
    assert (await refresh(client, other_login["refresh_token"])).status_code == 200


async def test_revoke_ends_a_sign_in(client: httpx.AsyncClient, admin: Any) -> None:
    await create_staff(client, admin)
    tokens = (await login(client)).json()
    revoked = await client.post("/api/v1/auth/revoke", data={"token": tokens["refresh_token"]})
    assert revoked.status_code == 200
    assert (await refresh(client, tokens["refresh_token"])).json()[
        "code"
    ] == "refresh_token_revoked"
    assert (await client.post("/api/v1/auth/revoke", data={"token": "unknown"})).status_code == 200


async def test_password_change_and_disable_revoke_tokens(
    client: httpx.AsyncClient, admin: Any
) -> None:
    account = await create_staff(client, admin)
    tokens = (await login(client)).json()
    await client.patch(
        f"/api/v1/accounts/{account['id']}", headers=admin(), json={"password": "another-password"}
    )
    assert (await refresh(client, tokens["refresh_token"])).json()[
        "code"
    ] == "refresh_token_revoked"
    assert (await login(client, password="another-password")).status_code == 200
    await client.patch(
        f"/api/v1/accounts/{account['id']}", headers=admin(), json={"disabled": True}
    )
    assert (await login(client, password="another-password")).json()["code"] == "account_disabled"


async def test_token_endpoint_bad_requests(client: httpx.AsyncClient) -> None:
    cases = [
        ({}, "invalid_request"),
        ({"grant_type": "authorization_code"}, "unsupported_grant_type"),
        ({"grant_type": "password", "username": "x"}, "invalid_request"),
        ({"grant_type": "refresh_token"}, "invalid_request"),
    ]
    for data, code in cases:
        response = await client.post("/api/v1/auth/token", data=data)
        assert response.status_code == 400, data
        assert response.json()["code"] == code


async def make_client(client: httpx.AsyncClient, admin: Any, **extra: Any) -> dict[str, Any]:
    body = {"id": "hotline-12345", "name": "12345", "scopes": ["open311", "cases:read"], **extra}
    response = await client.post("/api/v1/platform-clients", headers=admin(), json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_client_credentials(client: httpx.AsyncClient, admin: Any, app: Any) -> None:
    created = await make_client(client, admin)
    secret = created["client_secret"]
    response = await client.post(
        "/api/v1/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "hotline-12345",
            "client_secret": secret,
            "scope": "open311",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "open311"
    assert "refresh_token" not in response.json()
    claims = await other_service_verifier(app).verify(response.json()["access_token"])
    assert claims["cid"] == "hotline-12345"
    assert claims["scope"] == "open311"
    assert claims["roles"] == ["platform"]
    basic = base64.b64encode(f"hotline-12345:{secret}".encode()).decode()
    via_basic = await client.post(
        "/api/v1/auth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert via_basic.json()["scope"] == "cases:read open311"
    wrong = await client.post(
        "/api/v1/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "hotline-12345",
            "client_secret": "nope",
        },
    )
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "invalid_client"
    assert wrong.headers["www-authenticate"].startswith("Basic")
    missing = await client.post("/api/v1/auth/token", data={"grant_type": "client_credentials"})
    assert missing.status_code == 401
    scope = await client.post(
        "/api/v1/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "hotline-12345",
            "client_secret": secret,
            "scope": "recipients:read",
        },
    )
    assert scope.status_code == 400
    assert scope.json()["code"] == "invalid_scope"
    street = await client.post(
        "/api/v1/platform-clients",
        headers=admin("330100.330106"),
        json={"id": "street-app", "name": "x", "scopes": ["open311"]},
    )
    assert street.status_code == 403
    dup = await client.post(
        "/api/v1/platform-clients",
        headers=admin(),
        json={"id": "hotline-12345", "name": "x", "scopes": ["open311"]},
    )
    assert dup.status_code == 409
    bad_scope = await client.post(
        "/api/v1/platform-clients",
        headers=admin(),
        json={"id": "other", "name": "x", "scopes": ["Not A Scope"]},
    )
    assert bad_scope.status_code == 422
    assert bad_scope.json()["errors"][0]["field"] == "scopes.0"


async def test_verify_api_key(client: httpx.AsyncClient, admin: Any, bearer: Any) -> None:
    created = await make_client(client, admin, with_api_key=True)
    assert created["api_key"]
    assert created["has_api_key"] is True
    case_service = bearer(
        sub="client:case_service", roles=["platform"], scope="api_keys:verify", cid="case_service"
    )
    ok = await client.post(
        "/api/v1/platform-clients/verify-api-key",
        headers=case_service,
        json={"api_key": created["api_key"]},
    )
    assert ok.status_code == 200
    assert ok.json() == {
        "client_id": "hotline-12345",
        "name": "12345",
        "scopes": ["cases:read", "open311"],
    }
    unknown = await client.post(
        "/api/v1/platform-clients/verify-api-key", headers=case_service, json={"api_key": "guess"}
    )
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "unknown_api_key"
    no_scope = await client.post(
        "/api/v1/platform-clients/verify-api-key",
        headers=bearer(roles=["platform"], scope="open311"),
        json={"api_key": created["api_key"]},
    )
    assert no_scope.status_code == 403
    assert no_scope.json()["code"] == "missing_scope"
    empty = await client.post(
        "/api/v1/platform-clients/verify-api-key", headers=case_service, json={"api_key": ""}
    )
    assert empty.status_code == 422


async def test_key_rotation_keeps_old_tokens_verifying_elsewhere(
    client: httpx.AsyncClient, admin: Any, app: Any
) -> None:
    await create_staff(client, admin)
    verifier = other_service_verifier(app)
    old = (await login(client)).json()["access_token"]
    await verifier.verify(old)  # the other service has cached the current key
    rotated = await client.post("/api/v1/auth/keys/rotate", headers=admin())
    assert rotated.status_code == 200
    old_kid = jwt.get_unverified_header(old)["kid"]
    assert rotated.json()["previous_kids"] == [old_kid]
    assert rotated.json()["kid"] != old_kid
    new = (await login(client)).json()["access_token"]
    assert jwt.get_unverified_header(new)["kid"] == rotated.json()["kid"]
    jwks = (await client.get("/.well-known/jwks.json")).json()
    assert {k["kid"] for k in jwks["keys"]} == {old_kid, rotated.json()["kid"]}
    assert (await verifier.verify(new))["name"] == "王芳"  # unknown kid → refetched
    assert (await verifier.verify(old))["name"] == "王芳"  # previous key still published
    street_admin = await client.post("/api/v1/auth/keys/rotate", headers=admin("330100.330106"))
    assert street_admin.status_code == 403
    assert street_admin.json()["code"] == "outside_scope"
    refused = await client.post(
        "/api/v1/auth/keys/rotate", headers={"Authorization": "Bearer nonsense"}
    )
    assert refused.status_code == 401


async def test_forged_token_is_refused(app: Any) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    forged = jwt.encode(
        {"sub": "x", "iss": "gridgov", "aud": "gridgov", "exp": 4_000_000_000, "iat": 0},
        ec.generate_private_key(ec.SECP256R1()),
        algorithm="ES256",
        headers={"kid": "forged"},
    )
    with pytest.raises(AppError) as caught:
        await other_service_verifier(app).verify(forged)
    assert caught.value.instance_code == "invalid_token"


async def test_admin_manages_accounts_only_inside_their_scope(
    client: httpx.AsyncClient, admin: Any
) -> None:
    from gridtest_helpers import make_chain

    tree = await make_chain(client, admin())
    grid = tree["grid1"]["path"]
    inside = await create_staff(client, admin, area_paths=[grid])
    street_admin = admin("330100.330106.330106001")
    elsewhere = admin("330100.330108")
    assert (
        await client.get(f"/api/v1/accounts/{inside['id']}", headers=street_admin)
    ).status_code == 200
    refused = await client.get(f"/api/v1/accounts/{inside['id']}", headers=elsewhere)
    assert refused.status_code == 403
    assert refused.json()["code"] == "outside_scope"
    patch = await client.patch(
        f"/api/v1/accounts/{inside['id']}", headers=elsewhere, json={"roles": ["admin"]}
    )
    assert patch.status_code == 403
    widen = await client.patch(
        f"/api/v1/accounts/{inside['id']}", headers=street_admin, json={"area_paths": ["330100"]}
    )
    assert widen.status_code == 403
    create = await client.post(
        "/api/v1/accounts",
        headers=elsewhere,
        json={
            "username": "lina",
            "name": "李",
            "password": PASSWORD,
            "roles": ["grid_worker"],
            "area_paths": [grid],
        },
    )
    assert create.status_code == 403
    listed = await client.get("/api/v1/accounts", headers=elsewhere)
    assert listed.json()["items"] == []
    bad_kind = await client.get("/api/v1/accounts", headers=street_admin, params={"kind": "robot"})
    assert bad_kind.status_code == 422
    listed = await client.get("/api/v1/accounts", headers=street_admin, params={"kind": "staff"})
    assert [a["username"] for a in listed.json()["items"]] == ["wangfang"]


async def test_account_refusals(client: httpx.AsyncClient, admin: Any, bearer: Any) -> None:
    await create_staff(client, admin)
    cases = [
        (
            {"username": "wangfang", "name": "x", "password": PASSWORD, "roles": ["grid_worker"]},
            409,
            None,
        ),
        (
            {"username": "x y", "name": "x", "password": PASSWORD, "roles": ["grid_worker"]},
            422,
            "username",
        ),
        (
            {"username": "lina", "name": "x", "password": "short", "roles": ["grid_worker"]},
            422,
            "password",
        ),
        (
            {"username": "lina", "name": "x", "password": PASSWORD, "roles": ["emperor"]},
            422,
            "roles.0",
        ),
        (
            {
                "username": "lina",
                "name": "x",
                "password": PASSWORD,
                "roles": ["grid_worker"],
                "area_paths": ["330100"],
            },
            422,
            "area_paths.0",
        ),
        (
            {
                "username": "lina",
                "name": "x",
                "password": PASSWORD,
                "roles": ["department_handler"],
                "department_ids": ["00000000-0000-0000-0000-000000000000"],
            },
            422,
            "department_ids.0",
        ),
    ]
    for body, status, field in cases:
        response = await client.post("/api/v1/accounts", headers=admin(), json=body)
        assert response.status_code == status, (body, response.text)
        if field:
            assert response.json()["errors"][0]["field"] == field
    not_admin = await client.post(
        "/api/v1/accounts", headers=bearer(roles=["dispatcher"], areas=["330100"]), json=cases[1][0]
    )
    assert not_admin.status_code == 403
    missing = await client.get(
        "/api/v1/accounts/00000000-0000-0000-0000-000000000000", headers=admin()
    )
    assert missing.status_code == 404


WECHAT_OK = {"openid": "oWx-resident-1", "session_key": "c2Vzc2lvbg==", "unionid": "uWx-1"}


async def test_wechat_login_creates_then_reuses_the_resident(
    client: httpx.AsyncClient, fake_wechat: dict[str, Any], app: Any, own_tokens: None
) -> None:
    fake_wechat["answers"]["code-1"] = WECHAT_OK
    fake_wechat["answers"]["code-2"] = WECHAT_OK
    first = await client.post("/api/v1/auth/wechat", json={"code": "code-1", "name": "李娜"})
    assert first.status_code == 200, first.text
    assert fake_wechat["calls"][0]["appid"] == "wx-demo-appid"
    assert fake_wechat["calls"][0]["grant_type"] == "authorization_code"
    claims = await other_service_verifier(app).verify(first.json()["access_token"])
    assert claims["roles"] == ["resident"]
    second = await client.post("/api/v1/auth/wechat", json={"code": "code-2"})
    assert (await other_service_verifier(app).verify(second.json()["access_token"]))[
        "sub"
    ] == claims["sub"]
    me = await client.get(
        "/api/v1/accounts/me", headers={"Authorization": f"Bearer {second.json()['access_token']}"}
    )
    assert me.json()["kind"] == "resident"
    assert me.json()["name"] == "李娜"
    assert me.json()["wechat_bound"] is True
    bound = await client.patch(
        "/api/v1/accounts/me",
        headers={"Authorization": f"Bearer {second.json()['access_token']}"},
        json={"phone": "13700001111"},
    )
    assert bound.json()["phone_masked"] == "137****1111"
    assert (await refresh(client, second.json()["refresh_token"])).status_code == 200


@pytest.mark.parametrize(
    ("errcode", "status", "code"),
    [
        (40029, 400, "wechat_code_invalid"),
        (45011, 429, "wechat_rate_limited"),
        (40226, 403, "wechat_user_blocked"),
        (-1, 503, "wechat_busy"),
        (40013, 502, "wechat_error"),
    ],
)
async def test_wechat_errors(
    client: httpx.AsyncClient, fake_wechat: dict[str, Any], errcode: int, status: int, code: str
) -> None:
    fake_wechat["answers"]["bad"] = {"errcode": errcode, "errmsg": "refused"}
    response = await client.post("/api/v1/auth/wechat", json={"code": "bad"})
    assert response.status_code == status
    assert response.json()["code"] == code
    assert response.json()["wechat_errcode"] == errcode
    if status in (429, 503):
        assert "retry-after" in response.headers


async def test_wechat_unreachable_and_bad_body(client: httpx.AsyncClient, app: Any) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    previous = app.state.wechat.http
    app.state.wechat.http = ServiceClient(
        "http://wechat.test", name="wechat", transport=httpx.MockTransport(down), retries=0
    )
    try:
        response = await client.post("/api/v1/auth/wechat", json={"code": "x"})
        assert response.status_code == 503
    finally:
        await app.state.wechat.http.aclose()
        app.state.wechat.http = previous
    empty = await client.post("/api/v1/auth/wechat", json={"code": ""})
    assert empty.status_code == 422
    assert empty.json()["errors"][0]["field"] == "code"


async def test_two_first_wechat_logins_at_once_make_one_account(
    client: httpx.AsyncClient, fake_wechat: dict[str, Any], app: Any
) -> None:
    import asyncio

    for code in ("a", "b", "c"):
        fake_wechat["answers"][code] = WECHAT_OK
    responses = await asyncio.gather(
        *(client.post("/api/v1/auth/wechat", json={"code": code}) for code in ("a", "b", "c"))
    )
    assert [r.status_code for r in responses] == [200, 200, 200]
    verifier = other_service_verifier(app)
    subjects = {(await verifier.verify(r.json()["access_token"]))["sub"] for r in responses}
    assert len(subjects) == 1


async def test_platform_clients_have_no_account(client: httpx.AsyncClient, bearer: Any) -> None:
    platform = bearer(
        sub="client:open311-demo", roles=["platform"], scope="open311", cid="open311-demo"
    )
    response = await client.get("/api/v1/accounts/me", headers=platform)
    assert response.status_code == 403
    assert response.json()["code"] == "not_an_account"
    gone = await client.get(
        "/api/v1/accounts/me", headers=bearer(sub="00000000-0000-0000-0000-000000000001")
    )
    assert gone.status_code == 404
    expired = await client.get("/api/v1/accounts/me", headers=bearer(expires_in=-60))
    assert expired.status_code == 401
    assert expired.json()["code"] == "token_expired"
