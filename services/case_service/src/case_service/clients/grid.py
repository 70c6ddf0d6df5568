"""Typed client of grid_service: point location (``shared.contracts.grids``)."""

from __future__ import annotations

from shared.contracts.grids import CoordinateSystem, LocateResult
from shared.http import ServiceClient
from shared.i18n import Text
from shared.problem import UpstreamError


class GridClient:
    def __init__(self, client: ServiceClient) -> None:
        self.http = client

    async def locate(self, *, lat: float, lng: float, crs: CoordinateSystem) -> LocateResult | None:
        """The lowest-level area containing the point, or ``None`` when it lies outside every
        area (grid_service's 404 ``outside_jurisdiction``). Public call, no token."""
        response = await self.http.get(
            "/api/v1/grids/locate", params={"lat": lat, "lng": lng, "crs": crs.value}
        )
        if response.status_code == 404:
            body = _json(response)
            if body.get("code") == "outside_jurisdiction":
                return None
            raise UpstreamError(
                Text("grid_service 不提供坐标定位", "grid_service does not offer point location")
            )
        if response.status_code != 200:
            raise UpstreamError(
                Text(
                    f"grid_service 对定位返回了 {response.status_code}",
                    f"grid_service answered {response.status_code} to locate",
                )
            )
        return LocateResult.model_validate(response.json())

    async def aclose(self) -> None:
        await self.http.aclose()


def _json(response: object) -> dict[str, object]:
    try:
        body = response.json()  # type: ignore[attr-defined]
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
