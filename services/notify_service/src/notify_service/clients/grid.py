"""grid_service as notify_service sees it: recipients and their contact points.

notify_service authenticates with OAuth2 client credentials (RFC 6749 §4.4, scope
``recipients:read``) through ``shared.oauth.ClientCredentials``: the token is cached until
``refresh_margin`` before it expires; a 401 answer drops it and the call is tried once more.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx

from shared.contracts.recipients import (
    Audience,
    RecipientList,
    RecipientRead,
    RecipientResolveRequest,
)
from shared.http import ServiceClient
from shared.i18n import Text
from shared.oauth import ClientCredentials
from shared.problem import UpstreamError

SCOPE = "recipients:read"
RESOLVE_CHUNK = 1000


class GridClient:
    def __init__(
        self,
        client: ServiceClient,
        *,
        client_id: str,
        client_secret: str,
        clock: Callable[[], datetime],
        refresh_margin: timedelta = timedelta(seconds=60),
    ) -> None:
        self._credentials = ClientCredentials(
            client,
            client_id=client_id,
            client_secret=client_secret,
            scope=SCOPE,
            clock=clock,
            refresh_margin=refresh_margin,
        )

    async def aclose(self) -> None:
        await self._credentials.aclose()

    async def _call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        # reads only: safe to retry
        response = await self._credentials.request(method, url, retry=True, **kwargs)
        if response.status_code >= 400:
            raise UpstreamError(
                Text(
                    f"grid_service 对 {url} 返回了 {response.status_code}",
                    f"grid_service answered {response.status_code} to {url}",
                ),
                code="grid_request_failed",
            )
        return response

    async def resolve(self, account_ids: list[uuid.UUID]) -> dict[uuid.UUID, RecipientRead]:
        """Contact points of the given accounts; unknown accounts are absent."""
        out: dict[uuid.UUID, RecipientRead] = {}
        unique = list(dict.fromkeys(account_ids))
        for start in range(0, len(unique), RESOLVE_CHUNK):
            chunk = unique[start : start + RESOLVE_CHUNK]
            response = await self._call(
                "POST",
                "/api/v1/recipients/resolve",
                json=RecipientResolveRequest(account_ids=chunk).model_dump(mode="json"),
            )
            for item in RecipientList.model_validate(response.json()).items:
                out[item.account_id] = item
        return out

    async def list_area(
        self, *, area_path: str, audience: Audience, cursor: str | None, limit: int
    ) -> RecipientList:
        params: dict[str, object] = {"area_path": area_path, "audience": audience, "limit": limit}
        if cursor:
            params["cursor"] = cursor
        response = await self._call("GET", "/api/v1/recipients", params=params)
        return RecipientList.model_validate(response.json())
