"""grid_service as notify_service sees it: recipients and their contact points.

notify_service authenticates with OAuth2 client credentials (RFC 6749 §4.4):
``POST /api/v1/auth/token`` with ``grant_type=client_credentials``, ``client_id``,
``client_secret`` and ``scope=recipients:read``. The token is cached until ``refresh_margin``
before it expires; a 401 answer drops it and the call is tried once more with a fresh one.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx

from shared.contracts.auth import TokenResponse
from shared.contracts.recipients import (
    Audience,
    RecipientList,
    RecipientRead,
    RecipientResolveRequest,
)
from shared.http import ServiceClient
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
        self._client = client
        self._client_id = client_id
        self._client_secret = client_secret
        self._clock = clock
        self._margin = refresh_margin
        self._token: str | None = None
        self._expires_at: datetime | None = None
        self._lock = asyncio.Lock()
        self.token_fetches = 0

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _access_token(self, *, force: bool = False) -> str:
        async with self._lock:
            if (
                not force
                and self._token is not None
                and self._expires_at is not None
                and self._expires_at - self._margin > self._clock()
            ):
                return self._token
            self.token_fetches += 1
            response = await self._client.post(
                "/api/v1/auth/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": self._client_id,
                    "client_secret": self._client_secret,
                    "scope": SCOPE,
                },
                retry=True,  # asking for a token changes nothing
            )
            if response.status_code != 200:
                raise UpstreamError(
                    f"grid_service refused our client credentials ({response.status_code})",
                    code="grid_auth_failed",
                )
            token = TokenResponse.model_validate(response.json())
            self._token = token.access_token
            self._expires_at = self._clock() + timedelta(seconds=token.expires_in)
            return self._token

    async def _call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        for attempt in (1, 2):
            token = await self._access_token(force=attempt == 2)
            response = await self._client.request(
                method,
                url,
                headers={"Authorization": f"Bearer {token}"},
                retry=True,  # reads only
                **kwargs,
            )
            if response.status_code == 401 and attempt == 1:
                continue
            if response.status_code >= 400:
                raise UpstreamError(
                    f"grid_service answered {response.status_code} to {url}",
                    code="grid_request_failed",
                )
            return response
        raise AssertionError("unreachable")

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
