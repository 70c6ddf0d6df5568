"""Authorization before validation (issue 21, finding 6): a role that may not call an
operation gets 403 whatever body it sends — the role check is a route dependency that runs
before the body is validated, so an empty or invalid body does not answer 422 first. And what
a time-limit policy names must exist (422 naming the field, nothing stored)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import (
    ADMIN,
    DISPATCHER_C1,
    PLATFORM,
    RESIDENT,
    STREET1,
    SUPERVISOR_S1,
    URBAN,
    WORKER_A,
    Api,
    Person,
)

NOTHING = str(uuid.uuid4())
STREET_ADMIN = Person("admin-s1", ("admin",), (STREET1,))
CASE = f"/api/v1/cases/{NOTHING}"

# (who, method, path, code): a caller the operation is never for, an empty or invalid body
REFUSED = [
    (DISPATCHER_C1, "POST", "/api/v1/sla/policies", "missing_role"),
    (RESIDENT, "GET", "/api/v1/sla/policies", "missing_role"),
    (DISPATCHER_C1, "PUT", "/api/v1/calendar/overrides/2026-10-01", "missing_role"),
    (DISPATCHER_C1, "DELETE", "/api/v1/calendar/overrides/2026-10-01", "missing_role"),
    # nationwide days are for an admin without an area restriction
    (STREET_ADMIN, "PUT", "/api/v1/calendar/overrides/2026-10-01", "out_of_scope"),
    (RESIDENT, "POST", f"{CASE}/extensions/{NOTHING}/decision", "missing_role"),
    (DISPATCHER_C1, "POST", f"{CASE}/supervisions", "missing_role"),
    (ADMIN, "POST", f"{CASE}/evaluations", "not_the_reporter"),
    (DISPATCHER_C1, "POST", f"{CASE}/reopen-requests", "not_the_reporter"),
    (RESIDENT, "POST", f"/api/v1/reopen-requests/{NOTHING}/decision", "action_not_permitted"),
    (RESIDENT, "POST", f"/api/v1/return-visits/{NOTHING}/outcome", "staff_only"),
    (URBAN, "POST", f"/api/v1/return-visits/{NOTHING}/outcome", "staff_only"),
    (ADMIN, "POST", "/api/v1/webhooks", "missing_role"),
    (RESIDENT, "POST", "/api/v1/work-orders", "missing_role"),
    (PLATFORM, "PUT", "/api/v1/work-orders/category-mappings/hotline-12345/A01", "missing_role"),
    (RESIDENT, "POST", f"{CASE}/actions/dispatch", "action_not_permitted"),
    (WORKER_A, "POST", f"{CASE}/actions/accept", "action_not_permitted"),
    (SUPERVISOR_S1, "POST", f"{CASE}/actions/verify", "action_not_permitted"),
    (URBAN, "POST", f"{CASE}/actions/suspend", "action_not_permitted"),
    (PLATFORM, "POST", f"{CASE}/actions/resolve", "action_not_permitted"),
    (DISPATCHER_C1, "POST", f"{CASE}/actions/rate", "action_not_permitted"),
    (RESIDENT, "POST", f"{CASE}/actions/reopen", "reopen_by_request"),
]


@pytest.mark.parametrize(("who", "method", "path", "code"), REFUSED)
@pytest.mark.parametrize("body", [{}, {"unknown": 1}, [1, 2]], ids=["empty", "unknown", "list"])
async def test_a_forbidden_role_gets_403_before_the_body_is_validated(
    api: Api, who: Person, method: str, path: str, code: str, body: Any
) -> None:
    kwargs: dict[str, Any] = {} if method in ("GET", "DELETE") else {"json": body}
    r = await api.client.request(method, path, headers=api.headers(who), **kwargs)
    assert r.status_code == 403, r.text
    assert r.json()["code"] == code
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_an_allowed_role_still_gets_422_for_the_body(api: Api) -> None:
    r = await api.client.post("/api/v1/sla/policies", json={}, headers=api.headers(ADMIN))
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert {"name", "limits"} <= fields
    r = await api.act(DISPATCHER_C1, NOTHING, "dispatch", expect=404)
    assert r.json()["code"] == "case_not_found"


POLICY = {
    "name": "街道级井盖",
    "handling_level": "street",
    "limits": {
        "accept": {"amount": 2, "unit": "working_hours"},
        "resolve": {"amount": 2, "unit": "working_days"},
    },
}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"category_code": "9999"}, "category_code"),
        ({"kind": "lawsuit"}, "kind"),
        ({"priority": "critical"}, "priority"),
    ],
)
async def test_a_policy_for_what_does_not_exist_is_422_naming_the_field(
    api: Api, app: Any, fields: dict[str, str], field: str
) -> None:
    r = await api.client.post(
        "/api/v1/sla/policies", json={**POLICY, **fields}, headers=api.headers(ADMIN)
    )
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["code"] == "unknown_reference"
    assert [e["field"] for e in problem["errors"]] == [field]
    async with app.state.sessionmaker() as session:
        count = (await session.execute(sa.text("SELECT count(*) FROM sla_policy"))).scalar_one()
    assert count == 0  # nothing stored
    en = await api.client.post(
        "/api/v1/sla/policies",
        json={**POLICY, **fields},
        headers=api.headers(ADMIN, **{"Accept-Language": "en"}),
    )
    assert en.json()["errors"][0]["reason"].startswith(("no category", "must be one of"))


async def test_a_policy_for_a_known_category_kind_and_priority_is_created(api: Api) -> None:
    body = {**POLICY, "category_code": "0802", "kind": "complaint", "priority": "high"}
    r = await api.client.post("/api/v1/sla/policies", json=body, headers=api.headers(ADMIN))
    assert r.status_code == 201, r.text
    assert r.json()["category_code"] == "0802"
