"""OAuth2 client credentials (RFC 6749 §4.4) for one service calling another.

:class:`ClientCredentials` asks grid_service's token endpoint for a token with the service's
own client id and secret, caches it until ``refresh_margin`` before it expires, and
:meth:`ClientCredentials.request` retries a call once with a fresh token after a 401 (the
signing key may have rotated, or the token been revoked).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx

from shared.contracts.auth import TokenResponse
from shared.db import utcnow
from shared.http import ServiceClient
from shared.i18n import Text
from shared.problem import UpstreamError

TOKEN_PATH = "/api/v1/auth/token"  # noqa: S105 - a path, not a secret


class ClientCredentials:
    def __init__(
        self,
        client: ServiceClient,
        *,
        client_id: str,
        client_secret: str,
        scope: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        refresh_margin: timedelta = timedelta(seconds=60),
    ) -> None:
        self.client = client
        self._client_id = client_id
        self._client_secret = client_secret
        self._scope = scope
        self._clock = clock
        self._margin = refresh_margin
        self._token: str | None = None
        self._expires_at: datetime | None = None
        self._lock = asyncio.Lock()
        self.token_fetches = 0
        #: the credentials whose token this one uses (:meth:`sharing_token`), or None
        self._source: ClientCredentials | None = None

    def sharing_token(self, client: ServiceClient) -> ClientCredentials:
        """The same platform client's credentials over another :class:`ServiceClient` (its own
        timeout, say) that use this one's token: one token asked for, not one per client —
        each grant costs grid_service a password-hash check (argon2id, 64 MiB while it runs)."""
        twin = ClientCredentials(
            client,
            client_id=self._client_id,
            client_secret=self._client_secret,
            scope=self._scope,
            clock=self._clock,
            refresh_margin=self._margin,
        )
        twin._source = self
        return twin

    async def token(self, *, force: bool = False) -> str:
        if self._source is not None:
            return await self._source.token(force=force)
        async with self._lock:
            if (
                not force
                and self._token is not None
                and self._expires_at is not None
                and self._expires_at - self._margin > self._clock()
            ):
                return self._token
            form = {
                "grant_type": "client_credentials",
                "client_id": self._client_id,
                "client_secret": self._client_secret,
            }
            if self._scope:
                form["scope"] = self._scope
            self.token_fetches += 1
            # Asking for a token changes nothing, so it may be retried.
            response = await self.client.post(TOKEN_PATH, data=form, retry=True)
            if response.status_code != 200:
                raise UpstreamError(
                    Text(
                        f"grid_service 拒绝了本服务的客户端凭据（{response.status_code}）",
                        f"grid_service refused our client credentials ({response.status_code})",
                    ),
                    code="service_auth_failed",
                )
            granted = TokenResponse.model_validate(response.json())
            self._token = granted.access_token
            self._expires_at = self._clock() + timedelta(seconds=granted.expires_in)
            return self._token

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """An authorised call; a 401 answer is retried once with a fresh token."""
        extra_headers = dict(kwargs.pop("headers", None) or {})
        for attempt in (1, 2):
            bearer = await self.token(force=attempt == 2)
            response = await self.client.request(
                method,
                url,
                headers={**extra_headers, "Authorization": f"Bearer {bearer}"},
                **kwargs,
            )
            if response.status_code != 401:
                break
        return response

    async def aclose(self) -> None:
        await self.client.aclose()
