"""Access tokens: verified against a JWKS with caching and key rotation; bad ones are 401."""

from __future__ import annotations

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI

from shared.auth import CurrentPrincipal, JWKSVerifier, Principal, require_roles
from shared.http import ServiceClient
from shared.middleware import RequestContextMiddleware
from shared.problem import Unauthorized, install_problem_handlers
from shared.testing import TestKeys


class JWKSServer:
    def __init__(self, keys: TestKeys) -> None:
        self.keys = keys
        self.published: list[str] | None = None
        self.fetches = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.fetches += 1
        return httpx.Response(200, json=self.keys.jwks(self.published))


def make_verifier(server: JWKSServer) -> JWKSVerifier:
    client = ServiceClient("http://idp.test", name="jwks", transport=httpx.MockTransport(server))
    return JWKSVerifier(
        client,
        "/.well-known/jwks.json",
        issuer="gridgov",
        audience="gridgov",
        min_refresh_seconds=0,
    )


@pytest.fixture
def keys() -> TestKeys:
    return TestKeys()


async def test_valid_token_gives_the_principal(keys: TestKeys) -> None:
    verifier = make_verifier(JWKSServer(keys))
    token = keys.mint(sub="acc-1", roles=["dispatcher"], areas=["330106.330106001"], depts=["d1"])
    principal = Principal.from_claims(await verifier.verify(token))
    assert principal.subject == "acc-1"
    assert principal.has_role("dispatcher")
    assert principal.covers_area("330106.330106001.330106001001")
    assert not principal.covers_area("330106.330106002")
    assert not principal.covers_area("330106.3301060010")  # a sibling code that shares a prefix
    assert principal.department_ids == ("d1",)


async def test_keys_are_cached(keys: TestKeys) -> None:
    server = JWKSServer(keys)
    verifier = make_verifier(server)
    for _ in range(5):
        await verifier.verify(keys.mint())
    assert server.fetches == 1


async def test_unknown_key_is_401(keys: TestKeys) -> None:
    verifier = make_verifier(JWKSServer(keys))
    stranger = ec.generate_private_key(ec.SECP256R1())
    token = keys.mint(kid="not-published", key=stranger)
    with pytest.raises(Unauthorized) as info:
        await verifier.verify(token)
    assert info.value.instance_code == "invalid_token"
    assert info.value.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


async def test_forged_signature_with_a_known_kid_is_401(keys: TestKeys) -> None:
    verifier = make_verifier(JWKSServer(keys))
    stranger = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(Unauthorized):
        await verifier.verify(keys.mint(key=stranger))


async def test_expired_token_is_401(keys: TestKeys) -> None:
    verifier = make_verifier(JWKSServer(keys))
    with pytest.raises(Unauthorized) as info:
        await verifier.verify(keys.mint(expires_in=-60))
    assert info.value.instance_code == "token_expired"


async def test_wrong_audience_is_401(keys: TestKeys) -> None:
    verifier = make_verifier(JWKSServer(keys))
    with pytest.raises(Unauthorized) as info:
        await verifier.verify(keys.mint(audience="another-system"))
    assert info.value.instance_code == "invalid_token"


async def test_unsigned_and_garbage_tokens_are_401(keys: TestKeys) -> None:
    import jwt

    verifier = make_verifier(JWKSServer(keys))
    unsigned = jwt.encode({"sub": "x"}, key=None, algorithm="none")
    for token in (unsigned, "garbage", "a.b.c"):
        with pytest.raises(Unauthorized):
            await verifier.verify(token)


async def test_rotation_is_picked_up_without_restart(keys: TestKeys) -> None:
    server = JWKSServer(keys)
    verifier = make_verifier(server)
    old_kid = keys.current
    await verifier.verify(keys.mint())
    new_kid = keys.add_key()
    keys.current = new_kid
    # The new key is unknown to the cache: one refresh finds it; the old key still verifies.
    await verifier.verify(keys.mint())
    await verifier.verify(keys.mint(kid=old_kid))
    assert server.fetches == 2


async def test_a_token_is_verified_once_then_answered_from_memory(
    keys: TestKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    import jwt

    verifier = make_verifier(JWKSServer(keys))
    token = keys.mint(sub="acc-1")
    decodes = 0
    real = jwt.decode

    def counting(*args: object, **kwargs: object) -> object:
        nonlocal decodes
        decodes += 1
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jwt, "decode", counting)
    for _ in range(5):
        assert (await verifier.verify(token))["sub"] == "acc-1"
    assert decodes == 1
    await verifier.verify(keys.mint(sub="acc-2"))  # another token: verified in full
    assert decodes == 2


async def test_a_remembered_token_stops_when_its_key_is_withdrawn(keys: TestKeys) -> None:
    server = JWKSServer(keys)
    verifier = make_verifier(server)
    token = keys.mint()
    await verifier.verify(token)
    keys.current = keys.add_key()
    server.published = [keys.current]  # the old key is no longer published
    verifier.cache_seconds = 0  # the keys are due for a re-read
    with pytest.raises(Unauthorized) as info:
        await verifier.verify(token)
    assert info.value.instance_code == "invalid_token"


async def test_a_remembered_token_expires(keys: TestKeys) -> None:
    import asyncio
    import time

    verifier = make_verifier(JWKSServer(keys))
    verifier.leeway = 0
    token = keys.mint(expires_in=1)
    exp = (await verifier.verify(token))["exp"]
    await verifier.verify(token)  # remembered
    await asyncio.sleep(max(0.0, exp - time.time()) + 0.05)
    with pytest.raises(Unauthorized) as info:
        await verifier.verify(token)
    assert info.value.instance_code == "token_expired"


async def test_the_dependency_answers_401_problems_and_403_for_roles(keys: TestKeys) -> None:
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(RequestContextMiddleware, service="t", max_body_bytes=10_000)
    app.state.verifier = make_verifier(JWKSServer(keys))

    @app.get("/me")
    async def me(principal: CurrentPrincipal) -> dict[str, str]:
        return {"sub": principal.subject}

    @app.get("/admin", dependencies=[require_roles("admin")])
    async def admin() -> dict[str, str]:
        return {"ok": "yes"}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        r = await c.get("/me")
        assert r.status_code == 401
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == "unauthorized"
        r = await c.get("/me", headers={"Authorization": f"Bearer {keys.mint(expires_in=-60)}"})
        assert (r.status_code, r.json()["code"]) == (401, "token_expired")
        ok = keys.mint(sub="u9", roles=["resident"])
        r = await c.get("/me", headers={"Authorization": f"Bearer {ok}"})
        assert r.json() == {"sub": "u9"}
        r = await c.get("/admin", headers={"Authorization": f"Bearer {ok}"})
        assert (r.status_code, r.json()["code"]) == (403, "missing_role")


async def test_idp_unreachable_without_cached_keys_is_503(keys: TestKeys) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    client = ServiceClient(
        "http://idp.test", name="jwks", retries=0, transport=httpx.MockTransport(down)
    )
    verifier = JWKSVerifier(client, "/jwks", issuer="gridgov", audience="gridgov")
    from shared.problem import UpstreamUnavailable

    with pytest.raises(UpstreamUnavailable) as info:
        await verifier.verify(keys.mint())
    assert info.value.instance_code == "auth_unavailable"
