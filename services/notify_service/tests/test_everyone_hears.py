"""Everyone hears: a department's on-duty handlers are told of a dispatch, each person once, and
every message to an account is also an item of its in-app inbox, whichever channel carried it."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from conftest import CLOCK, FAKES, auth, drain
from notifytest_fakes import person
from test_broadcasts_and_events import case_event, post_event

from shared.testing import TestKeys


async def inbox_of(client: httpx.AsyncClient, keys: TestKeys, account: str) -> list[Any]:
    me = auth(keys, sub=account, roles=["resident"])
    page = await client.get("/api/v1/inbox", headers=me)
    assert page.status_code == 200, page.text
    return list(page.json()["items"])


async def test_the_departments_handlers_get_the_message_and_the_inbox_item(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    lead = [person("13800000101"), person("13800000102", channels=["wechat_mp"], mp="o-mp-102")]
    co = person("13800000103")
    worker = person("13800000104")
    for p in [*lead, co, worker]:
        FAKES.grid_people[uuid.UUID(p["account_id"])] = p
    handlers = [p["account_id"] for p in [*lead, co]]
    event = case_event(
        "case.dispatched",
        assignee_account_ids=[worker["account_id"], lead[0]["account_id"]],
        # lead[0] is in two departments and also assigned by name: told once
        department_handler_account_ids=[*handlers, lead[0]["account_id"]],
        department_ids=["dept-urban", "dept-housing"],
    )
    response = await post_event(client, test_keys, event)
    assert response.status_code == 202, response.text
    assert len(response.json()["notification_ids"]) == 4
    await drain(app)
    assert sorted(s.to for s in FAKES.sent) == sorted(
        ["13800000101", "o-mp-102", "13800000103", "13800000104"]
    )
    for p in [*lead, co, worker]:
        items = await inbox_of(client, test_keys, p["account_id"])
        assert [(i["template_key"], i["title"], i["read_at"]) for i in items] == [
            ("case_assigned", items[0]["title"], None)
        ], p["phone"]
        assert "XH20261123-0042" in items[0]["body"]
    FAKES.sent.clear()
    CLOCK.advance(minutes=2)  # past the per-minute cap
    again = case_event(
        "case.reassigned",
        department_handler_account_ids=[co["account_id"]],
        department_ids=["dept-housing"],
    )
    assert (await post_event(client, test_keys, again)).status_code == 202
    await drain(app)
    assert [s.to for s in FAKES.sent] == ["13800000103"]
    assert len(await inbox_of(client, test_keys, co["account_id"])) == 2


async def test_the_residents_inbox_holds_the_wechat_and_sms_messages(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    wechat = person("13800000201", channels=["wechat_mp", "sms"], mp="o-mp-201")
    sms = person("13800000202", channels=["sms"])
    for p in (wechat, sms):
        FAKES.grid_people[uuid.UUID(p["account_id"])] = p
    for kind in ("case.accepted", "case.resolved"):
        for p in (wechat, sms):
            event = case_event(kind, reporter_account_id=p["account_id"], result="井盖已更换")
            assert (await post_event(client, test_keys, event)).status_code == 202
        await drain(app)
        CLOCK.advance(minutes=2)  # past the per-minute cap
    assert sorted((s.provider, s.to) for s in FAKES.sent) == sorted(
        [("wechat_mp", "o-mp-201")] * 2 + [("aliyun", "13800000202")] * 2
    )
    for p in (wechat, sms):
        items = await inbox_of(client, test_keys, p["account_id"])
        assert [i["template_key"] for i in items] == ["case_result", "case_accepted"], p["phone"]
        assert items[1]["title"] == "案件已受理"
        assert items[0]["body"].count("井盖已更换") == 1
    me = auth(test_keys, sub=sms["account_id"], roles=["resident"])
    assert (await client.get("/api/v1/inbox/summary", headers=me)).json() == {"unread": 2}


async def test_a_deferred_sms_is_in_the_inbox_at_once_and_only_once(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    resident = person("13800000301")
    FAKES.grid_people[uuid.UUID(resident["account_id"])] = resident
    CLOCK.advance(hours=13)  # 23:00 in Shanghai: quiet hours defer the SMS
    event = case_event("case.accepted", reporter_account_id=resident["account_id"])
    assert (await post_event(client, test_keys, event)).status_code == 202
    await drain(app)
    assert FAKES.sent == []
    assert len(await inbox_of(client, test_keys, resident["account_id"])) == 1
    CLOCK.advance(hours=10)  # morning: the SMS goes out
    await drain(app)
    assert [s.to for s in FAKES.sent] == ["13800000301"]
    assert len(await inbox_of(client, test_keys, resident["account_id"])) == 1
