"""Intake from every channel: location through grid_service, validation, idempotency, 代办,
自行处置, duplicates and merging."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from conftest import (
    ADMIN,
    COMMUNITY1,
    DISPATCHER_C1,
    GRID_A,
    GRID_C,
    PLATFORM,
    RESIDENT,
    RESIDENT2,
    WORKER_A,
    WORKER_C,
    Api,
    FakeGrid,
)
from test_lifecycle import api_sessionmaker


async def count(api: Api, table: str) -> int:
    async with api_sessionmaker(api)() as session:
        query = sa.select(sa.func.count()).select_from(sa.table(table))
        return int((await session.execute(query)).scalar_one())


async def test_resident_reports_from_the_mini_program(api: Api, fake_grid: FakeGrid) -> None:
    case = await api.report(
        RESIDENT,
        location={"lat": 30.2741, "lng": 120.1551, "crs": "gcj02"},
        occurred_at="2026-11-23T08:30:00+08:00",
        attributes={},
    )
    assert fake_grid.calls[0].url.params["crs"] == "gcj02"
    assert fake_grid.calls[0].url.params["view"] == "compact"  # placed by area and ancestors
    assert case["status"] == "reported"
    assert case["version"] == 1
    assert case["area"]["path"] == GRID_A
    assert case["area"]["code"] == GRID_A.split(".")[-1]
    assert case["location"] == {
        "lat": 30.2741,
        "lng": 120.1551,
        "address": None,
        "address_id": None,
    }
    assert case["location_status"] == "located"
    assert case["reporter"]["account_id"] == RESIDENT.sub
    assert case["reporter"]["phone"] == "13812345678"  # the reporter sees their own details
    assert case["category"]["code"] == "0802"
    assert case["priority"] == "high"  # the category's default
    assert case["channel"] == "mini_program"
    assert len(case["case_number"]) == 14
    assert case["possible_duplicates"] == []
    assert await count(api, "case") == 1
    assert await count(api, "timeline_entry") == 1
    async with api_sessionmaker(api)() as session:
        row = (
            await session.execute(sa.text("SELECT type, case_version, payload FROM outbox_event"))
        ).one()
    assert row.type == "case.reported"
    assert row.case_version == 1
    assert row.payload["case_number"] == case["case_number"]
    assert row.payload["reporter_account_id"] == RESIDENT.sub
    assert row.payload["area_path"] == GRID_A


async def test_outside_the_jurisdiction_writes_nothing(api: Api) -> None:
    r = await api.report(location={"lat": 45.0, "lng": 120.0}, expect=422)
    assert r["code"] == "outside_jurisdiction"
    assert r["errors"][0]["field"] == "location"
    assert await count(api, "case") == 0
    assert await count(api, "outbox_event") == 0


async def test_grid_service_failure_is_502_and_writes_nothing(api: Api) -> None:
    r = await api.report(location={"lat": 55.0, "lng": 120.0}, expect=502)
    assert r["code"] == "upstream_error"
    assert await count(api, "case") == 0


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"description": "长" * 4001}, "description"),
        ({"description": ""}, "description"),
        ({"location": {"lat": 30.1}}, "location"),
        ({"location": {"lat": 91, "lng": 120}}, "location.lat"),
        ({"location": {"lat": 30, "lng": 120, "crs": "mars"}}, "location.crs"),
        ({"location": {}}, "location"),
        ({"category_code": "9999"}, "category_code"),
        ({"category_code": "08"}, "category_code"),  # a 大类: cases go under a 小类
        ({"channel": "carrier_pigeon"}, "channel"),
        ({"channel": "hotline"}, "channel"),  # residents use their own channels
        ({"channel": "patrol"}, "channel"),
        ({"occurred_at": "2099-01-01T00:00:00Z"}, "occurred_at"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"source": "12345"}, "body"),
        ({"source": "12345", "external_id": "A1"}, "source"),  # residents are not platforms
        ({"reporter": {"phone": "not-a-phone"}}, "reporter.phone"),
        ({"attachment_ids": ["nope"]}, "attachment_ids.0"),
        ({"attachment_ids": ["6b0c6f3e-3f55-4e55-9a43-1a1f4b8f0a11"]}, "attachment_ids.0"),
        ({"location": {"address": "文三路 90 号"}}, "location.lat"),  # resident: no staff area
    ],
)
async def test_bad_intake_names_the_field(api: Api, fields: dict[str, Any], field: str) -> None:
    r = await api.report(RESIDENT, expect=422, **fields)
    assert field in [e["field"] for e in r["errors"]], r
    assert await count(api, "case") == 0


async def test_malformed_json(api: Api) -> None:
    r = await api.client.post(
        "/api/v1/cases",
        content=b'{"category_code": ',
        headers={**api.headers(RESIDENT), "Content-Type": "application/json"},
    )
    assert r.status_code == 400
    assert r.json()["code"] == "malformed_json"


async def test_unauthenticated_is_401(api: Api) -> None:
    r = await api.client.post("/api/v1/cases", json={})
    assert r.status_code == 401


@pytest.mark.parametrize(
    ("attributes", "field"),
    [
        ({}, "attributes.level"),  # required
        ({"level": "apocalyptic"}, "attributes.level"),
        ({"level": "minor", "colour": "red"}, "attributes.colour"),
    ],
)
async def test_category_form_is_validated(api: Api, attributes: dict[str, Any], field: str) -> None:
    r = await api.report(category_code="0201", attributes=attributes, expect=422)
    assert r["code"] == "invalid_attributes"
    assert field in [e["field"] for e in r["errors"]]


async def test_category_form_values_are_kept(api: Api) -> None:
    case = await api.report(
        category_code="0801", attributes={"depth_cm": 12.5, "lane": ["carriageway", "sidewalk"]}
    )
    assert case["attributes"] == {"depth_cm": 12.5, "lane": ["carriageway", "sidewalk"]}
    r = await api.report(category_code="0801", attributes={"depth_cm": "deep"}, expect=422)
    assert r["errors"][0]["field"] == "attributes.depth_cm"
    r = await api.report(category_code="0801", attributes={"lane": ["river"]}, expect=422)
    assert r["errors"][0]["field"] == "attributes.lane"


async def test_same_external_id_twice_gives_the_same_case(api: Api) -> None:
    body = {
        "channel": "platform",
        "source": "hotline-12345",
        "external_id": "BJ20261123-0001",
        "reporter": {"name": "李四", "phone": "13900001111"},
    }
    first = await api.report(PLATFORM, **body)
    r = await api.client.post(
        "/api/v1/cases",
        json={
            "category_code": "0802",
            "description": "学院路口井盖缺失，夜里很危险",
            "location": {"lat": 30.2741, "lng": 120.1551},
            **body,
        },
        headers=api.headers(PLATFORM),
    )
    assert r.status_code == 200
    assert r.json()["id"] == first["id"]
    assert await count(api, "case") == 1
    # the platform sees its own case, and only its own
    listed = (await api.get(PLATFORM, "/api/v1/cases")).json()["items"]
    assert [c["id"] for c in listed] == [first["id"]]
    r = await api.report(PLATFORM, channel="hotline", expect=422)
    assert r["code"] == "source_required"
    r = await api.report(PLATFORM, channel="platform", expect=422)
    assert r["errors"][0]["field"] == "body"  # platform channel without source/external_id


async def test_idempotency_key_replays(api: Api) -> None:
    body = {
        "category_code": "0802",
        "channel": "app",
        "description": "井盖缺失",
        "location": {"lat": 30.2, "lng": 120.1},
    }
    headers = {**api.headers(RESIDENT), "Idempotency-Key": "k-1"}
    first = await api.client.post("/api/v1/cases", json=body, headers=headers)
    second = await api.client.post("/api/v1/cases", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert first.json()["id"] == second.json()["id"]
    assert await count(api, "case") == 1
    changed = await api.client.post(
        "/api/v1/cases", json={**body, "description": "别的"}, headers=headers
    )
    assert changed.status_code == 422
    assert changed.json()["code"] == "idempotency_key_reused"


async def test_same_idempotency_key_at_once_files_one_case(api: Api) -> None:
    """Concurrent requests with one key: the key is written with the case in one statement
    (ON CONFLICT DO NOTHING); the losers roll back everything they wrote and replay the
    winner's answer — one case, one timeline entry, one event, one deadline."""
    import asyncio

    body = {
        "category_code": "0802",
        "channel": "app",
        "description": "井盖缺失",
        "location": {"lat": 30.2, "lng": 120.1},
    }
    headers = {**api.headers(RESIDENT), "Idempotency-Key": "k-race"}
    responses = await asyncio.gather(
        *(api.client.post("/api/v1/cases", json=body, headers=headers) for _ in range(4))
    )
    assert [r.status_code for r in responses] == [201] * 4, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert len({r.json()["case_number"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 3
    for table in ("case", "timeline_entry", "outbox_event", "case_deadline"):
        assert await count(api, table) == 1, table
    assert await count(api, "sla_timer") >= 1


async def test_staff_report_on_behalf_of_a_resident(api: Api) -> None:
    case = await api.report(
        WORKER_A,
        channel="patrol",
        reporter={"name": "张奶奶", "phone": "13700002222", "account_id": RESIDENT2.sub},
    )
    assert case["reporter"]["on_behalf"] is True
    assert case["reporter"]["account_id"] == RESIDENT2.sub
    # the resident follows it as their own case
    mine = (await api.get(RESIDENT2, "/api/v1/cases")).json()["items"]
    assert [c["id"] for c in mine] == [case["id"]]
    # staff may file by address alone, in their own area
    case2 = await api.report(WORKER_A, channel="patrol", location={"address": "文三路 90 号"})
    assert case2["area"]["path"] == GRID_A
    assert case2["location"]["address"] == "文三路 90 号"


async def test_self_handled_on_the_spot(api: Api) -> None:
    from test_lifecycle import upload_photo

    after = await upload_photo(api, WORKER_A, "after")
    case = await api.report(
        WORKER_A,
        channel="patrol",
        category_code="0601",
        self_handled={"result": "已劝离流动摊贩", "attachment_ids": [after]},
    )
    assert case["status"] == "resolved"
    assert case["self_handled"] is True
    assert case["version"] == 2
    assert case["assignments"][0]["state"] == "finished"
    r = await api.act(WORKER_A, case["id"], "verify", expect=403)
    assert r.json()["code"] == "verifier_is_resolver"
    r = await api.act(DISPATCHER_C1, case["id"], "verify")
    assert r.json()["status"] == "closed"
    timeline = (await api.get(ADMIN, f"/api/v1/cases/{case['id']}/timeline")).json()
    assert [(e["action"], e["to_status"]) for e in timeline] == [
        ("report", "reported"),
        ("resolve", "resolved"),
        ("verify", "closed"),
    ]
    assert timeline[1]["attachment_ids"] == [after]
    # only a grid worker, only in their own grids
    r = await api.report(RESIDENT, self_handled={"result": "x"}, expect=403)
    assert r["code"] == "self_handling_not_allowed"
    r = await api.report(WORKER_C, channel="patrol", self_handled={"result": "x"}, expect=403)
    assert await count(api, "case") == 1


async def test_duplicate_found_and_merged(api: Api) -> None:
    first = await api.report(RESIDENT, location={"lat": 30.27410, "lng": 120.15510})
    # ~20 m away, same category: a possible duplicate
    second = await api.report(RESIDENT2, location={"lat": 30.27425, "lng": 120.15520})
    # another resident's case is counted, never shown (test_resident_requests has the rest)
    assert second["possible_duplicates"] == []
    assert second["similar_nearby"]["count"] == 1
    # ~300 m away or another category: not
    far = await api.report(RESIDENT2, location={"lat": 30.2770, "lng": 120.1551})
    assert far["possible_duplicates"] == []
    assert far["similar_nearby"] is None
    other = await api.report(
        RESIDENT2, category_code="0601", location={"lat": 30.27425, "lng": 120.15520}
    )
    assert other["possible_duplicates"] == []
    assert other["similar_nearby"] is None
    listed = (await api.get(DISPATCHER_C1, f"/api/v1/cases/{first['id']}/duplicates")).json()
    assert [d["id"] for d in listed] == [second["id"]]

    r = await api.act(DISPATCHER_C1, second["id"], "merge", into_case_id=first["id"])
    assert r.json()["status"] == "merged"
    assert r.json()["merged_into_id"] == first["id"]
    master = (await api.get(DISPATCHER_C1, f"/api/v1/cases/{first['id']}")).json()
    assert master["supporter_count"] == 1
    r = await api.act(DISPATCHER_C1, second["id"], "merge", into_case_id=second["id"], expect=409)
    # every reporter hears of the outcome: the master's events name the supporters
    await api.act(DISPATCHER_C1, first["id"], "accept")
    async with api_sessionmaker(api)() as session:
        payload = (
            await session.execute(
                sa.text(
                    "SELECT payload FROM outbox_event "
                    "WHERE case_id = :id AND type = 'case.accepted'"
                ),
                {"id": first["id"]},
            )
        ).scalar_one()
    assert payload["reporter_account_id"] == RESIDENT.sub
    assert payload["supporter_account_ids"] == [RESIDENT2.sub]
    async with api_sessionmaker(api)() as session:
        told = (
            await session.execute(
                sa.text("SELECT case_id, payload FROM outbox_event WHERE type = 'case.accepted'")
            )
        ).all()
    # the duplicate's reporter hears of the master's acceptance on their own case
    by_case = {str(row.case_id): row.payload for row in told}
    assert by_case[second["id"]]["reporter_account_id"] == RESIDENT2.sub
    assert by_case[second["id"]]["master_case_number"] == first["case_number"]
    assert by_case[second["id"]]["case_number"] == second["case_number"]
    # a merge into itself, or into a closed case, is refused
    third = await api.report(RESIDENT2)
    r = await api.act(DISPATCHER_C1, third["id"], "merge", into_case_id=third["id"], expect=422)
    assert r.json()["code"] == "merge_into_self"


async def test_master_outside_scope_is_unknown(api: Api) -> None:
    here = await api.report(RESIDENT)
    there = await api.report(RESIDENT2, location={"lat": 32.1, "lng": 120.1})
    assert there["area"]["path"] == GRID_C
    r = await api.act(DISPATCHER_C1, here["id"], "merge", into_case_id=there["id"], expect=422)
    assert r.json()["code"] == "unknown_master_case"
    assert here["handling_area_path"] == COMMUNITY1


async def test_same_external_id_pushed_twice_at_once(api: Api) -> None:
    import asyncio

    body = {
        "category_code": "0802",
        "channel": "platform",
        "description": "井盖缺失",
        "location": {"lat": 30.2, "lng": 120.1},
        "source": "hotline-12345",
        "external_id": "BJ20261123-0002",
    }
    responses = await asyncio.gather(
        *(
            api.client.post("/api/v1/cases", json=body, headers=api.headers(PLATFORM))
            for _ in range(3)
        )
    )
    assert sorted(r.status_code for r in responses) == [200, 200, 201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert await count(api, "case") == 1
    assert await count(api, "outbox_event") == 1


async def test_a_platform_names_only_itself_as_source(api: Api) -> None:
    """Another platform's source would read that platform's case by its external_id and send
    the new case to that platform's webhooks: 422 `source_not_yours`, nothing written."""
    from conftest import PLATFORM2

    body = {
        "category_code": "0802",
        "channel": "platform",
        "description": "学院路口井盖缺失",
        "location": {"lat": 30.2741, "lng": 120.1551},
        "source": "hotline-12345",
        "external_id": "BJ20261207-0009",
    }
    first = await api.client.post("/api/v1/cases", json=body, headers=api.headers(PLATFORM))
    assert first.status_code == 201, first.text
    other = await api.client.post("/api/v1/cases", json=body, headers=api.headers(PLATFORM2))
    assert other.status_code == 422, other.text
    assert other.json()["code"] == "source_not_yours"
    assert other.json()["errors"][0]["field"] == "source"
    assert first.json()["id"] not in other.text
    assert await count(api, "case") == 1
