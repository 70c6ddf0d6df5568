"""grid_service as notify_service sees it: recipients and their contact points.

notify_service authenticates with OAuth2 client credentials (RFC 6749 §4.4, scope
``recipients:read``) through ``shared.oauth.ClientCredentials``: the token is cached until
``refresh_margin`` before it expires; a 401 answer drops it and the call is tried once more.

The areas of an account (for the area scope of people who read and send messages) are cached
for ``area_ttl``: a leader looking at one person's messages again and again costs one lookup per
account and interval, and an account moved to another grid is seen in its new grid after at most
that long.
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
AREA_CACHE_SIZE = 10_000


class GridClient:
    def __init__(
        self,
        client: ServiceClient,
        *,
        client_id: str,
        client_secret: str,
        clock: Callable[[], datetime],
        refresh_margin: timedelta = timedelta(seconds=60),
        area_ttl: timedelta = timedelta(seconds=60),
    ) -> None:
        self._clock = clock
        self._area_ttl = area_ttl
        # account → (fetched at, its areas; None: grid_service does not know the account)
        self._areas: dict[uuid.UUID, tuple[datetime, tuple[str, ...] | None]] = {}
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
        now = self._clock()
        for account_id in unique:
            found = out.get(account_id)
            self._remember(account_id, now, _areas_of(found) if found else None)
        return out

    async def areas_of(self, account_ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[str, ...]]:
        """The areas each account belongs to (cached for ``area_ttl``); unknown accounts are
        absent. Only accounts not in the cache are looked up, in one call."""
        now = self._clock()
        out: dict[uuid.UUID, tuple[str, ...]] = {}
        missing: list[uuid.UUID] = []
        for account_id in dict.fromkeys(account_ids):
            cached = self._areas.get(account_id)
            if cached is None or now - cached[0] >= self._area_ttl:
                missing.append(account_id)
            elif cached[1] is not None:
                out[account_id] = cached[1]
        if missing:
            for account_id, recipient in (await self.resolve(missing)).items():
                out[account_id] = _areas_of(recipient)
        return out

    def _remember(
        self, account_id: uuid.UUID, now: datetime, areas: tuple[str, ...] | None
    ) -> None:
        self._areas.pop(account_id, None)
        self._areas[account_id] = (now, areas)
        while len(self._areas) > AREA_CACHE_SIZE:  # the oldest entry goes first
            del self._areas[next(iter(self._areas))]

    async def list_area(
        self, *, area_path: str, audience: Audience, cursor: str | None, limit: int
    ) -> RecipientList:
        params: dict[str, object] = {"area_path": area_path, "audience": audience, "limit": limit}
        if cursor:
            params["cursor"] = cursor
        response = await self._call("GET", "/api/v1/recipients", params=params)
        return RecipientList.model_validate(response.json())


def _areas_of(recipient: RecipientRead) -> tuple[str, ...]:
    paths = recipient.area_paths or ([recipient.area_path] if recipient.area_path else [])
    return tuple(paths)
