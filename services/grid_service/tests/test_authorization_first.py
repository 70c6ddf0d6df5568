"""Authorization before validation (issue 21, finding 6): a caller that may not call an
operation — a street's admin for a whole tree's settings, a staff account for a platform
client's scope — gets 403 whatever body or query it sends, never 422 first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

STREET = "330100.330106.330106001"
NOTHING = "00000000-0000-4000-8000-00000000dead"

# (who, method, path, code)
REFUSED = [
    ("street_admin", "POST", "/api/v1/auth/keys/rotate", "outside_scope"),
    ("street_admin", "POST", "/api/v1/platform-clients", "outside_scope"),
    ("street_admin", "GET", "/api/v1/platform-clients", "outside_scope"),
    ("street_admin", "POST", "/api/v1/privacy/re-encryption", "outside_scope"),
    ("street_admin", "POST", "/api/v1/points/rules", "outside_scope"),
    ("street_admin", "PATCH", "/api/v1/points/rules/volunteer_hour", "outside_scope"),
    ("dispatcher", "POST", "/api/v1/points/rules", "missing_role"),
    ("dispatcher", "POST", "/api/v1/platform-clients/verify-api-key", "missing_scope"),
    ("open311", "POST", "/api/v1/platform-clients/verify-api-key", "missing_scope"),
    ("dispatcher", "POST", "/api/v1/recipients/resolve", "missing_scope"),
    ("dispatcher", "GET", "/api/v1/recipients", "missing_scope"),
    ("resident", "GET", "/api/v1/recipients/responsible", "missing_scope"),
]


@pytest.fixture
def callers(
    admin: Callable[..., dict[str, str]], bearer: Callable[..., dict[str, str]]
) -> dict[str, dict[str, str]]:
    return {
        "street_admin": admin(STREET),
        "dispatcher": bearer(sub=NOTHING, roles=["dispatcher"], areas=[STREET]),
        "resident": bearer(sub=NOTHING, roles=["resident"]),
        "open311": bearer(
            sub="open311-demo", roles=["platform"], cid="open311-demo", scope="open311"
        ),
    }


@pytest.mark.parametrize(("who", "method", "path", "code"), REFUSED)
@pytest.mark.parametrize("body", [{}, {"unknown": 1}, [1]], ids=["empty", "unknown", "list"])
async def test_a_forbidden_caller_gets_403_before_the_body_is_validated(
    client: httpx.AsyncClient,
    callers: dict[str, dict[str, str]],
    who: str,
    method: str,
    path: str,
    code: str,
    body: Any,
) -> None:
    kwargs: dict[str, Any] = {} if method == "GET" else {"json": body}
    # required query parameters (area_path, roles) left out as well
    r = await client.request(method, path, headers=callers[who], **kwargs)
    assert r.status_code == 403, r.text
    assert r.json()["code"] == code


async def test_a_whole_trees_admin_still_gets_422_for_the_body(
    client: httpx.AsyncClient, admin: Callable[..., dict[str, str]]
) -> None:
    r = await client.post("/api/v1/points/rules", json={}, headers=admin())
    assert r.status_code == 422
    r = await client.post("/api/v1/recipients/resolve", json={}, headers=admin())
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "account_ids"
