"""Typed clients of grid_service: point location (``shared.contracts.grids``), address matching
and standard addresses (``shared.contracts.addresses``), and members (mediation teams)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from pydantic import ValidationError

from case_service.clients.grid_index import SnapshotLocator
from shared.contracts.addresses import AddressMatchResult, AddressPlacement
from shared.contracts.grids import CoordinateSystem, LocateCompact, LocateView
from shared.http import ServiceClient
from shared.i18n import Text
from shared.oauth import ClientCredentials
from shared.problem import UpstreamError


class GridClient:
    """``http`` for the public point location; ``credentials`` (this service's platform client,
    scope ``addresses:match``) for the register of standard addresses; ``locator``, when given
    and loaded, locates points in process instead of ``http``."""

    def __init__(
        self,
        client: ServiceClient,
        credentials: ClientCredentials | None = None,
        *,
        locator: SnapshotLocator | None = None,
    ) -> None:
        self.http = client
        self.credentials = credentials
        self.locator = locator

    async def locate(
        self, *, lat: float, lng: float, crs: CoordinateSystem
    ) -> LocateCompact | None:
        """The lowest-level area containing the point and its ancestors, or ``None`` when it
        lies outside every area (grid_service's 404 ``outside_jurisdiction``). Public call, no
        token. The compact view: a case is placed by its area and ancestors only, so who
        answers for the area (people, phones) is neither computed nor read.

        With a loaded :class:`SnapshotLocator` the answer comes from this replica's copy of
        grid_service's index (the same function, so the same answer), no call made; without
        one (not loaded yet, refused, switched off) from grid_service over HTTP."""
        locator = self.locator
        if locator is not None and locator.ready:
            return locator.locate(lat=lat, lng=lng, crs=crs)
        response = await self.http.get(
            "/api/v1/grids/locate",
            params={"lat": lat, "lng": lng, "crs": crs.value, "view": LocateView.compact.value},
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
        try:
            return LocateCompact.model_validate_json(response.content)
        except ValidationError:
            raise UpstreamError(
                Text(
                    "grid_service 的定位应答无法解析", "grid_service's locate answer is unreadable"
                ),
            ) from None

    def _authorised(self) -> ClientCredentials:
        if self.credentials is None:
            raise UpstreamError(
                Text(
                    "本服务未配置 grid_service 的客户端凭据，无法匹配地址",
                    "No client credentials for grid_service: addresses cannot be matched",
                ),
                code="address_matching_unavailable",
            )
        return self.credentials

    async def match_address(self, address: str, *, area_path: str | None) -> AddressMatchResult:
        """``POST /api/v1/addresses/match``: ranked candidates and whether the address is
        placed. Reads only, so it may be retried."""
        body: dict[str, object] = {"address": address[:500], "limit": 5}
        if area_path:
            body["area_path"] = area_path
        response = await self._authorised().request(
            "POST", "/api/v1/addresses/match", json=body, retry=True
        )
        if response.status_code != 200:
            raise UpstreamError(
                Text(
                    f"grid_service 对地址匹配返回了 {response.status_code}",
                    f"grid_service answered {response.status_code} to address matching",
                ),
                code="address_matching_unavailable",
            )
        return AddressMatchResult.model_validate(response.json())

    async def address(self, address_id: uuid.UUID) -> AddressPlacement | None:
        """One standard address with its grid; ``None`` when grid_service has no such address."""
        response = await self._authorised().request("GET", f"/api/v1/addresses/{address_id}")
        if response.status_code == 404 and _json(response).get("code") == "address_not_found":
            return None
        if response.status_code != 200:
            raise UpstreamError(
                Text(
                    f"grid_service 对标准地址查询返回了 {response.status_code}",
                    f"grid_service answered {response.status_code} to the address lookup",
                )
            )
        return AddressPlacement.model_validate(response.json())

    async def aclose(self) -> None:
        await self.http.aclose()


def _json(response: httpx.Response) -> dict[str, object]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


class MemberDirectory:
    """grid_service's members (posts per area, AB岗), read with this service's own token."""

    def __init__(self, credentials: ClientCredentials) -> None:
        self.credentials = credentials

    async def get(self, member_id: uuid.UUID) -> dict[str, Any] | None:
        response = await self.credentials.request("GET", f"/api/v1/members/{member_id}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise UpstreamError(
                Text(
                    f"grid_service 对成员查询返回了 {response.status_code}",
                    f"grid_service answered {response.status_code} to a member read",
                ),
                code="members_unavailable",
            )
        return dict(response.json())

    async def in_area(self, area_id: uuid.UUID) -> list[dict[str, Any]]:
        response = await self.credentials.request(
            "GET", "/api/v1/members", params={"area_id": str(area_id), "limit": 100}
        )
        if response.status_code != 200:
            raise UpstreamError(
                Text(
                    f"grid_service 对成员列表返回了 {response.status_code}",
                    f"grid_service answered {response.status_code} to the member list",
                ),
                code="members_unavailable",
            )
        return list(response.json()["items"])
