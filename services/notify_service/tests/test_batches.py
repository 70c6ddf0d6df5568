"""Identical SMS go out in batch calls: what the providers receive, and each message's fate."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
from conftest import CLOCK, FAKES, RECEIPT_TOKEN, drain
from notifytest_fakes import check_aliyun, tencent_answer
from test_delivery import aliyun_fails, read, send

from notify_service.delivery.engine import process_batch
from shared.testing import TestKeys

PHONES = [f"139000001{n:02d}" for n in range(5)]


async def send_all(
    client: httpx.AsyncClient, keys: TestKeys, phones: list[str], **body: Any
) -> list[dict[str, Any]]:
    return [await send(client, keys, recipient={"phone": p}, **body) for p in phones]


def aliyun_ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        200, json={"Code": "OK", "Message": "OK", "BizId": "777^0", "RequestId": "r"}
    )


async def test_identical_messages_share_one_signed_batch_call_with_a_result_each(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    created = await send_all(client, test_keys, PHONES)
    await drain(app)
    assert FAKES.calls == [("aliyun", 5)]  # the fake checked the signature and the arrays
    params = check_aliyun(FAKES.sent[0].request)
    assert params["Action"] == "SendBatchSms"
    assert sorted(json.loads(params["PhoneNumberJson"])) == PHONES
    assert json.loads(params["SignNameJson"]) == [FAKES.sent[0].body["SignName"]] * 5
    assert json.loads(params["TemplateParamJson"]) == [{"case_number": "XH-0042"}] * 5
    out_id = params["OutId"]
    bodies = [await read(client, test_keys, c["id"]) for c in created]
    assert [b["status"] for b in bodies] == ["sent"] * 5
    assert [b["history"][-1]["detail"] for b in bodies] == [bodies[0]["history"][-1]["detail"]] * 5
    assert bodies[0]["history"][-1]["detail"].startswith("batch BizId ")

    # each number's receipt lands on its own message; two alike are not taken for repeats
    biz_id = bodies[0]["history"][-1]["detail"].removeprefix("batch BizId ")
    receipts = [
        {
            "phone_number": phone,
            "success": True,
            "biz_id": biz_id,
            "out_id": out_id,
            "err_code": "DELIVERED",
            "report_time": "2026-11-23 10:00:09",
        }
        for phone in PHONES[:2]
    ]
    answer = await client.post(f"/api/v1/receipts/aliyun?token={RECEIPT_TOKEN}", json=receipts)
    assert answer.json()["accepted"] == 2
    statuses = [(await read(client, test_keys, c["id"]))["status"] for c in created]
    assert statuses == ["delivered", "delivered", "sent", "sent", "sent"]
    again = await client.post(f"/api/v1/receipts/aliyun?token={RECEIPT_TOKEN}", json=receipts)
    assert again.json() == {"accepted": 0, "duplicates": 2, "code": 0, "msg": "成功"}


async def test_batches_hold_at_most_100_numbers_for_alibaba(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    phones = [f"1370000{n:04d}" for n in range(130)]
    await send_all(client, test_keys, phones, priority="critical")
    assert await process_batch(app.state.delivery, limit=200) == 130
    assert sorted(FAKES.calls) == [("aliyun", 30), ("aliyun", 100)]
    assert sorted(s.to for s in FAKES.sent) == phones


async def test_tencent_batch_with_one_bad_number_fails_that_number_only(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    # Alibaba's account is suspended: every message fails over to Tencent on its own
    FAKES.script(
        "aliyun",
        lambda r: httpx.Response(200, json={"Code": "isv.OUT_OF_SERVICE", "Message": "停机"}),
    )
    bad = "+86" + PHONES[2]
    FAKES.script(
        "tencent",
        lambda r: tencent_answer(
            json.loads(r.content), failed={bad: "InvalidParameterValue.IncorrectPhoneNumber"}
        ),
    )
    created = await send_all(client, test_keys, PHONES)
    await drain(app)
    assert FAKES.calls == [("aliyun", 5), ("tencent", 5)]
    body = json.loads(FAKES.sent_by("tencent")[0].request.content)
    assert sorted(body["PhoneNumberSet"]) == ["+86" + p for p in PHONES]
    assert body["TemplateParamSet"] == ["XH-0042"]
    bodies = [await read(client, test_keys, c["id"]) for c in created]
    assert [b["status"] for b in bodies] == ["sent", "sent", "failed", "sent", "sent"]
    assert bodies[2]["last_error_code"] == "InvalidParameterValue.IncorrectPhoneNumber"
    assert [h["status"] for h in bodies[0]["history"]] == ["queued", "failover", "sent"]
    assert all(b["provider"] == "tencent" for b in bodies)


async def test_a_batch_refused_for_one_number_is_sent_again_one_by_one(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    bad = PHONES[1]

    def strict(request: httpx.Request) -> httpx.Response:
        params = check_aliyun(request)
        numbers = params.get("PhoneNumberJson") or params["PhoneNumbers"]
        if bad in numbers:
            return httpx.Response(200, json={"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": ""})
        return aliyun_ok(request)

    FAKES.script("aliyun", *[strict] * 4)
    created = await send_all(client, test_keys, PHONES[:3])
    await drain(app)
    assert FAKES.calls == [("aliyun", 3), ("aliyun", 1), ("aliyun", 1), ("aliyun", 1)]
    statuses = [(await read(client, test_keys, c["id"]))["status"] for c in created]
    assert statuses == ["sent", "failed", "sent"]
    # the refused call sent nothing; then one call per number
    assert sorted(s.to for s in FAKES.sent[3:]) == PHONES[:3]


async def test_a_batch_that_timed_out_is_settled_number_by_number_by_query(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    wait = app.state.delivery.settings.receipt_wait_seconds

    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("no answer")

    FAKES.script("aliyun", timeout)
    created = await send_all(client, test_keys, PHONES[:3])
    await drain(app)
    assert FAKES.calls == [("aliyun", 3)]  # Alibaba took it; we never heard back
    assert {(await read(client, test_keys, c["id"]))["status"] for c in created} == {"unconfirmed"}
    FAKES.aliyun_status[PHONES[1]] = (2, "MOBILE_NOT_ON_SERVICE")
    FAKES.aliyun_status[PHONES[2]] = (1, "")  # no carrier report yet
    CLOCK.advance(seconds=wait + 1)
    await drain(app)
    assert sorted(q["PhoneNumber"] for q in FAKES.aliyun_queries) == PHONES[:3]
    bodies = [await read(client, test_keys, c["id"]) for c in created]
    assert [b["status"] for b in bodies] == ["delivered", "failed", "unconfirmed"]
    assert bodies[1]["last_error_code"] == "MOBILE_NOT_ON_SERVICE"
    CLOCK.advance(seconds=wait)
    await drain(app)
    assert (await read(client, test_keys, created[2]["id"]))["status"] == "dead"
    assert FAKES.calls == [("aliyun", 3)]  # nothing was sent twice
    assert sorted(s.to for s in FAKES.sent) == PHONES[:3]


async def test_a_batch_that_never_reached_alibaba_is_sent_again_once(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    wait = app.state.delivery.settings.receipt_wait_seconds

    def lost(request: httpx.Request) -> httpx.Response:
        del FAKES.sent[:]  # the request never arrived
        raise httpx.ReadTimeout("no answer")

    FAKES.script("aliyun", lost)
    created = await send_all(client, test_keys, PHONES[:3])
    await drain(app)
    CLOCK.advance(seconds=wait + 1)
    await drain(app)
    bodies = [await read(client, test_keys, c["id"]) for c in created]
    assert [b["status"] for b in bodies] == ["sent"] * 3
    assert [h["status"] for h in bodies[0]["history"]] == [
        "queued",
        "unconfirmed",
        "requeued",
        "sent",
    ]
    assert FAKES.calls == [("aliyun", 3), ("aliyun", 3)]
    assert sorted(s.to for s in FAKES.sent) == PHONES[:3]  # once each at Alibaba


async def test_caps_and_quiet_hours_still_apply_to_each_recipient(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    # PHONES[0] had a message this minute (cap: one per minute)
    await send(client, test_keys, recipient={"phone": PHONES[0]}, variables={"case_number": "1"})
    await drain(app)
    created = await send_all(client, test_keys, PHONES[:3])
    await drain(app)
    assert FAKES.calls == [("aliyun", 1), ("aliyun", 2)]
    first = await read(client, test_keys, created[0]["id"])
    assert (first["status"], first["last_error_code"]) == ("deferred", "frequency_cap")
    assert sorted(s.to for s in FAKES.sent[1:]) == PHONES[1:3]

    # at 23:00 in Shanghai normal messages wait; critical ones in the same batch go out
    FAKES.reset()
    CLOCK.now = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    warning = {"template_key": "emergency_warning", "variables": {"content": "台风预警"}}
    normal = await send_all(client, test_keys, PHONES[3:5], **warning)
    urgent = await send_all(client, test_keys, PHONES[:3], priority="critical", **warning)
    await drain(app)
    assert FAKES.calls == [("aliyun", 3)]
    assert [(await read(client, test_keys, c["id"]))["status"] for c in urgent] == ["sent"] * 3
    for c in normal:
        body = await read(client, test_keys, c["id"])
        assert (body["status"], body["last_error_code"]) == ("deferred", "quiet_hours")


async def test_unlike_messages_are_sent_one_by_one(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    same = await send_all(client, test_keys, PHONES[:2], priority="critical")
    other = await send(
        client, test_keys, recipient={"phone": PHONES[2]}, variables={"case_number": "XH-9"}
    )
    twice = await send(client, test_keys, recipient={"phone": PHONES[0]}, priority="critical")
    await drain(app)
    # two identical to two numbers share a call; a different one, and a repeat to a number
    # already in the batch, go alone (a number appears once per call)
    assert sorted(FAKES.calls) == [("aliyun", 1), ("aliyun", 1), ("aliyun", 2)]
    singles = [check_aliyun(s.request) for s in FAKES.sent if "PhoneNumberJson" not in s.body]
    assert {p["Action"] for p in singles} == {"SendSms"}
    assert len(singles) == 2
    assert other["id"] in {p["OutId"] for p in singles}
    assert {p["OutId"] for p in singles} & {same[0]["id"], twice["id"]}
    for c in [*same, other, twice]:
        assert (await read(client, test_keys, c["id"]))["status"] == "sent"


async def test_one_phone_written_two_ways_is_not_twice_in_a_call(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    plain = await send_all(client, test_keys, PHONES[:2])
    prefixed = await send(client, test_keys, recipient={"phone": "+86" + PHONES[0]})
    await drain(app)
    # 139… and +86139… are one phone: it goes alone, so each receipt finds one message
    assert sorted(FAKES.calls) == [("aliyun", 1), ("aliyun", 2)]
    batch = check_aliyun(next(s.request for s in FAKES.sent if "PhoneNumberJson" in s.body))
    assert sorted(json.loads(batch["PhoneNumberJson"])) == PHONES[:2]
    for c in [*plain, prefixed]:
        assert (await read(client, test_keys, c["id"]))["status"] == "sent"


async def test_an_account_throttle_defers_the_batch_instead_of_splitting_it(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    FAKES.script(
        "aliyun", aliyun_fails("Throttling.User", "Request was denied due to flow control")
    )
    created = await send_all(client, test_keys, PHONES[:3])
    await drain(app)
    assert FAKES.calls == [("aliyun", 3)]  # one refused call, not three more single ones
    for c in created:
        body = await read(client, test_keys, c["id"])
        assert (body["status"], body["attempts"]) == ("deferred", 0)
        assert body["last_error_code"] == "Throttling.User"
    CLOCK.advance(seconds=2)
    await drain(app)
    assert FAKES.calls[1:] == [("aliyun", 3)]  # sent together once the throttle has passed
    assert [(await read(client, test_keys, c["id"]))["status"] for c in created] == ["sent"] * 3
