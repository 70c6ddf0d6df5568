"""The category catalogue: seed, two levels, versions, the intake form definition."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import ADMIN, DISPATCHER_C1, RESIDENT, Api
from test_lifecycle import api_sessionmaker

from case_service.categories.catalogue import SUBCATEGORIES, TOP_LEVEL, load_catalogue


async def test_seed_catalogue_covers_the_domains_and_loads_idempotently(api: Api) -> None:
    async with api_sessionmaker(api)() as session, session.begin():
        assert await load_catalogue(session) == 0  # already loaded by the fixture
    top = (await api.get(RESIDENT, "/api/v1/categories", top_level="true")).json()
    assert [c["code"] for c in top] == [code for code, *_ in TOP_LEVEL]
    names = {c["name"] for c in top}
    domains = (
        "矛盾纠纷 安全隐患 治安乱点 信访诉求 市容环境 街面秩序 "
        "施工管理 公用设施 突发事件 民生服务 代办服务"
    )
    for domain in domains.split():
        assert domain in names
    everything = (await api.get(RESIDENT, "/api/v1/categories")).json()
    assert len(everything) == len(TOP_LEVEL) + len(SUBCATEGORIES)
    assert {c["kind"] for c in everything} == {
        "consultation",
        "help",
        "complaint",
        "report",
        "suggestion",
    }
    facilities = (await api.get(RESIDENT, "/api/v1/categories", parent_code="08")).json()
    assert [c["code"] for c in facilities] == ["0801", "0802", "0803"]
    assert all(c["routing"] == "owner" for c in facilities)  # 部件先属主
    pothole = (await api.get(RESIDENT, "/api/v1/categories/0801")).json()
    assert [a["code"] for a in pothole["attributes"]] == ["depth_cm", "lane"]


NEW = {
    "code": "0804",
    "parent_code": "08",
    "name": "消防栓损坏",
    "kind": "report",
    "routing": "owner",
    "owner_department_id": "dept-water",
    "attributes": [
        {"code": "leaking", "name": "是否漏水", "datatype": "singlevaluelist", "required": True,
         "values": [{"key": "yes", "name": "是"}, {"key": "no", "name": "否"}], "order": 2},
        {"code": "note", "name": "说明", "datatype": "text", "order": 1},
    ],
}  # fmt: skip


async def test_admin_creates_and_versions_a_category(api: Api) -> None:
    r = await api.client.post("/api/v1/categories", json=NEW, headers=api.headers(ADMIN))
    assert r.status_code == 201, r.text
    v1 = r.json()
    assert v1["version"] == 1
    assert [a["code"] for a in v1["attributes"]] == ["note", "leaking"]  # sorted by order
    case = await api.report(category_code="0804", attributes={"leaking": "yes"})
    assert case["category"]["id"] == v1["id"]
    changed = {k: v for k, v in NEW.items() if k not in {"code", "parent_code"}}
    changed["name"] = "消火栓损坏"
    changed["attributes"] = []
    r = await api.client.put("/api/v1/categories/0804", json=changed, headers=api.headers(ADMIN))
    assert r.status_code == 200
    assert r.json()["version"] == 2
    # the old case keeps the version it was filed under
    old = (await api.get(ADMIN, f"/api/v1/cases/{case['id']}")).json()
    assert old["category"] == {"id": v1["id"], "code": "0804", "name": "消防栓损坏"}
    assert old["attributes"] == {"leaking": "yes"}
    # a new case is filed under version 2 (and its form no longer knows `leaking`)
    r2 = await api.report(category_code="0804", attributes={"leaking": "yes"}, expect=422)
    assert r2["errors"][0]["field"] == "attributes.leaking"
    versions = (await api.get(RESIDENT, "/api/v1/categories/0804/versions")).json()
    assert [v["version"] for v in versions] == [2, 1]
    # retiring it
    changed["active"] = False
    r = await api.client.put("/api/v1/categories/0804", json=changed, headers=api.headers(ADMIN))
    assert r.json()["active"] is False
    await api.report(category_code="0804", expect=422)
    listed = {c["code"] for c in (await api.get(RESIDENT, "/api/v1/categories")).json()}
    assert "0804" not in listed


@pytest.mark.parametrize(
    ("patch", "status", "field_or_code"),
    [
        ({"routing": "owner", "owner_department_id": None}, 422, "body"),
        ({"parent_code": "77"}, 422, "parent_code"),
        ({"parent_code": "0801"}, 422, "parent_code"),  # only two levels
        ({"code": "0801"}, 409, "category_exists"),
        ({"code": "has space"}, 422, "code"),
        ({"kind": "gossip"}, 422, "kind"),
        (
            {"attributes": [{"code": "x", "name": "x", "datatype": "singlevaluelist"}]},
            422,
            "attributes.0",
        ),
        (
            {"attributes": [{"code": "x", "name": "x", "datatype": "colour"}]},
            422,
            "attributes.0.datatype",
        ),
        ({"attributes": [{"code": "x", "name": "x", "datatype": "number"}] * 2}, 422, "body"),
    ],
)
async def test_bad_categories(
    api: Api, patch: dict[str, Any], status: int, field_or_code: str
) -> None:
    r = await api.client.post(
        "/api/v1/categories", json={**NEW, **patch}, headers=api.headers(ADMIN)
    )
    assert r.status_code == status, r.text
    body = r.json()
    if status == 422:
        assert field_or_code in [e["field"] for e in body["errors"]]
    else:
        assert body["code"] == field_or_code


async def test_only_admins_change_the_catalogue(api: Api) -> None:
    r = await api.client.post("/api/v1/categories", json=NEW, headers=api.headers(DISPATCHER_C1))
    assert r.status_code == 403
    assert r.json()["code"] == "missing_role"
    r = await api.client.put("/api/v1/categories/0801", json=NEW, headers=api.headers(RESIDENT))
    assert r.status_code == 403
    r = await api.client.put("/api/v1/categories/9999", json=NEW, headers=api.headers(ADMIN))
    assert r.status_code == 404
    assert (await api.get(RESIDENT, "/api/v1/categories/9999")).status_code == 404
    assert (await api.get(RESIDENT, "/api/v1/categories/9999/versions")).status_code == 404
    assert (await api.client.get("/api/v1/categories")).status_code == 401
