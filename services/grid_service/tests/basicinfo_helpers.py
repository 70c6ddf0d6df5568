"""Builders shared by the tests of basic information, patrols, visits and points."""

from __future__ import annotations

from typing import Any

import httpx
from gridtest_helpers import make_chain

from grid_service.basicinfo.idnumbers import check_character
from shared.testing import TestKeys

GRID1 = "330100.330106.330106001.330106001001.330106001001001"
GRID2 = "330100.330106.330106001.330106001001.330106001001002"
COMMUNITY = "330100.330106.330106001.330106001001"


def id_number(first17: str) -> str:
    """A valid ID number from its first 17 digits (GB 11643 check character appended)."""
    return first17 + check_character(first17)


def headers(keys: TestKeys, *, sub: str, roles: list[str], areas: list[str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {keys.mint(sub=sub, roles=roles, areas=areas)}"}


async def staff_account(
    client: httpx.AsyncClient, admin_headers: dict[str, str], username: str, role: str
) -> str:
    response = await client.post(
        "/api/v1/accounts",
        headers=admin_headers,
        json={
            "username": username,
            "name": username,
            "password": "a-long-passphrase",
            "roles": [role],
            "area_paths": [GRID1],
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def setup_grid(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> dict[str, Any]:
    """The area chain, and in grid 1 two standard addresses and a household."""
    tree = await make_chain(client, admin_headers)
    grid = tree["grid1"]["id"]
    addresses = []
    for room in ("301", "302"):
        response = await client.post(
            "/api/v1/addresses",
            headers=admin_headers,
            json={
                "area_id": grid,
                "street_address": "文三路90号",
                "building_no": "3",
                "unit_no": "2",
                "room_no": room,
            },
        )
        assert response.status_code == 201, response.text
        addresses.append(response.json())
    household = await client.post(
        "/api/v1/households",
        headers=admin_headers,
        json={"area_id": grid, "household_no": "H-301", "address_id": addresses[0]["id"]},
    )
    assert household.status_code == 201, household.text
    return {"tree": tree, "grid": grid, "addresses": addresses, "household": household.json()}


async def make_resident(
    client: httpx.AsyncClient, hdrs: dict[str, str], grid: str, **extra: Any
) -> dict[str, Any]:
    body = {
        "area_id": grid,
        "name": "张伟",
        "id_number": "11010519491231002X",
        "phone": "13812345678",
        **extra,
    }
    response = await client.post("/api/v1/residents", headers=hdrs, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())
