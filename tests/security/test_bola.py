"""Object-level authorization (BOLA, OWASP API1) on the running system: two residents, and two
departments' handlers. The matrix (test_matrix.py) says which role may call an operation at
all; these say that a caller of the right role still reaches only its own objects — another
resident's case, another department's case, is answered like a case that does not exist
(404 ``case_not_found``), and lists hold only the caller's own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest_asyncio

from tests.helpers import PASSWORD, Person, login, query, report_body
from tests.system import System

RATING = {"satisfaction": "dissatisfied", "attitude_score": 1, "speed_score": 1, "result_score": 1}
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01" + b"\x00" * 4000


async def second_resident(system: System) -> Person:
    """A second resident account: residents sign up through WeChat, which a test cannot
    reach, so the demo resident's row is copied under another name and phone."""
    await query(
        system,
        "grid",
        """INSERT INTO account (id, kind, username, name, password_hash, roles, area_paths,
               department_ids, home_area_path, phone, channels, failed_logins, disabled,
               created_at)
           SELECT $1, kind, 'resident2', '居民 张伟', password_hash, roles, area_paths,
               department_ids, home_area_path, '13900000098', channels, 0, false, now()
           FROM account WHERE username = 'resident'
           ON CONFLICT (username) DO NOTHING""",
        uuid.uuid4(),
    )
    return await login(system, "resident2")


async def second_handler(client: httpx.AsyncClient, system: System) -> Person:
    """A handler of dept-urban (the demo handler is dept-roads'), made by the admin."""
    admin = await login(system, "admin")
    grid = system["grid"].url
    r = await client.get(grid + "/api/v1/departments", headers=admin.headers)
    assert r.status_code == 200, r.text
    items = r.json()["items"] if isinstance(r.json(), dict) else r.json()
    urban = next(d for d in items if d["code"] == "dept-urban")
    roads_handler = await login(system, "handler")
    r = await client.post(
        grid + "/api/v1/accounts",
        headers=admin.headers,
        json={
            "username": "handler-urban",
            "name": "城管处置员 周洁",
            "password": PASSWORD,
            "roles": ["department_handler"],
            "area_paths": roads_handler.claims["areas"],
            "department_ids": [urban["id"]],
        },
    )
    assert r.status_code in (201, 409), r.text
    return await login(system, "handler-urban")


