"""WeChat with SMS fallback, receipts, quiet hours, frequency caps and the inbox."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from conftest import CLOCK, FAKES, RECEIPT_TOKEN, WECHAT_EVENT_TOKEN, auth, drain
from notifytest_fakes import person, tencent_ok
from test_delivery import PHONE, read, send

from shared.testing import TestKeys

MP_OPENID = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"


def wechat_error(code: int, message: str = "") -> Any:
    return lambda request: httpx.Response(200, json={"errcode": code, "errmsg": message})


async def test_wechat_token_refreshed_once_on_40001(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    first = await send(
        client, test_keys, recipient={"wechat_mp_openid": MP_OPENID}, channels=["wechat_mp"]
    )
    await drain(app)
    assert (await read(client, test_keys, first["id"]))["status"] == "sent"
    # another process forced a refresh: our cached token is now invalid
    FAKES.wechat_tokens.clear()
    second = await send(
        client, test_keys, recipient={"wechat_mp_openid": MP_OPENID}, channels=["wechat_mp"]
    )
    await drain(app)
    body = await read(client, test_keys, second["id"])
    assert body["status"] == "sent"
    assert [c["force_refresh"] for c in FAKES.wechat_token_calls] == [False, True]
    assert len(FAKES.sent_by("wechat_mp")) == 2  # the rejected call never reached the fake
    sent = FAKES.sent_by("wechat_mp")[1].body
    assert sent["touser"] == MP_OPENID
    assert sent["data"] == {"thing1": {"value": "XH-0042"}}


async def test_unsubscribed_user_falls_back_from_wechat_to_sms(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    someone = person(PHONE, mp=MP_OPENID, channels=["wechat_mp", "sms"])
    FAKES.grid_people[uuid.UUID(someone["account_id"])] = someone
    FAKES.script("wechat_mp", wechat_error(43101, "user refuse to accept the msg"))
    created = await send(client, test_keys, recipient={"account_id": someone["account_id"]})
    await drain(app)
    body = await read(client, test_keys, created["id"])
    assert body["status"] == "sent"
    assert body["channel"] == "sms"
    assert [(h["status"], h["code"]) for h in body["history"]] == [
        ("queued", None),
        ("fallback", "wechat.43101"),
        ("sent", "OK"),
    ]
    assert FAKES.sent_by("aliyun")[0].to == PHONE

    # 43004 (does not follow the official account) falls back the same way
    FAKES.script("wechat_oa", wechat_error(43004, "require subscribe"))
    other = await send(
        client,
        test_keys,
        recipient={"wechat_oa_openid": "oOA_bmjrPTlm6_2sgVt7hMZOP", "phone": "13900000009"},
        channels=["wechat_oa", "sms"],
    )
    await drain(app)
    assert (await read(client, test_keys, other["id"]))["channel"] == "sms"

    # WeChat -1 (system busy) is transient: retried later on WeChat, no fallback
    FAKES.script("wechat_mp", wechat_error(-1, "system error"))
    busy = await send(
        client,
        test_keys,
        recipient={"wechat_mp_openid": MP_OPENID, "phone": "13900000008"},
        channels=["wechat_mp", "sms"],
    )
    await drain(app)
    body = await read(client, test_keys, busy["id"])
    assert body["status"] == "retrying"
    assert body["channel"] == "wechat_mp"


async def test_receipt_before_the_send_response_and_twice(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    app.state.delivery.providers.sms.reverse()  # tencent first
    serial = "2028:receipt-race-1"
    receipt = [
        {
            "user_receive_time": "2026-11-23 10:00:03",
            "nationcode": "86",
            "mobile": PHONE,
            "report_status": "SUCCESS",
            "errmsg": "DELIVRD",
            "description": "用户短信送达成功",
            "sid": serial,
        }
    ]
    answers: list[dict[str, Any]] = []

    async def receipt_first(request: httpx.Request) -> httpx.Response:
        # the carrier's receipt reaches us before Tencent's answer to our send
        pushed = await client.post(f"/api/v1/receipts/tencent?token={RECEIPT_TOKEN}", json=receipt)
        answers.append(pushed.json())
        return tencent_ok(json.loads(request.content), serial=serial)

    FAKES.script("tencent", receipt_first)
    try:
        created = await send(client, test_keys)
        await drain(app)
    finally:
        app.state.delivery.providers.sms.reverse()
    assert answers == [{"accepted": 1, "duplicates": 0, "result": 0, "errmsg": "OK"}]
    body = await read(client, test_keys, created["id"])
    assert body["status"] == "delivered"
    again = await client.post(f"/api/v1/receipts/tencent?token={RECEIPT_TOKEN}", json=receipt * 2)
    assert again.json()["accepted"] == 0
    assert again.json()["duplicates"] == 2
    body = await read(client, test_keys, created["id"])
    assert [h["status"] for h in body["history"]] == ["queued", "sent", "delivered"]


async def test_out_of_order_receipts_first_final_answer_wins(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    created = await send(client, test_keys)
    await drain(app)
    biz_id = (await read(client, test_keys, created["id"]))["provider_message_id"]

    def report(success: bool, code: str) -> dict[str, Any]:
        return {"phone_number": PHONE, "success": success, "biz_id": biz_id, "err_code": code}

    batch = [report(True, "DELIVERED"), report(False, "MK:0001")]
    answer = await client.post(f"/api/v1/receipts/aliyun?token={RECEIPT_TOKEN}", json=batch)
    assert answer.status_code == 200
    assert answer.json()["code"] == 0
    body = await read(client, test_keys, created["id"])
    assert body["status"] == "delivered"
    assert body["history"][-1]["code"] == "DELIVERED"


async def test_receipt_endpoints_authenticate_their_caller(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    item = {"phone_number": PHONE, "success": True, "biz_id": "1^0"}
    assert (await client.post("/api/v1/receipts/aliyun", json=[item])).status_code == 401
    wrong = await client.post("/api/v1/receipts/aliyun?token=guess", json=[item])
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "invalid_receipt_token"
    tencent = await client.post("/api/v1/receipts/tencent?token=guess", json=[])
    assert tencent.status_code == 401
    malformed = await client.post(
        f"/api/v1/receipts/aliyun?token={RECEIPT_TOKEN}", json=[{"success": "maybe"}]
    )
    assert malformed.status_code == 422

    params = {"signature": "0" * 40, "timestamp": "1700000000", "nonce": "42"}
    forged = await client.post("/api/v1/receipts/wechat", params=params, content=b"<xml/>")
    assert forged.status_code == 401


def wechat_signed(timestamp: str = "1700000000", nonce: str = "42") -> dict[str, str]:
    parts = sorted([WECHAT_EVENT_TOKEN, timestamp, nonce])
    signature = hashlib.sha1("".join(parts).encode()).hexdigest()  # noqa: S324
    return {"signature": signature, "timestamp": timestamp, "nonce": nonce}


async def test_wechat_send_result_event_updates_the_message(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    created = await send(
        client,
        test_keys,
        recipient={"wechat_oa_openid": "oOA_bmjrPTlm6_2sgVt7hMZOP"},
        channels=["wechat_oa"],
    )
    await drain(app)
    msgid = (await read(client, test_keys, created["id"]))["provider_message_id"]
    verify = await client.get(
        "/api/v1/receipts/wechat", params={**wechat_signed(), "echostr": "hello"}
    )
    assert verify.text == "hello"
    xml = (
        "<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName>"
        "<FromUserName><![CDATA[oOA_bmjrPTlm6_2sgVt7hMZOP]]></FromUserName>"
        "<CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event>"
        f"<MsgID>{msgid}</MsgID><Status><![CDATA[success]]></Status></xml>"
    )
    for _ in range(2):
        pushed = await client.post(
            "/api/v1/receipts/wechat", params=wechat_signed(), content=xml.encode()
        )
        assert pushed.text == "success"
    body = await read(client, test_keys, created["id"])
    assert body["status"] == "delivered"
    assert [h["status"] for h in body["history"]].count("delivered") == 1
    bad = await client.post("/api/v1/receipts/wechat", params=wechat_signed(), content=b"<xml")
    assert bad.status_code == 400


async def test_quiet_hours_defer_normal_messages_not_critical_ones(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    CLOCK.now = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai
    normal = await send(client, test_keys)
    critical = await send(
        client,
        test_keys,
        template_key="emergency_warning",
        variables={"content": "台风预警"},
        recipient={"phone": "13900000007"},
        priority="critical",
    )
    await drain(app)
    assert (await read(client, test_keys, critical["id"]))["status"] == "sent"
    body = await read(client, test_keys, normal["id"])
    assert body["status"] == "deferred"
    assert body["last_error_code"] == "quiet_hours"
    # 08:00 Shanghai the next morning
    assert datetime.fromisoformat(body["next_attempt_at"]) == datetime(
        2026, 11, 24, 0, 0, tzinfo=UTC
    )
    CLOCK.now = datetime(2026, 11, 23, 23, 59, tzinfo=UTC)
    assert await drain(app) == 0
    CLOCK.now = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
    await drain(app)
    assert (await read(client, test_keys, normal["id"]))["status"] == "sent"
    assert [s.to for s in FAKES.sent_by("aliyun")] == ["13900000007", PHONE]

    # a recipient in another time zone is quiet on their own clock
    CLOCK.now = datetime(2026, 11, 24, 4, 0, tzinfo=UTC)  # 12:00 Shanghai, 05:00 Paris
    abroad = await send(
        client, test_keys, recipient={"phone": "+33612345678", "timezone": "Europe/Paris"}
    )
    await drain(app)
    assert (await read(client, test_keys, abroad["id"]))["status"] == "deferred"


async def test_frequency_caps_per_number(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    ids = []
    for _ in range(6):
        ids.append((await send(client, test_keys))["id"])
        await drain(app)
        CLOCK.advance(seconds=70)
    statuses = [(await read(client, test_keys, i))["status"] for i in ids]
    # 1 per minute passes each time; the 6th within the hour waits (5 per hour)
    assert statuses == ["sent"] * 5 + ["deferred"]
    sixth = await read(client, test_keys, ids[5])
    assert sixth["last_error_code"] == "frequency_cap"
    first_sent = CLOCK.now - timedelta(seconds=70 * 6)
    assert datetime.fromisoformat(sixth["next_attempt_at"]) == first_sent + timedelta(hours=1)

    # two in the same minute: the second waits a minute; a critical one is not capped
    other = "13900000006"
    a = await send(client, test_keys, recipient={"phone": other})
    await drain(app)
    b = await send(client, test_keys, recipient={"phone": other})
    c = await send(
        client,
        test_keys,
        template_key="emergency_warning",
        variables={"content": "台风预警"},
        recipient={"phone": other},
        priority="critical",
    )
    await drain(app)
    assert (await read(client, test_keys, a["id"]))["status"] == "sent"
    assert (await read(client, test_keys, b["id"]))["status"] == "deferred"
    assert (await read(client, test_keys, c["id"]))["status"] == "sent"


async def test_inbox_list_and_mark_read(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    someone = person(PHONE, channels=["inbox"])
    account = someone["account_id"]
    FAKES.grid_people[uuid.UUID(account)] = someone
    for n in range(3):
        await send(
            client,
            test_keys,
            recipient={"account_id": account},
            variables={"case_number": f"XH-{n}"},
        )
        await drain(app)
        CLOCK.advance(seconds=1)
    assert FAKES.sent == []  # the inbox is ours: no provider involved
    me = auth(test_keys, sub=account, roles=["resident"])
    page = (await client.get("/api/v1/inbox?limit=2", headers=me)).json()
    assert [i["body"] for i in page["items"]] == [
        "您反映的问题（编号XH-2）已受理，我们将尽快处理。",
        "您反映的问题（编号XH-1）已受理，我们将尽快处理。",
    ]
    rest = (await client.get(f"/api/v1/inbox?cursor={page['next_cursor']}", headers=me)).json()
    assert [i["title"] for i in rest["items"]] == ["案件已受理"]
    assert (await client.get("/api/v1/inbox/summary", headers=me)).json() == {"unread": 3}

    item = page["items"][0]["id"]
    read1 = await client.post(f"/api/v1/inbox/{item}/read", headers=me)
    assert read1.status_code == 200
    CLOCK.advance(minutes=5)
    read2 = await client.post(f"/api/v1/inbox/{item}/read", headers=me)
    assert read2.json()["read_at"] == read1.json()["read_at"]
    assert (await client.get("/api/v1/inbox/summary", headers=me)).json() == {"unread": 2}
    unread = (await client.get("/api/v1/inbox?unread_only=true", headers=me)).json()
    assert len(unread["items"]) == 2

    stranger = auth(test_keys, sub=str(uuid.uuid4()), roles=["resident"])
    assert (await client.post(f"/api/v1/inbox/{item}/read", headers=stranger)).status_code == 404
    assert (await client.get("/api/v1/inbox", headers=stranger)).json()["items"] == []
    assert (await client.get("/api/v1/inbox")).status_code == 401


async def test_caps_hold_across_concurrent_workers(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    import asyncio

    from notify_service.delivery.engine import process_batch

    first = await send(client, test_keys)
    second = await send(client, test_keys)
    ctx = app.state.delivery
    claimed = await asyncio.gather(process_batch(ctx, limit=1), process_batch(ctx, limit=1))
    assert claimed == [1, 1]  # two workers, one message each
    statuses = sorted(
        [
            (await read(client, test_keys, first["id"]))["status"],
            (await read(client, test_keys, second["id"]))["status"],
        ]
    )
    assert statuses == ["deferred", "sent"]
    assert len(FAKES.sent) == 1
