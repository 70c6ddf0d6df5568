"""The inter-service client: retries only what is safe to repeat, maps upstream failures."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from shared.http import ServiceClient, retry_after_seconds
from shared.logging import request_id_var
from shared.problem import UpstreamError, UpstreamTimeout, UpstreamUnavailable


class Recorder:
    def __init__(self, *responses: httpx.Response | Exception) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        item = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        if isinstance(item, Exception):
            raise item
        return item


def client_for(recorder: Recorder, retries: int = 3) -> ServiceClient:
    return ServiceClient(
        "http://upstream.test",
        name="upstream",
        retries=retries,
        backoff_base=0.001,
        backoff_max=0.01,
        transport=httpx.MockTransport(recorder),
    )


async def test_keyed_post_is_retried_on_503_with_the_same_key() -> None:
    rec = Recorder(httpx.Response(503), httpx.Response(503), httpx.Response(201, json={"ok": 1}))
    client = client_for(rec)
    response = await client.post("/things", json={"a": 1}, idempotency_key="op-42")
    assert response.status_code == 201
    assert len(rec.requests) == 3
    assert {r.headers["Idempotency-Key"] for r in rec.requests} == {"op-42"}


async def test_unkeyed_post_is_never_retried() -> None:
    rec = Recorder(httpx.Response(503), httpx.Response(201))
    client = client_for(rec)
    with pytest.raises(UpstreamUnavailable):
        await client.post("/things", json={"a": 1})
    assert len(rec.requests) == 1


async def test_unkeyed_post_is_not_retried_after_a_connection_error() -> None:
    rec = Recorder(httpx.ConnectError("refused"), httpx.Response(201))
    client = client_for(rec)
    with pytest.raises(UpstreamUnavailable) as info:
        await client.post("/things", json={})
    assert info.value.instance_status == 503
    assert len(rec.requests) == 1


async def test_get_is_retried_after_connection_errors() -> None:
    rec = Recorder(httpx.ConnectError("refused"), httpx.Response(200, json={"v": 1}))
    client = client_for(rec)
    response = await client.get("/things/1")
    assert response.json() == {"v": 1}
    assert len(rec.requests) == 2


async def test_retries_give_up_and_map_5xx_to_502() -> None:
    rec = Recorder(httpx.Response(500))
    client = client_for(rec, retries=2)
    with pytest.raises(UpstreamError) as info:
        await client.get("/x")
    assert info.value.instance_status == 502
    assert len(rec.requests) == 1  # 500 is not a retryable status


async def test_persistent_503_on_keyed_call_ends_as_our_503_after_all_attempts() -> None:
    rec = Recorder(httpx.Response(503))
    client = client_for(rec, retries=2)
    with pytest.raises(UpstreamUnavailable):
        await client.post("/x", json={}, idempotency_key="k")
    assert len(rec.requests) == 3


async def test_timeout_is_our_504() -> None:
    rec = Recorder(httpx.ReadTimeout("slow"))
    client = client_for(rec, retries=1)
    with pytest.raises(UpstreamTimeout) as info:
        await client.get("/slow")
    assert info.value.instance_status == 504
    assert len(rec.requests) == 2


async def test_4xx_is_returned_for_the_caller_to_read() -> None:
    rec = Recorder(httpx.Response(404, json={"code": "not_found"}))
    client = client_for(rec)
    response = await client.get("/missing")
    assert response.status_code == 404
    assert len(rec.requests) == 1


async def test_request_id_of_the_current_request_is_propagated() -> None:
    rec = Recorder(httpx.Response(200))
    client = client_for(rec)
    token = request_id_var.set("req-propagated-7")
    try:
        await client.get("/x")
    finally:
        request_id_var.reset(token)
    assert rec.requests[0].headers["X-Request-ID"] == "req-propagated-7"


async def test_retry_after_is_honoured() -> None:
    assert retry_after_seconds(httpx.Response(503, headers={"Retry-After": "2"})) == 2.0
    assert retry_after_seconds(httpx.Response(503, headers={"Retry-After": "999"}), cap=5) == 5
    assert (
        retry_after_seconds(
            httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
        )
        == 0.0
    )
    assert retry_after_seconds(httpx.Response(503)) is None
    rec = Recorder(httpx.Response(429, headers={"Retry-After": "0"}), httpx.Response(200))
    client = client_for(rec)
    assert (await client.get("/x")).status_code == 200
    assert len(rec.requests) == 2


async def test_credentials_sharing_a_token_ask_for_it_once_over_their_own_client() -> None:
    from shared.oauth import ClientCredentials

    grants: list[str] = []
    calls: dict[str, list[str | None]] = {"small": [], "big": []}

    def idp(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/auth/token":
            grants.append(f"t{len(grants) + 1}")
            return httpx.Response(
                200, json={"access_token": grants[-1], "token_type": "Bearer", "expires_in": 900}
            )
        return httpx.Response(404)

    def route(name: str) -> httpx.MockTransport:
        def handler(request: httpx.Request) -> httpx.Response:
            if request.url.path == "/api/v1/auth/token":
                return idp(request)
            calls[name].append(request.headers.get("Authorization"))
            revoked = request.headers["Authorization"] == "Bearer t1" and name == "big"
            return httpx.Response(401 if revoked else 200, json={})

        return httpx.MockTransport(handler)

    small = ClientCredentials(
        ServiceClient("http://grid.test", name="small", transport=route("small")),
        client_id="case_service",
        client_secret="s3cret",
    )
    big = small.sharing_token(
        ServiceClient("http://grid.test", name="big", timeout=30, transport=route("big"))
    )
    await asyncio.gather(small.request("GET", "/x"), big.request("GET", "/snapshot"))
    assert grants == ["t1", "t2"]  # one grant, then one renewal after big's 401 — never two at once
    assert calls["big"] == ["Bearer t1", "Bearer t2"]
    await small.request("GET", "/x")
    assert calls["small"][-1] == "Bearer t2"  # the renewed token serves both
    assert small.token_fetches == 2
    assert big.token_fetches == 0


async def test_client_credentials_cache_the_token_and_renew_after_a_401() -> None:
    from datetime import UTC, datetime, timedelta

    from shared.oauth import ClientCredentials

    now = [datetime(2026, 11, 23, tzinfo=UTC)]
    issued: list[str] = []
    seen: list[str | None] = []

    def idp(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/auth/token":
            form = dict(x.split("=") for x in request.content.decode().split("&"))
            assert form == {
                "grant_type": "client_credentials",
                "client_id": "case_service",
                "client_secret": "s3cret",
                "scope": "api_keys%3Averify",
            }
            issued.append(f"t{len(issued) + 1}")
            return httpx.Response(
                200, json={"access_token": issued[-1], "token_type": "Bearer", "expires_in": 900}
            )
        seen.append(request.headers.get("Authorization"))
        if request.headers["Authorization"] == "Bearer t1" and len(seen) >= 3:
            return httpx.Response(401, json={})  # t1 revoked after two uses
        return httpx.Response(200, json={})

    creds = ClientCredentials(
        ServiceClient("http://grid.test", name="grid", transport=httpx.MockTransport(idp)),
        client_id="case_service",
        client_secret="s3cret",
        scope="api_keys:verify",
        clock=lambda: now[0],
    )
    assert (await creds.request("GET", "/x")).status_code == 200
    assert (await creds.request("GET", "/x")).status_code == 200
    assert issued == ["t1"]  # cached
    # The third call is refused with t1: one fresh token, one retry.
    assert (await creds.request("GET", "/x")).status_code == 200
    assert issued == ["t1", "t2"]
    assert seen == ["Bearer t1", "Bearer t1", "Bearer t1", "Bearer t2"]
    now[0] += timedelta(seconds=850)  # within the refresh margin: renewed before use
    await creds.request("GET", "/x")
    assert issued == ["t1", "t2", "t3"]
