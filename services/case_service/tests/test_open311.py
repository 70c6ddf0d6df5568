"""Open311 GeoReport v2 conformance, written from the specification's text
(wiki.open311.org/GeoReport_v2), for both formats. Each test names the rule it checks.

Fixtures: the seed catalogue (0802 井盖缺失破损 has no attributes; 0801 has attributes), a fake
grid_service for point location (conftest) and for api_key verification (here):
``good-key`` belongs to the platform ``hotline-12345`` with scope ``open311``; ``readonly-key``
has no such scope; any other key is unknown.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree as ET

import httpx
import pytest
from conftest import ADMIN, DISPATCHER_C1, Api

from case_service.open311.service import ApiKeys
from shared.http import ServiceClient
from shared.oauth import ClientCredentials

FORMATS = ["json", "xml"]
OWNERS = {
    "good-key": {"client_id": "hotline-12345", "name": "12345", "scopes": ["open311"]},
    "readonly-key": {"client_id": "portal-zwfw", "name": "portal", "scopes": ["other"]},
}


@pytest.fixture
def key_service(app: Any) -> list[str]:
    asked: list[str] = []

    def grid(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/auth/token":
            return httpx.Response(
                200, json={"access_token": "svc", "token_type": "Bearer", "expires_in": 900}
            )
        assert request.headers["Authorization"] == "Bearer svc"
        key = json.loads(request.content)["api_key"]
        asked.append(key)
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
    return asked


def parse(response: httpx.Response, fmt: str) -> Any:
    """XML → the same shape as JSON (lists for list roots, dicts for records)."""
    if fmt == "json":
        assert response.headers["content-type"].startswith("application/json")
        return response.json()
    assert response.headers["content-type"].startswith("text/xml")
    assert response.content.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    root = ET.fromstring(response.content)  # noqa: S314 - our own output

    def node(el: ET.Element) -> Any:
        children = list(el)
        if not children:
            return el.text or ""
        tags = [c.tag for c in children]
        if el.tag in {
            "services",
            "service_requests",
            "errors",
            "attributes",
            "values",
            "endpoints",
            "formats",
        }:
            return [node(c) for c in children]
        assert len(set(tags)) == len(tags), tags
        return {c.tag: node(c) for c in children}

    return node(root)


def assert_errors(response: httpx.Response, fmt: str, status: int) -> list[dict[str, Any]]:
    """Errors: the HTTP status, and a list of {code, description} (spec "Errors")."""
    assert response.status_code == status, response.text
    body = parse(response, fmt)
    assert isinstance(body, list)
    assert body
    for error in body:
        assert str(error["code"]) == str(status)
        assert error["description"]
    return body


async def post(api: Api, fmt: str, **form: Any) -> httpx.Response:
    data = {
        "api_key": "good-key",
        "service_code": "0802",
        "lat": "30.2741",
        "long": "120.1551",
        "description": "学院路口井盖缺失",
    }
    data.update({k: v for k, v in form.items() if v is not ...})
    for k in [k for k, v in form.items() if v is ...]:
        data.pop(k, None)
    return await api.client.post(f"/open311/v2/requests.{fmt}", data=data)


@pytest.mark.parametrize("fmt", FORMATS)
async def test_discovery_lists_the_endpoint_and_formats(api: Api, fmt: str) -> None:
    r = await api.client.get(f"/open311/v2/discovery.{fmt}")
    body = parse(r, fmt)
    endpoint = body["endpoints"][0]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert set(endpoint["formats"]) == {"text/xml", "application/json"}
    assert endpoint["type"] == "production"


@pytest.mark.parametrize("fmt", FORMATS)
async def test_get_service_list(api: Api, fmt: str) -> None:
    """service_code, service_name, description, metadata (true/false), type, keywords, group."""
    services = parse(await api.client.get(f"/open311/v2/services.{fmt}"), fmt)
    by_code = {s["service_code"]: s for s in services}
    manhole = by_code["0802"]
    assert manhole["service_name"] == "井盖缺失破损"
    assert str(manhole["metadata"]).lower() == "false"
    assert manhole["type"] in {"realtime", "batch", "blackbox"}
    assert set(manhole) >= {
        "service_code",
        "service_name",
        "description",
        "metadata",
        "type",
        "keywords",
        "group",
    }
    with_attributes = [s for s in services if str(s["metadata"]).lower() == "true"]
    assert with_attributes, "the seed catalogue has services with attributes"


@pytest.mark.parametrize("fmt", FORMATS)
async def test_get_service_definition(api: Api, fmt: str) -> None:
    """attributes: variable, code, datatype (string, number, datetime, text, singlevaluelist,
    multivaluelist), required, datatype_description, order, description, values (key, name)."""
    services = parse(await api.client.get(f"/open311/v2/services.{fmt}"), fmt)
    code = next(s["service_code"] for s in services if str(s["metadata"]).lower() == "true")
    body = parse(await api.client.get(f"/open311/v2/services/{code}.{fmt}"), fmt)
    assert body["service_code"] == code
    for attribute in body["attributes"]:
        assert str(attribute["variable"]).lower() == "true"
        assert attribute["datatype"] in {
            "string",
            "number",
            "datetime",
            "text",
            "singlevaluelist",
            "multivaluelist",
        }
        assert str(attribute["required"]).lower() in {"true", "false"}
        assert {"code", "order", "description", "datatype_description"} <= set(attribute)
        if attribute["datatype"].endswith("valuelist"):
            assert all({"key", "name"} <= set(v) for v in attribute["values"])


@pytest.mark.parametrize("fmt", FORMATS)
async def test_service_definition_of_an_unknown_code_is_404(api: Api, fmt: str) -> None:
    assert_errors(await api.client.get(f"/open311/v2/services/nope.{fmt}"), fmt, 404)


@pytest.mark.parametrize("fmt", FORMATS)
async def test_unknown_jurisdiction_is_404(api: Api, fmt: str) -> None:
    r = await api.client.get(f"/open311/v2/services.{fmt}", params={"jurisdiction_id": "x"})
    assert_errors(r, fmt, 404)
    ok = await api.client.get(f"/open311/v2/services.{fmt}", params={"jurisdiction_id": ""})
    assert ok.status_code == 200  # an empty parameter is an absent one


@pytest.mark.parametrize("fmt", FORMATS)
async def test_post_service_request(api: Api, key_service: list[str], fmt: str) -> None:
    """Response: service_request_id (or token), service_notice, account_id."""
    r = await post(
        api,
        fmt,
        account_id="acc-9",
        media_url="https://img.example/1.jpg",
        first_name="明",
        last_name="王",
        phone="13812345678",
        email="",
    )
    assert r.status_code == 201, r.text
    [created] = parse(r, fmt)
    assert created["service_request_id"]
    assert "service_notice" in created
    assert created["account_id"] == "acc-9"
    [got] = parse(
        await api.client.get(f"/open311/v2/requests/{created['service_request_id']}.{fmt}"), fmt
    )
    assert got["media_url"] == "https://img.example/1.jpg"
    assert got["service_code"] == "0802"
    assert got["status"] == "open"


@pytest.mark.parametrize("fmt", FORMATS)
async def test_post_errors(api: Api, key_service: list[str], fmt: str) -> None:
    """403: api_key missing or invalid; 400: service_code, location or attributes missing or
    invalid, description over 4,000; 404: service_code not found."""
    assert_errors(await post(api, fmt, api_key=...), fmt, 403)
    assert_errors(await post(api, fmt, api_key="stolen"), fmt, 403)
    assert_errors(await post(api, fmt, api_key="readonly-key"), fmt, 403)
    assert_errors(await post(api, fmt, service_code=...), fmt, 400)
    assert_errors(await post(api, fmt, service_code=""), fmt, 400)
    assert_errors(await post(api, fmt, service_code="9999"), fmt, 404)
    assert_errors(await post(api, fmt, lat=..., long=...), fmt, 400)
    assert_errors(await post(api, fmt, lat="north", long="120"), fmt, 400)
    assert_errors(await post(api, fmt, long=...), fmt, 400)
    assert_errors(await post(api, fmt, description="长" * 4001), fmt, 400)
    assert_errors(await post(api, fmt, lat="45", long="120"), fmt, 400)  # outside our grids


@pytest.mark.parametrize("fmt", FORMATS)
async def test_post_validates_attributes(api: Api, key_service: list[str], fmt: str) -> None:
    services = parse(await api.client.get("/open311/v2/services.json"), "json")
    code = next(s["service_code"] for s in services if s["metadata"])
    definition = (await api.client.get(f"/open311/v2/services/{code}.json")).json()
    required = [a for a in definition["attributes"] if a["required"]]
    if required:
        errors = assert_errors(await post(api, fmt, service_code=code), fmt, 400)
        assert required[0]["code"] in errors[0]["description"]
    bad = assert_errors(await post(api, fmt, **{"attribute[zz][x]": "1"}), fmt, 400)
    assert "attribute" in bad[0]["description"]


@pytest.mark.parametrize("fmt", FORMATS)
async def test_get_service_requests(api: Api, key_service: list[str], fmt: str) -> None:
    """Fields, W3C datetimes with a time zone, open/closed, expected_datetime, status_notes."""
    created = (await post(api, "json")).json()[0]["service_request_id"]
    other = (await post(api, "json", description="另一个")).json()[0]["service_request_id"]
    case = (await api.get(DISPATCHER_C1, "/api/v1/cases", q="另一个")).json()["items"][0]
    await api.act(
        DISPATCHER_C1,
        case["id"],
        "reject",
        reason="重复诉求，已合并处理",
        public_reply="同一问题已在处理中，不再单独立案",
    )
    body = parse(await api.client.get(f"/open311/v2/requests.{fmt}"), fmt)
    by_id = {r["service_request_id"]: r for r in body}
    assert {created, other} <= set(by_id)
    first = by_id[created]
    for key in (
        "service_request_id",
        "status",
        "status_notes",
        "service_name",
        "service_code",
        "description",
        "agency_responsible",
        "service_notice",
        "requested_datetime",
        "updated_datetime",
        "expected_datetime",
        "address",
        "address_id",
        "zipcode",
        "lat",
        "long",
        "media_url",
    ):
        assert key in first
    requested = datetime.fromisoformat(first["requested_datetime"].replace("Z", "+00:00"))
    assert requested.tzinfo is not None
    assert by_id[other]["status"] == "closed"
    # status_notes: the public reply (公开答复), not the internal reason
    assert by_id[other]["status_notes"] == "同一问题已在处理中，不再单独立案"
    assert by_id[created]["status_notes"] == ""
    closed = parse(
        await api.client.get(f"/open311/v2/requests.{fmt}", params={"status": "closed"}), fmt
    )
    assert [r["service_request_id"] for r in closed] == [other]
    both = parse(
        await api.client.get(f"/open311/v2/requests.{fmt}", params={"status": "open,closed"}), fmt
    )
    assert len(both) == 2
    some = parse(
        await api.client.get(
            f"/open311/v2/requests.{fmt}", params={"service_request_id": f"{created},nope"}
        ),
        fmt,
    )
    assert [r["service_request_id"] for r in some] == [created]


async def test_expected_datetime_is_our_resolution_deadline(
    api: Api, key_service: list[str]
) -> None:
    policy = {
        "name": "社区级井盖",
        "category_code": "0802",
        "handling_level": "community",
        "limits": {
            "accept": {"amount": 2, "unit": "working_hours"},
            "resolve": {"amount": 30, "unit": "calendar_hours"},
        },
    }
    r = await api.client.post("/api/v1/sla/policies", json=policy, headers=api.headers(ADMIN))
    assert r.status_code == 201, r.text
    created = (await post(api, "json")).json()[0]["service_request_id"]
    case = (await api.get(DISPATCHER_C1, "/api/v1/cases")).json()["items"][0]
    assert case["case_number"] == created
    r = (await api.client.get(f"/open311/v2/requests/{created}.json")).json()[0]
    # not accepted yet: what the time-limit policy promises — the resolve limit counted from
    # the end of the acceptance limit
    promised = datetime.fromisoformat(r["expected_datetime"].replace("Z", "+00:00"))
    accept = (await api.get(DISPATCHER_C1, f"/api/v1/cases/{case['id']}/deadlines")).json()
    assert [d["kind"] for d in accept] == ["accept"]
    due = datetime.fromisoformat(accept[0]["due_at"]) + timedelta(hours=30)
    assert promised == due.replace(microsecond=0)  # W3C datetimes to the second
    await api.act(DISPATCHER_C1, case["id"], "accept")
    deadlines = (await api.get(DISPATCHER_C1, f"/api/v1/cases/{case['id']}/deadlines")).json()
    resolve = next(d for d in deadlines if d["kind"] == "resolve")
    r = (
        await api.client.get(f"/open311/v2/requests/{created}.json", params={"extensions": "true"})
    ).json()[0]
    assert datetime.fromisoformat(
        r["expected_datetime"].replace("Z", "+00:00")
    ) == datetime.fromisoformat(resolve["due_at"]).replace(microsecond=0)
    assert r["extended_attributes"]["detailed_status"] == "accepted"
    assert (
        "extended_attributes"
        not in (await api.client.get(f"/open311/v2/requests/{created}.json")).json()[0]
    )


@pytest.mark.parametrize("fmt", FORMATS)
async def test_get_requests_errors(api: Api, fmt: str) -> None:
    now = datetime.now(UTC)
    far = {"start_date": (now - timedelta(days=91)).isoformat(), "end_date": now.isoformat()}
    assert_errors(await api.client.get(f"/open311/v2/requests.{fmt}", params=far), fmt, 400)
    assert_errors(
        await api.client.get(f"/open311/v2/requests.{fmt}", params={"start_date": "yesterday"}),
        fmt,
        400,
    )
    assert_errors(
        await api.client.get(f"/open311/v2/requests.{fmt}", params={"status": "pending"}), fmt, 400
    )
    assert_errors(
        await api.client.get(f"/open311/v2/requests.{fmt}", params={"page_size": "0"}), fmt, 400
    )
    assert_errors(await api.client.get(f"/open311/v2/requests/NOPE.{fmt}"), fmt, 404)


async def test_paging_extension_and_empty_parameters(api: Api, key_service: list[str]) -> None:
    ids = [
        (await post(api, "json", description=f"第{i}个")).json()[0]["service_request_id"]
        for i in range(3)
    ]
    page1 = (
        await api.client.get(
            "/open311/v2/requests.json", params={"page_size": "2", "page": "1", "status": ""}
        )
    ).json()
    page2 = (
        await api.client.get("/open311/v2/requests.json", params={"page_size": "2", "page": "2"})
    ).json()
    assert [r["service_request_id"] for r in page1 + page2] == list(reversed(ids))


async def test_unknown_format_is_400(api: Api) -> None:
    r = await api.client.get("/open311/v2/services.yaml")
    assert r.status_code == 400
    assert r.json()[0]["code"] == 400


async def test_api_keys_are_remembered_briefly(api: Api, key_service: list[str]) -> None:
    for _ in range(3):
        assert (await post(api, "json")).status_code == 201
    assert key_service == ["good-key"]


async def test_requests_hide_the_reporter(api: Api, key_service: list[str]) -> None:
    await post(api, "json", phone="13812345678", first_name="明", last_name="王")
    text = (await api.client.get("/open311/v2/requests.xml")).text
    assert "13812345678" not in text
    assert "王" not in text
