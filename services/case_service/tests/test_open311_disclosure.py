"""The public Open311 feed's disclosure policy (issue 21, finding 1; docs/security.md, "Open311
disclosure policy"): what the public, and a platform client by its api_key, may see.

Seed levels used here: 0802 井盖缺失破损 and 0801 路面坑槽 ``public``; 0601 流动摊点 ``summary``;
0302 违法犯罪线索, 0401 信访诉求, 1001 低保救助, 0101 邻里纠纷 ``none``.
Keys (fake grid_service): ``good-key`` → ``hotline-12345`` (scope ``open311``), ``portal-key``
→ ``portal-zwfw`` (``open311``), ``ext-key`` → ``partner-gis`` (``open311``,
``open311:extensions``).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from conftest import ADMIN, DISPATCHER_C1, RESIDENT, ROADS, WORKER_A, Api
from test_lifecycle import api_sessionmaker
from test_open311 import FORMATS, parse

from case_service.open311.service import ApiKeys
from shared.http import ServiceClient
from shared.oauth import ClientCredentials

OWNERS = {
    "good-key": {"client_id": "hotline-12345", "name": "12345", "scopes": ["open311"]},
    "portal-key": {"client_id": "portal-zwfw", "name": "portal", "scopes": ["open311"]},
    "ext-key": {
        "client_id": "partner-gis",
        "name": "GIS",
        "scopes": ["open311", "open311:extensions"],
    },
}
INTERNAL = {"case_id", "priority", "handling_level", "area_path", "channel"}
SECRETS = {
    "phone": "13812345678",
    "id": "330106199001011234",
    "card": "6222021234567890123",
    "plate": "浙A12345",
}
LEAKY = (
    f"井盖丢了，车{SECRETS['plate']}差点掉进去。我叫王某，电话{SECRETS['phone']}，"
    f"身份证{SECRETS['id']}，赔偿请打到卡{SECRETS['card']}"
)


@pytest.fixture
def keys(app: Any) -> None:
    def grid(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/auth/token":
            return httpx.Response(
                200, json={"access_token": "svc", "token_type": "Bearer", "expires_in": 900}
            )
        key = json.loads(request.content)["api_key"]
        if key in OWNERS:
            return httpx.Response(200, json=OWNERS[key])
        return httpx.Response(404, json={"code": "unknown_api_key"})

    app.state.open311_keys = ApiKeys(
        ClientCredentials(
            ServiceClient("http://grid.test", name="grid", transport=httpx.MockTransport(grid)),
            client_id="case_service",
            client_secret="x",
        )
    )


async def feed(api: Api, fmt: str = "json", **params: str) -> list[dict[str, Any]]:
    r = await api.client.get(f"/open311/v2/requests.{fmt}", params=params)
    assert r.status_code == 200, r.text
    body: list[dict[str, Any]] = parse(r, fmt)
    return body


async def one(api: Api, number: str, fmt: str = "json", **params: str) -> httpx.Response:
    return await api.client.get(f"/open311/v2/requests/{number}.{fmt}", params=params)


async def open311_post(api: Api, key: str, **form: str) -> str:
    data = {
        "api_key": key,
        "service_code": "0802",
        "lat": "30.2741",
        "long": "120.1551",
        "description": "学院路口井盖缺失",
        **form,
    }
    r = await api.client.post("/open311/v2/requests.json", data=data)
    assert r.status_code == 201, r.text
    return str(r.json()[0]["service_request_id"])


# ------------------------------------------------------------------------------ hidden cases


@pytest.mark.parametrize("fmt", FORMATS)
async def test_an_anonymous_crime_tip_is_neither_listed_nor_found(api: Api, fmt: str) -> None:
    tip = await api.report(
        category_code="0302",
        description="某小区地下室有人聚众赌博",
        reporter={"anonymous": True},
    )
    shown = await api.report()  # 0802, public
    numbers = [r["service_request_id"] for r in await feed(api, fmt)]
    assert numbers == [shown["case_number"]]
    r = await one(api, tip["case_number"], fmt)
    assert r.status_code == 404  # as if it did not exist
    assert r.text == (await one(api, "20990101999999", fmt)).text.replace(
        "20990101999999", tip["case_number"]
    )
    by_id = await feed(api, fmt, service_request_id=tip["case_number"])
    assert by_id == [] or by_id == ""  # XML: an empty list root parses as ""
    by_code = await feed(api, fmt, service_code="0302")
    assert by_code == [] or by_code == ""


async def test_none_categories_and_anonymous_reports_are_hidden(api: Api) -> None:
    hidden = [
        await api.report(category_code="0401", description="反映征地补偿问题"),
        await api.report(category_code="1001", description="申请低保"),
        await api.report(category_code="0101", description="邻居噪音纠纷"),
        await api.report(category_code="0302", description="有人贩卖假烟"),  # not anonymous
        await api.report(reporter={"anonymous": True}),  # a public category, but anonymous
    ]
    shown = await api.report(category_code="0601", description="流动摊点占道")
    listed = [r["service_request_id"] for r in await feed(api)]
    assert listed == [shown["case_number"]]
    for case in hidden:
        assert (await one(api, case["case_number"])).status_code == 404, case["category"]


async def test_closing_a_top_level_category_hides_its_subcategories(api: Api) -> None:
    case = await api.report()  # 0802 under 08
    top = (await api.get(ADMIN, "/api/v1/categories/08")).json()
    body = {k: top[k] for k in ("name", "kind", "routing", "default_priority", "handling_class")}
    r = await api.client.put(
        "/api/v1/categories/08",
        json={**body, "public_disclosure": "none"},
        headers=api.headers(ADMIN),
    )
    assert r.status_code == 200, r.text
    assert (await one(api, case["case_number"])).status_code == 404
    codes = {s["service_code"] for s in (await api.client.get("/open311/v2/services.json")).json()}
    assert not codes & {"0801", "0802", "0803"}


# ------------------------------------------------------------------------------ service list


@pytest.mark.parametrize("fmt", FORMATS)
async def test_the_public_service_list_leaves_out_none_categories(
    api: Api, keys: None, fmt: str
) -> None:
    services = parse(await api.client.get(f"/open311/v2/services.{fmt}"), fmt)
    codes = {s["service_code"] for s in services}
    assert {"0802", "0601", "0501"} <= codes
    assert not codes & {"0401", "0302", "1001", "0101", "0903", "1102"}
    r = await api.client.get(f"/open311/v2/services/0401.{fmt}")
    assert r.status_code == 404
    # a platform that submits requests may file a petition: it sees every service
    with_key = parse(
        await api.client.get(f"/open311/v2/services.{fmt}", params={"api_key": "good-key"}), fmt
    )
    assert {"0401", "0302"} <= {s["service_code"] for s in with_key}
    r = await api.client.get(f"/open311/v2/services/0401.{fmt}", params={"api_key": "good-key"})
    assert r.status_code == 200


async def test_an_unknown_api_key_on_a_get_is_403(api: Api, keys: None) -> None:
    for url in ("/open311/v2/requests.json", "/open311/v2/services.json"):
        r = await api.client.get(url, params={"api_key": "stolen"})
        assert r.status_code == 403
        assert r.json()[0]["code"] == 403


# ------------------------------------------------------------------------------ what is shown


@pytest.mark.parametrize("fmt", FORMATS)
async def test_descriptions_are_redacted(api: Api, fmt: str) -> None:
    case = await api.report(description=LEAKY)
    for body in (await feed(api, fmt), parse(await one(api, case["case_number"], fmt), fmt)):
        [item] = body
        for secret in SECRETS.values():
            assert secret not in item["description"], secret
        assert item["description"] == (
            "井盖丢了，车[车牌号]差点掉进去。我叫王某，电话[电话号码]，"
            "身份证[身份证号]，赔偿请打到卡[银行卡号]"
        )
    english = await api.client.get(
        f"/open311/v2/requests/{case['case_number']}.json", headers={"Accept-Language": "en"}
    )
    assert "[phone number]" in english.json()[0]["description"]


async def test_a_summary_category_shows_a_rounded_point_and_no_address_or_photo(
    api: Api,
) -> None:
    case = await api.report(
        category_code="0601",
        description="流动摊点占道",
        location={"lat": 30.274149, "lng": 120.155137, "address": "学院路 28 号 3 单元门口"},
    )
    [item] = await feed(api)
    assert item["service_request_id"] == case["case_number"]
    assert item["lat"] == 30.274
    assert item["long"] == 120.155
    assert "学院路" not in item["address"]
    assert item["address"] == case["area"]["name"]  # the grid's name
    assert item["media_url"] == ""


async def test_a_public_category_shows_the_exact_point_and_address(api: Api) -> None:
    await api.report(
        location={"lat": 30.274149, "lng": 120.155137, "address": "学院路 28 号门口"},
    )
    [item] = await feed(api)
    assert (item["lat"], item["long"]) == (30.274149, 120.155137)
    assert item["address"] == "学院路 28 号门口"


# ------------------------------------------------------------------------------ status_notes


@pytest.mark.parametrize("fmt", FORMATS)
async def test_status_notes_show_the_public_reply_never_the_internal_result(
    api: Api, fmt: str
) -> None:
    case = await api.report()
    cid = case["id"]
    await api.act(DISPATCHER_C1, cid, "accept")
    await api.act(DISPATCHER_C1, cid, "dispatch", assignees=[{"account_id": WORKER_A.sub}])
    await api.act(WORKER_A, cid, "claim")
    internal = "联系养护二班王师傅13912345678处理，费用由物业承担"
    resolved = await api.act(
        WORKER_A,
        cid,
        "resolve",
        result=internal,
        public_reply="井盖已于当日更换，感谢您的反映",
    )
    assert resolved.json()["public_reply"] == "井盖已于当日更换，感谢您的反映"
    [item] = await feed(api, fmt)
    assert item["status_notes"] == "井盖已于当日更换，感谢您的反映"
    assert "养护二班" not in (await api.client.get(f"/open311/v2/requests.{fmt}")).text
    await api.act(DISPATCHER_C1, cid, "verify")
    # a later reply, written apart (and redacted on the feed)
    r = await api.client.put(
        f"/api/v1/cases/{cid}/public-reply",
        json={"body": "已回访，如有问题请拨打 0571-88886666"},
        headers=api.headers(DISPATCHER_C1),
    )
    assert r.status_code == 200, r.text
    [item] = await feed(api, fmt)
    assert item["status"] == "closed"
    assert item["status_notes"] == "已回访，如有问题请拨打 [电话号码]"
    timeline = (await api.get(DISPATCHER_C1, f"/api/v1/cases/{cid}/timeline")).json()
    replies = [e for e in timeline if e["kind"] == "public_reply"]
    assert [e["reason"] for e in replies] == [
        "井盖已于当日更换，感谢您的反映",
        "已回访，如有问题请拨打 0571-88886666",
    ]


async def test_a_resolve_without_public_reply_leaves_status_notes_empty(api: Api) -> None:
    case = await api.report()
    cid = case["id"]
    await api.act(DISPATCHER_C1, cid, "accept")
    await api.act(DISPATCHER_C1, cid, "dispatch")  # owner routing: dept-roads
    await api.act(ROADS, cid, "claim")
    await api.act(ROADS, cid, "resolve", result="已通知产权单位更换，王某13912345678")
    [item] = await feed(api)
    assert item["status_notes"] == ""
    assert "王某" not in json.dumps(await feed(api, extensions="true"), ensure_ascii=False)


async def test_public_reply_rules(api: Api) -> None:
    case = await api.report()
    cid = case["id"]
    url = f"/api/v1/cases/{cid}/public-reply"
    r = await api.act(DISPATCHER_C1, cid, "accept", expect=422, public_reply="已受理")
    assert r.json()["code"] == "public_reply_not_accepted"
    assert r.json()["errors"][0]["field"] == "public_reply"
    await api.act(DISPATCHER_C1, cid, "accept")  # version 2
    r = await api.client.put(url, json={"body": "我自己写的"}, headers=api.headers(RESIDENT))
    assert r.status_code == 403
    assert r.json()["code"] == "missing_role"
    r = await api.client.put(url, json={"body": "   "}, headers=api.headers(DISPATCHER_C1))
    assert r.status_code == 422
    r = await api.client.put(
        url, json={"body": "好", "status": "closed"}, headers=api.headers(DISPATCHER_C1)
    )
    assert r.status_code == 422  # unknown fields are refused
    assert r.json()["errors"][0]["field"] == "status"
    r = await api.client.put(
        url, json={"body": "已受理"}, headers=api.headers(DISPATCHER_C1, **{"If-Match": '"1"'})
    )
    assert r.status_code == 412
    r = await api.client.put(url, json={"body": "已受理"}, headers=api.headers(DISPATCHER_C1))
    assert r.status_code == 200
    assert r.headers["ETag"] == '"3"'
    assert (await feed(api))[0]["status_notes"] == "已受理"
    r = await api.client.put(url, json={"body": None}, headers=api.headers(DISPATCHER_C1))
    assert r.json()["public_reply"] is None
    assert (await feed(api))[0]["status_notes"] == ""
    r = await api.act(
        DISPATCHER_C1, cid, "void", reason="内部：报告人多次恶意上报", public_reply="已作废"
    )
    [item] = await feed(api)
    assert (item["status"], item["status_notes"]) == ("closed", "已作废")
    async with api_sessionmaker(api)() as session:
        events = (
            await session.execute(
                sa.text(
                    "SELECT type, payload->>'public_reply' FROM outbox_event"
                    " WHERE case_id = :id AND payload ? 'public_reply' ORDER BY created_at"
                ),
                {"id": cid},
            )
        ).all()
    assert [tuple(e) for e in events] == [
        ("case.public_replied", "已受理"),
        ("case.public_replied", None),
        ("case.voided", "已作废"),
    ]


# ------------------------------------------------------------------------------ extensions


async def test_internal_extensions_need_the_scope(api: Api, keys: None) -> None:
    number = await open311_post(api, "good-key")
    public = (await one(api, number, extensions="true")).json()[0]
    assert public["extended_attributes"] == {"detailed_status": "reported"}
    without_scope = (await one(api, number, extensions="true", api_key="good-key")).json()[0]
    assert not INTERNAL & set(without_scope["extended_attributes"])
    listed = await feed(api, extensions="true", api_key="portal-key")
    assert not INTERNAL & set(listed[0]["extended_attributes"])
    with_scope = (await one(api, number, extensions="true", api_key="ext-key")).json()[0]
    assert set(with_scope["extended_attributes"]) >= INTERNAL
    assert with_scope["extended_attributes"]["channel"] == "platform"
    xml = await api.client.get(
        "/open311/v2/requests.xml", params={"extensions": "true", "api_key": "ext-key"}
    )
    assert "<area_path>" in xml.text
    assert "<area_path>" not in (await feed_xml(api))


async def feed_xml(api: Api) -> str:
    return (await api.client.get("/open311/v2/requests.xml", params={"extensions": "true"})).text


# ------------------------------------------------------------------------------ own requests


async def test_a_platform_sees_its_own_requests_in_full(api: Api, keys: None) -> None:
    number = await open311_post(
        api,
        "good-key",
        service_code="0302",
        description=f"举报人电话{SECRETS['phone']}，线索见附件",
        lat="30.274149",
        long="120.155137",
    )
    assert (await one(api, number)).status_code == 404  # the public
    assert (await one(api, number, api_key="portal-key")).status_code == 404  # another client
    [mine] = (await one(api, number, api_key="good-key")).json()
    assert mine["description"] == f"举报人电话{SECRETS['phone']}，线索见附件"
    assert (mine["lat"], mine["long"]) == (30.274149, 120.155137)
    assert [r["service_request_id"] for r in await feed(api, api_key="good-key")] == [number]
    assert await feed(api, api_key="portal-key") == []


# ------------------------------------------------------------------------------ category API


async def test_a_category_is_closed_unless_opened_on_purpose(api: Api) -> None:
    new = {"code": "0804", "parent_code": "08", "name": "消防栓损坏", "kind": "report"}
    r = await api.client.post("/api/v1/categories", json=new, headers=api.headers(ADMIN))
    assert r.status_code == 201, r.text
    assert r.json()["public_disclosure"] == "none"
    services = (await api.client.get("/open311/v2/services.json")).json()
    assert "0804" not in {s["service_code"] for s in services}
    r = await api.client.put(
        "/api/v1/categories/0804",
        json={"name": "消防栓损坏", "kind": "report", "public_disclosure": "secret"},
        headers=api.headers(ADMIN),
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "public_disclosure"
    r = await api.client.put(
        "/api/v1/categories/0804",
        json={"name": "消防栓损坏", "kind": "report", "public_disclosure": "public"},
        headers=api.headers(ADMIN),
    )
    assert r.json()["public_disclosure"] == "public"
    services = (await api.client.get("/open311/v2/services.json")).json()
    assert "0804" in {s["service_code"] for s in services}
    seeded = (await api.get(RESIDENT, "/api/v1/categories/0302")).json()
    assert seeded["public_disclosure"] == "none"
