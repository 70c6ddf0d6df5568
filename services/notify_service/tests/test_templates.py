"""Templates: created by admins, placeholders declared, one per key/channel/locale."""

from __future__ import annotations

import json
from typing import Any

import httpx
from conftest import FAKES, auth, drain
from test_delivery import read, send

from shared.testing import TestKeys

SMS = {
    "key": "visit_reminder",
    "channel": "sms",
    "title": "走访提醒",
    "body": "{name}您好，网格员将于{date}上门走访。",
    "variables": ["name", "date"],
    "provider_params": {
        "aliyun": {
            "template_code": "SMS_900001",
            "sign_name": "网格通",
            "params": {"name": "{name}", "date": "{date}"},
        }
    },
}


async def test_template_lifecycle_and_use(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    admin = auth(test_keys, roles=["admin"])
    created = await client.post("/api/v1/templates", json=SMS, headers=admin)
    assert created.status_code == 201, created.text
    template = created.json()
    assert template["locale"] == "zh-CN"
    again = await client.post("/api/v1/templates", json=SMS, headers=admin)
    assert again.status_code == 409
    assert again.json()["code"] == "template_exists"

    listed = await client.get("/api/v1/templates?key=visit_reminder", headers=admin)
    assert [t["id"] for t in listed.json()["items"]] == [template["id"]]
    one = await client.get(f"/api/v1/templates/{template['id']}", headers=admin)
    assert one.json()["provider_params"]["aliyun"]["template_code"] == "SMS_900001"

    message = await send(
        client,
        test_keys,
        template_key="visit_reminder",
        variables={"name": "李阿姨", "date": "11月25日"},
    )
    await drain(app)
    assert (await read(client, test_keys, message["id"]))["status"] == "sent"
    assert FAKES.sent[0].body["TemplateCode"] == "SMS_900001"
    assert json.loads(FAKES.sent[0].body["TemplateParam"]) == {"name": "李阿姨", "date": "11月25日"}

    changed = {k: SMS[k] for k in ("title", "body", "variables", "provider_params")}
    changed["provider_params"] = {
        "aliyun": {**SMS["provider_params"]["aliyun"], "template_code": "SMS_900002"}  # type: ignore[index]
    }
    updated = await client.put(f"/api/v1/templates/{template['id']}", json=changed, headers=admin)
    assert updated.status_code == 200
    assert updated.json()["provider_params"]["aliyun"]["template_code"] == "SMS_900002"


async def test_template_refusals(app: Any, client: httpx.AsyncClient, test_keys: TestKeys) -> None:
    admin = auth(test_keys, roles=["admin"])
    undeclared = await client.post(
        "/api/v1/templates", json={**SMS, "variables": ["name"]}, headers=admin
    )
    assert undeclared.status_code == 422
    assert "date" in undeclared.json()["errors"][0]["reason"]
    no_provider = await client.post(
        "/api/v1/templates", json={**SMS, "provider_params": {}}, headers=admin
    )
    assert no_provider.status_code == 422
    wrong_shape = await client.post(
        "/api/v1/templates",
        json={
            **SMS,
            "provider_params": {
                "tencent": {"template_id": "1", "sign_name": "x", "params": {"a": "b"}}
            },
        },
        headers=admin,
    )
    assert wrong_shape.status_code == 422
    assert wrong_shape.json()["errors"][0]["field"].startswith("provider_params.tencent")
    bad_channel = await client.post(
        "/api/v1/templates", json={**SMS, "channel": "fax"}, headers=admin
    )
    assert bad_channel.status_code == 422
    assert bad_channel.json()["errors"][0]["field"] == "channel"
    dispatcher = await client.post(
        "/api/v1/templates", json=SMS, headers=auth(test_keys, roles=["dispatcher"])
    )
    assert dispatcher.status_code == 403
    missing = await client.get(
        "/api/v1/templates/00000000-0000-0000-0000-000000000000", headers=admin
    )
    assert missing.status_code == 404


async def test_a_template_changed_after_the_message_was_stored(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    admin = auth(test_keys, roles=["admin"])
    template = (await client.post("/api/v1/templates", json=SMS, headers=admin)).json()
    message = await send(
        client,
        test_keys,
        template_key="visit_reminder",
        variables={"name": "李阿姨", "date": "11月25日"},
    )
    # the template now needs a variable the stored message does not have
    changed = {k: SMS[k] for k in ("title", "body", "provider_params")}
    changed["body"] = "{name}您好，{worker}将于{date}上门走访。"
    changed["variables"] = ["name", "date", "worker"]
    updated = await client.put(f"/api/v1/templates/{template['id']}", json=changed, headers=admin)
    assert updated.status_code == 200
    other = await send(client, test_keys, recipient={"phone": "13900000031"})
    await drain(app)
    body = await read(client, test_keys, message["id"])
    assert body["status"] == "failed"
    assert body["last_error_code"] == "template_render_failed"
    assert (await read(client, test_keys, other["id"]))["status"] == "sent"  # batch unharmed
    assert FAKES.sent_by("aliyun")[0].to == "13900000031"