class Caller:
    def __init__(self, client: httpx.AsyncClient, system: System) -> None:
        self.client = client
        self.case = system["case"].url

    async def call(self, who: Person, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.request(method, self.case + path, headers=who.headers, **kwargs)

    async def act(self, who: Person, case_id: str, action: str, **body: Any) -> httpx.Response:
        return await self.call(who, "POST", f"/api/v1/cases/{case_id}/actions/{action}", json=body)


@pytest_asyncio.fixture(scope="package")
async def caller(security_system: System) -> AsyncIterator[Caller]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield Caller(client, security_system)


def not_found(r: httpx.Response) -> None:
    assert r.status_code == 404, r.text
    assert r.json()["code"] in {"case_not_found", "attachment_not_found"}, r.text


async def test_a_resident_reaches_only_their_own_cases(
    security_system: System, caller: Caller
) -> None:
    one = await login(security_system, "resident")
    two = await second_resident(security_system)
    up = await caller.call(one, "POST", "/api/v1/attachments", files={"file": ("a.jpg", JPEG)})
    assert up.status_code == 201, up.text
    photo = up.json()["id"]
    r = await caller.call(one, "POST", "/api/v1/cases", json=report_body(attachment_ids=[photo]))
    assert r.status_code == 201, r.text
    mine = r.json()["id"]
    r = await caller.call(two, "POST", "/api/v1/cases", json=report_body(description="路灯不亮"))
    assert r.status_code == 201, r.text
    theirs = r.json()["id"]

    # the other resident's case is answered like one that does not exist
    case = f"/api/v1/cases/{mine}"
    for method, path, body in [
        ("GET", case, None),
        ("GET", f"{case}/timeline", None),
        ("GET", f"{case}/deadlines", None),
        ("GET", f"{case}/evaluations", None),
        ("GET", f"{case}/similar", None),
        ("POST", f"{case}/comments", {"body": "我也看到了", "visibility": "public"}),
        ("POST", f"{case}/evaluations", RATING),
        ("POST", f"{case}/reopen-requests", {"reason": "没修好"}),
        ("POST", f"{case}/similar/support", None),
        ("POST", f"{case}/actions/rate", {"rating": 1}),
    ]:
        kwargs = {"json": body} if body is not None else {}
        r = await caller.call(two, method, path, **kwargs)
        assert r.status_code == 404, (method, path, r.text)
        assert r.json()["code"] in {"case_not_found", "no_similar_case"}, (path, r.text)
    # nor the photo attached to it, nor attach their own photo to it
    not_found(await caller.call(two, "GET", f"/api/v1/attachments/{photo}"))
    not_found(await caller.call(two, "GET", f"/api/v1/attachments/{photo}/content"))
    up = await caller.call(two, "POST", "/api/v1/attachments", files={"file": ("b.jpg", JPEG)})
    assert up.status_code == 201, up.text
    r = await caller.call(
        two,
        "POST",
        f"{case}/comments",
        json={"body": "照片", "visibility": "public", "attachment_ids": [up.json()["id"]]},
    )
    not_found(r)
    # nothing was written to the case
    r = await caller.call(one, "GET", f"{case}/timeline")
    assert r.status_code == 200, r.text
    assert [e for e in r.json() if e.get("kind") == "comment"] == []

    # each lists their own cases only
    for who, own, other in [(one, mine, theirs), (two, theirs, mine)]:
        r = await caller.call(who, "GET", "/api/v1/cases", params={"limit": 100})
        assert r.status_code == 200, r.text
        listed = {c["id"] for c in r.json()["items"]}
        assert own in listed
        assert other not in listed
        reporters = {c.get("reporter_account_id") for c in r.json()["items"]} - {None}
        assert reporters <= {who.sub}
    # the owner still reaches the case and the photo
    assert (await caller.call(one, "GET", case)).status_code == 200
    assert (await caller.call(one, "GET", f"/api/v1/attachments/{photo}")).status_code == 200


async def test_a_department_reaches_only_the_cases_dispatched_to_it(
    security_system: System, caller: Caller
) -> None:
    resident = await login(security_system, "resident")
    dispatcher = await login(security_system, "dispatcher")
    roads = await login(security_system, "handler")
    urban = await second_handler(caller.client, security_system)
    assert roads.claims["depts"] == ["dept-roads"]
    assert urban.claims["depts"] == ["dept-urban"]

    async def dispatched_to(dept: str) -> str:
        r = await caller.call(resident, "POST", "/api/v1/cases", json=report_body())
        assert r.status_code == 201, r.text
        cid = str(r.json()["id"])
        assert (await caller.act(dispatcher, cid, "accept")).status_code == 200
        r = await caller.act(dispatcher, cid, "dispatch", assignees=[{"department_id": dept}])
        assert r.status_code == 200, r.text
        return cid

    for own, other, dept in [(roads, urban, "dept-roads"), (urban, roads, "dept-urban")]:
        cid = await dispatched_to(dept)
        case = f"/api/v1/cases/{cid}"
        # the other department's handler: like a case that does not exist
        not_found(await caller.call(other, "GET", case))
        not_found(await caller.call(other, "GET", f"{case}/timeline"))
        not_found(await caller.act(other, cid, "claim"))
        not_found(await caller.act(other, cid, "resolve", result="已处理"))
        not_found(await caller.act(other, cid, "return", reason="不归我们管"))
        not_found(
            await caller.call(
                other, "POST", f"{case}/comments", json={"body": "x", "visibility": "internal"}
            )
        )
        not_found(
            await caller.call(
                other,
                "POST",
                f"{case}/extensions",
                json={
                    "deadline_kind": "resolve",
                    "amount": 1,
                    "unit": "working_days",
                    "reason": "x",
                },
            )
        )
        r = await caller.call(other, "GET", "/api/v1/cases", params={"limit": 100})
        assert cid not in {c["id"] for c in r.json()["items"]}
        # the department's own handler reaches it and claims it
        assert (await caller.call(own, "GET", case)).status_code == 200
        r = await caller.act(own, cid, "claim")
        assert r.status_code == 200, r.text
        r = await caller.call(own, "GET", "/api/v1/cases", params={"limit": 100})
        assert cid in {c["id"] for c in r.json()["items"]}
