"""Small builders shared by grid_service's tests."""

from __future__ import annotations

from typing import Any

import httpx


def rect(west: float, south: float, east: float, north: float) -> dict[str, Any]:
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


CITY_BOX = (120.0, 30.0, 120.4, 30.4)


async def make_area(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    *,
    code: str,
    level: str,
    box: tuple[float, float, float, float],
    parent_id: str | None = None,
    name: str | None = None,
    household_count: int | None = None,
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/areas",
        headers=headers,
        json={
            "code": code,
            "name": name or f"area {code}",
            "level": level,
            "parent_id": parent_id,
            "boundary": rect(*box),
            "household_count": household_count,
        },
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def make_chain(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> dict[str, dict[str, Any]]:
    """City 330100 → district 330106 → street 330106001 → community 330106001001 → two grids
    (…001 west half, …002 east half) over lng 120.10-120.20, lat 30.20-30.30."""
    city = await make_area(client, headers, code="330100", level="city", box=CITY_BOX)
    district = await make_area(
        client,
        headers,
        code="330106",
        level="district",
        box=(120.05, 30.1, 120.3, 30.35),
        parent_id=city["id"],
    )
    street = await make_area(
        client,
        headers,
        code="330106001",
        level="street",
        box=(120.1, 30.2, 120.2, 30.3),
        parent_id=district["id"],
    )
    community = await make_area(
        client,
        headers,
        code="330106001001",
        level="community",
        box=(120.1, 30.2, 120.2, 30.3),
        parent_id=street["id"],
    )
    grid1 = await make_area(
        client,
        headers,
        code="330106001001001",
        level="grid",
        box=(120.1, 30.2, 120.15, 30.3),
        parent_id=community["id"],
        household_count=700,
    )
    grid2 = await make_area(
        client,
        headers,
        code="330106001001002",
        level="grid",
        box=(120.15, 30.2, 120.2, 30.3),
        parent_id=community["id"],
        household_count=800,
    )
    return {
        "city": city,
        "district": district,
        "street": street,
        "community": community,
        "grid1": grid1,
        "grid2": grid2,
    }
