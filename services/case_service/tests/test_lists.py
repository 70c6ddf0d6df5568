"""Lists: every filter, keyset pages, the updated_since feed, Chinese substring search."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import ADMIN, COMMUNITY1, COMMUNITY2, DISPATCHER_C1, GRID_A, WORKER_A, Api
from test_lifecycle import api_sessionmaker


async def ids(api: Api, **params: Any) -> list[str]:
    r = await api.get(ADMIN, "/api/v1/cases", **params)
    assert r.status_code == 200, r.text
    return [c["id"] for c in r.json()["items"]]


async def test_filters(api: Api) -> None:
    a = await api.report(description="小区门口井盖缺失", location={"lat": 30.1, "lng": 120.1})
    b = await api.report(
        category_code="0601", description="流动摊点占道", location={"lat": 32.1, "lng": 120.1}
    )
    c = await api.report(category_code="0601", description="夜市摊点油烟扰民", priority="urgent")
    assert c["priority"] == "normal"  # a resident's urgency is a request
    await api.act(DISPATCHER_C1, c["id"], "accept", priority="urgent")  # the dispatcher grants it
    await api.act(
        DISPATCHER_C1,
        c["id"],
        "dispatch",
        assignees=[{"account_id": WORKER_A.sub}, {"department_id": "dept-urban", "role": "co"}],
    )
    assert await ids(api) == [c["id"], b["id"], a["id"]]  # newest first
    assert await ids(api, status="reported") == [b["id"], a["id"]]
    assert await ids(api, status=["dispatched", "reported"]) == [c["id"], b["id"], a["id"]]
    assert await ids(api, category_code="0601") == [c["id"], b["id"]]
    assert await ids(api, area_path=COMMUNITY1) == [c["id"], a["id"]]
    assert await ids(api, area_path=COMMUNITY2) == [b["id"]]
    assert await ids(api, area_path=GRID_A) == [c["id"], a["id"]]
    assert await ids(api, area_path=COMMUNITY1[:-1]) == []  # a prefix of a code is not a parent
    assert await ids(api, assignee=WORKER_A.sub) == [c["id"]]
    assert await ids(api, department_id="dept-urban") == [c["id"]]
    assert await ids(api, priority="urgent") == [c["id"]]
    assert await ids(api, channel="mini_program") == [c["id"], b["id"], a["id"]]
    assert await ids(api, channel="hotline") == []
    assert await ids(api, q="摊点") == [c["id"], b["id"]]
    assert await ids(api, q="井盖缺失") == [a["id"]]
    assert await ids(api, q="100%") == []
    assert await ids(api, category_code="0601", q="油烟") == [c["id"]]
    now = datetime.now(UTC)
    assert await ids(api, created_from=(now - timedelta(minutes=5)).isoformat()) == [
        c["id"],
        b["id"],
        a["id"],
    ]
    assert await ids(api, created_to=(now - timedelta(minutes=5)).isoformat()) == []
    assert await ids(
        api, updated_from=(now - timedelta(minutes=5)).isoformat(), status="dispatched"
    ) == [c["id"]]
    # id: only these cases (grid_service checks the case ids of patrol findings this way)
    assert await ids(api, id=[a["id"], c["id"], "5b0e3c1a-7d2f-4e8a-9c61-2f4b8d0a1e37"]) == [
        c["id"],
        a["id"],
    ]
    # mine: a resident's own reports
    mine = (await api.get(WORKER_A, "/api/v1/cases", mine="true")).json()["items"]
    assert mine == []


async def test_overdue(api: Api) -> None:
    late = await api.report()
    on_time = await api.report()
    done = await api.report()
    async with api_sessionmaker(api)() as session, session.begin():
        await session.execute(
            sa.text("UPDATE \"case\" SET due_at = now() - interval '1 hour' WHERE id IN (:a, :c)"),
            {"a": late["id"], "c": done["id"]},
        )
        await session.execute(
            sa.text("UPDATE \"case\" SET due_at = now() + interval '1 day' WHERE id = :b"),
            {"b": on_time["id"]},
        )
    await api.act(DISPATCHER_C1, done["id"], "reject", reason="不属实")
    assert await ids(api, overdue="true") == [late["id"]]
    assert await ids(api, overdue="false") == [done["id"], on_time["id"]]


async def test_keyset_pages(api: Api) -> None:
    made = [(await api.report(description=f"第{i}号"))["id"] for i in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await api.get(ADMIN, "/api/v1/cases", **params)).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(made))


async def test_updated_since_feed(api: Api) -> None:
    a = await api.report()
    b = await api.report()
    since = datetime.now(UTC).isoformat()
    await api.act(DISPATCHER_C1, a["id"], "accept")
    feed = (await api.get(ADMIN, "/api/v1/cases", updated_since=since)).json()
    assert [c["id"] for c in feed["items"]] == [a["id"]]
    earlier = (
        await api.get(ADMIN, "/api/v1/cases", updated_since="2000-01-01T00:00:00Z", limit=1)
    ).json()
    assert [c["id"] for c in earlier["items"]] == [b["id"]]  # oldest change first
    nxt = (
        await api.get(
            ADMIN,
            "/api/v1/cases",
            updated_since="2000-01-01T00:00:00Z",
            limit=1,
            cursor=earlier["next_cursor"],
        )
    ).json()
    assert [c["id"] for c in nxt["items"]] == [a["id"]]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "lost"}, "query.status.0"),
        ({"priority": "extreme"}, "query.priority"),
        ({"channel": "fax"}, "query.channel"),
        ({"area_path": "33' OR 1=1"}, "query.area_path"),
        ({"created_from": "yesterday"}, "query.created_from"),
        ({"overdue": "maybe"}, "query.overdue"),
        ({"q": "x"}, "query.q"),
        ({"id": "does-not-exist"}, "query.id.0"),
        ({"limit": 1000}, "query.limit"),
        ({"cursor": "garbage!"}, "query.cursor"),
    ],
)
async def test_bad_list_parameters(api: Api, params: dict[str, Any], field: str) -> None:
    r = await api.get(ADMIN, "/api/v1/cases", **params)
    assert r.status_code == 422
    assert field in [e["field"] for e in r.json()["errors"]]
