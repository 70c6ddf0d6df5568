"""Delivery as a user notices it: what the provider receives, the status and its history."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
from conftest import CLOCK, FAKES, RECEIPT_TOKEN, auth, drain
from notifytest_fakes import person, tencent_number_failed

from shared.testing import TestKeys

PHONE = "13812345678"


def sender(keys: TestKeys) -> dict[str, str]:
    """A system client (the 12345 hotline's platform client): it may send to raw numbers."""
    return auth(
        keys, sub="client:hotline", roles=["platform"], scope="notifications:write", cid="hotline"
    )


async def send(
    client: httpx.AsyncClient, keys: TestKeys, *, key: str | None = None, **body: Any
) -> dict[str, Any]:
    payload = {
        "template_key": "case_accepted",
        "variables": {"case_number": "XH-0042"},
        "recipient": {"phone": PHONE},
        **body,
    }
    response = await client.post(
        "/api/v1/notifications",
        json=payload,
        headers={**sender(keys), "Idempotency-Key": key or uuid.uuid4().hex},
    )
    assert response.status_code == 202, response.text
    result: dict[str, Any] = response.json()
    return result


async def read(client: httpx.AsyncClient, keys: TestKeys, nid: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/notifications/{nid}", headers=sender(keys))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def aliyun_fails(code: str, message: str = "") -> Any:
    return lambda request: httpx.Response(
        200, json={"Code": code, "Message": message, "RequestId": "r"}
    )


async def test_sms_is_stored_then_sent_with_our_id_and_history(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    created = await send(client, test_keys)
    assert created["status"] == "queued"
    assert created["phone_masked"] == "138****5678"
    assert FAKES.sent == []  # stored first, sent by the worker
    assert await drain(app) == 1
    (sent,) = FAKES.sent_by("aliyun")
    assert sent.to == PHONE
    assert sent.body["OutId"] == created["id"]
    assert sent.body["TemplateParam"] == '{"case_number":"XH-0042"}'
    body = await read(client, test_keys, created["id"])
    assert body["status"] == "sent"
    assert body["provider"] == "aliyun"
    assert body["provider_message_id"]
    assert [h["status"] for h in body["history"]] == ["queued", "sent"]


async def test_a_repeated_request_creates_one_message(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    first = await send(client, test_keys, key="same-key")
    again = await send(client, test_keys, key="same-key")
    assert again["id"] == first["id"]
    await drain(app)
    assert len(FAKES.sent) == 1
    reused = await client.post(
        "/api/v1/notifications",
        json={
            "template_key": "case_accepted",
            "variables": {"case_number": "OTHER"},
            "recipient": {"phone": PHONE},
        },
        headers={**sender(test_keys), "Idempotency-Key": "same-key"},
    )
    assert reused.status_code == 422
    assert reused.json()["code"] == "idempotency_key_reused"


async def test_bad_requests_name_the_field_and_store_nothing(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    headers = {**sender(test_keys), "Idempotency-Key": "k1"}
    base = {"template_key": "case_accepted", "recipient": {"phone": PHONE}}

    missing = await client.post(
        "/api/v1/notifications", json={**base, "variables": {}}, headers=headers
    )
    assert missing.status_code == 422
    assert missing.json()["code"] == "invalid_variables"
    assert missing.json()["errors"][0]["field"] == "variables.case_number"

    unknown = await client.post(
        "/api/v1/notifications",
        json={**base, "template_key": "no_such", "variables": {}},
        headers={**sender(test_keys), "Idempotency-Key": "k2"},
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "template_key"

    bad_phone = await client.post(
        "/api/v1/notifications",
        json={**base, "recipient": {"phone": "12"}, "variables": {"case_number": "1"}},
        headers={**sender(test_keys), "Idempotency-Key": "k3"},
    )
    assert bad_phone.status_code == 422
    assert bad_phone.json()["errors"][0]["field"] == "recipient.phone"

    no_key = await client.post(
        "/api/v1/notifications",
        json={**base, "variables": {"case_number": "1"}},
        headers=sender(test_keys),
    )
    assert no_key.status_code == 422
    assert no_key.json()["errors"][0]["field"] == "header.Idempotency-Key"

    malformed = await client.post(
        "/api/v1/notifications",
        content=b"{not json",
        headers={**headers, "Content-Type": "application/json"},
    )
    assert malformed.status_code == 400

    anonymous = await client.post("/api/v1/notifications", json=base)
    assert anonymous.status_code == 401
    resident = await client.post(
        "/api/v1/notifications",
        json={**base, "variables": {"case_number": "1"}},
        headers={**auth(test_keys, roles=["resident"]), "Idempotency-Key": "k4"},
    )
    assert resident.status_code == 403

    missing_one = await client.get(f"/api/v1/notifications/{uuid.uuid4()}", headers=headers)
    assert missing_one.status_code == 404
    assert missing_one.json()["code"] == "notification_not_found"

    assert await drain(app) == 0
    assert FAKES.sent == []


async def test_transient_errors_retry_with_backoff_then_dead_letter(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    settings = app.state.delivery.settings
    FAKES.script("aliyun", aliyun_fails("isp.SYSTEM_ERROR", "系统错误"))
    created = await send(client, test_keys)
    await drain(app)
    body = await read(client, test_keys, created["id"])
    assert body["status"] == "retrying"
    assert body["attempts"] == 1
    assert body["last_error_code"] == "isp.SYSTEM_ERROR"
    # exponential backoff with jitter: the first delay lies within [base/2, base]
    wait = datetime.fromisoformat(body["next_attempt_at"]) - CLOCK.now
    assert timedelta(seconds=settings.backoff_base_seconds / 2) <= wait
    assert wait <= timedelta(seconds=settings.backoff_base_seconds)

    assert await drain(app) == 0  # not due yet: no immediate retry
    CLOCK.advance(seconds=settings.backoff_base_seconds)
    await drain(app)
    body = await read(client, test_keys, created["id"])
    assert body["status"] == "sent"
    assert len(FAKES.sent_by("aliyun")) == 2

    # a message that keeps failing (5xx) ends in the dead letter, with the reason
    for _ in range(settings.max_attempts):
        FAKES.script("aliyun", lambda request: httpx.Response(500, text="oops"))
    doomed = await send(client, test_keys, recipient={"phone": "13900000001"})
    for _ in range(settings.max_attempts):
        await drain(app)
        CLOCK.advance(seconds=settings.backoff_max_seconds)
    body = await read(client, test_keys, doomed["id"])
    assert body["status"] == "dead"
    assert body["last_error_code"] == "http.500"
    assert body["attempts"] == settings.max_attempts
    assert body["history"][-1]["status"] == "dead"


async def test_outage_fails_over_to_the_next_provider(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    FAKES.script("aliyun", down)
    created = await send(client, test_keys)
    await drain(app)
    body = await read(client, test_keys, created["id"])
    assert body["status"] == "sent"
    assert body["provider"] == "tencent"
    assert [h["status"] for h in body["history"]] == ["queued", "failover", "sent"]
    (sent,) = FAKES.sent_by("tencent")
    assert sent.body["SessionContext"] == created["id"]

    # a permanent error is not an outage: no failover, the code is kept
    FAKES.script("aliyun", aliyun_fails("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号"))
    bad = await send(client, test_keys, recipient={"phone": "13900000002"})
    await drain(app)
    body = await read(client, test_keys, bad["id"])
    assert body["status"] == "failed"
    assert body["last_error_code"] == "isv.MOBILE_NUMBER_ILLEGAL"
    assert len(FAKES.sent_by("tencent")) == 1


async def test_tencent_http_200_can_carry_a_failed_number(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    app.state.delivery.providers.sms.reverse()  # tencent first
    try:
        FAKES.script(
            "tencent",
            lambda request: tencent_number_failed(
                __import__("json").loads(request.content),
                "FailedOperation.PhoneNumberInBlacklist",
                "blacklist",
            ),
        )
        created = await send(client, test_keys)
        await drain(app)
    finally:
        app.state.delivery.providers.sms.reverse()
    body = await read(client, test_keys, created["id"])
    assert body["status"] == "failed"
    assert body["last_error_code"] == "FailedOperation.PhoneNumberInBlacklist"


async def test_rate_limited_number_is_deferred_not_retried_at_once(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    FAKES.script("aliyun", aliyun_fails("isv.BUSINESS_LIMIT_CONTROL", "触发小时级流控Permits:5"))
    created = await send(client, test_keys)
    await drain(app)
    body = await read(client, test_keys, created["id"])
    assert body["status"] == "deferred"
    assert body["attempts"] == 0
    CLOCK.advance(minutes=30)
    assert await drain(app) == 0
    CLOCK.advance(minutes=31)
    await drain(app)
    assert (await read(client, test_keys, created["id"]))["status"] == "sent"
    assert len(FAKES.sent_by("aliyun")) == 2


async def test_ambiguous_timeout_is_never_resent_blindly(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    settings = app.state.delivery.settings

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("no answer")

    FAKES.script("aliyun", slow)
    created = await send(client, test_keys)
    await drain(app)
    body = await read(client, test_keys, created["id"])
    assert body["status"] == "unconfirmed"
    CLOCK.advance(seconds=settings.receipt_wait_seconds - 1)
    assert await drain(app) == 0
    assert FAKES.aliyun_queries == []
    # the receipt names our id (OutId): the message is delivered, nothing was re-sent
    receipt = [
        {
            "phone_number": PHONE,
            "success": True,
            "biz_id": "900^1",
            "out_id": created["id"],
            "err_code": "DELIVERED",
            "report_time": "2026-11-23 10:00:09",
        }
    ]
    answer = await client.post(f"/api/v1/receipts/aliyun?token={RECEIPT_TOKEN}", json=receipt)
    assert answer.json()["code"] == 0
    assert (await read(client, test_keys, created["id"]))["status"] == "delivered"
    assert len(FAKES.sent_by("aliyun")) == 1


async def test_without_a_receipt_the_query_api_settles_an_ambiguous_send(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    wait = app.state.delivery.settings.receipt_wait_seconds

    def timeout(request: httpx.Request) -> httpx.Response:
        if b"PhoneNumbers=13900000004" in request.content:
            FAKES.sent.pop()  # this request never reached Alibaba
        raise httpx.ReadTimeout("no answer")

    FAKES.script("aliyun", timeout, timeout, timeout)
    # three different messages: three single sends (identical ones would share a batch call)
    reached, never, pending = [
        await send(client, test_keys, recipient={"phone": phone}, variables={"case_number": phone})
        for phone in ("13900000003", "13900000004", "13900000005")
    ]
    await drain(app)
    FAKES.aliyun_status[pending["id"]] = (1, "")  # Alibaba has it, no carrier report yet
    CLOCK.advance(seconds=wait + 1)
    await drain(app)
    assert {q["PhoneNumber"] for q in FAKES.aliyun_queries} == {
        "13900000003",
        "13900000004",
        "13900000005",
    }
    assert FAKES.aliyun_queries[0]["SendDate"] == "20261123"
    body = await read(client, test_keys, reached["id"])
    assert body["status"] == "delivered"
    assert body["history"][-1]["detail"] == "by query"
    # never received: sent again, once
    body = await read(client, test_keys, never["id"])
    assert body["status"] == "sent"
    assert [h["status"] for h in body["history"]] == ["queued", "unconfirmed", "requeued", "sent"]
    assert [s.to for s in FAKES.sent_by("aliyun")].count("13900000004") == 1
    # still pending: asked again later, then dead-lettered, never re-sent
    assert (await read(client, test_keys, pending["id"]))["status"] == "unconfirmed"
    CLOCK.advance(seconds=wait)
    await drain(app)
    body = await read(client, test_keys, pending["id"])
    assert body["status"] == "dead"
    assert body["last_error_code"] == "no_receipt"
    assert [s.to for s in FAKES.sent_by("aliyun")].count("13900000005") == 1


async def test_stale_claim_of_a_crashed_worker_is_not_resent(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    from notify_service.notifications import repository

    created = await send(client, test_keys)
    async with app.state.sessionmaker() as session, session.begin():
        claimed = await repository.claim_due(
            session, now=CLOCK.now, lease_until=CLOCK.now + timedelta(minutes=2), limit=10
        )
    assert len(claimed) == 1  # a worker claimed it, then died
    CLOCK.advance(minutes=3)
    await drain(app)
    body = await read(client, test_keys, created["id"])
    assert body["status"] == "unconfirmed"
    assert FAKES.sent == []


async def test_account_recipient_resolved_through_grid_with_cached_token(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    someone = person(PHONE, channels=["sms"])
    FAKES.grid_people[uuid.UUID(someone["account_id"])] = someone
    first = await send(client, test_keys, recipient={"account_id": someone["account_id"]})
    CLOCK.advance(seconds=1)
    second = await send(client, test_keys, recipient={"account_id": someone["account_id"]})
    nobody = await send(client, test_keys, recipient={"account_id": str(uuid.uuid4())})
    await drain(app)
    assert FAKES.grid_token_calls == 1
    assert (await read(client, test_keys, first["id"]))["status"] == "sent"
    # the second SMS to the same number in the same minute waits (frequency cap)
    assert (await read(client, test_keys, second["id"]))["status"] == "deferred"
    body = await read(client, test_keys, nobody["id"])
    assert body["status"] == "failed"
    assert body["last_error_code"] == "recipient_unknown"

    # grid_service down: the message waits and is retried, nothing is lost
    FAKES.grid_fail = True
    third = await send(
        client, test_keys, recipient={"account_id": someone["account_id"]}, priority="critical"
    )
    await drain(app)
    assert (await read(client, test_keys, third["id"]))["status"] == "retrying"
    FAKES.grid_fail = False
    CLOCK.advance(minutes=5)
    await drain(app)
    assert (await read(client, test_keys, third["id"]))["status"] == "sent"


async def test_a_batch_that_fails_before_sending_gives_its_claims_back(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys, monkeypatch: Any
) -> None:
    import pytest

    from notify_service.delivery.engine import process_batch
    from notify_service.notifications import repository

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("database hiccup")

    created = await send(client, test_keys)
    monkeypatch.setattr(repository, "sms_sent_since", broken)
    with pytest.raises(RuntimeError):
        await process_batch(app.state.delivery)
    monkeypatch.undo()
    body = await read(client, test_keys, created["id"])
    assert body["status"] == "queued"
    assert FAKES.sent == []
    CLOCK.advance(seconds=30)
    await drain(app)
    assert (await read(client, test_keys, created["id"]))["status"] == "sent"
