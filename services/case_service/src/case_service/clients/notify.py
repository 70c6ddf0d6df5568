"""Typed client of notify_service: the receiver of relayed case events.

notify_service wants a bearer token of a platform client with scope ``events:write``. With
``CASE_NOTIFY_CLIENT_ID``/``CASE_NOTIFY_CLIENT_SECRET`` the token comes from grid_service by
OAuth2 client credentials (``shared.oauth.ClientCredentials``: cached, renewed before expiry and
once after a 401); ``CASE_NOTIFY_TOKEN`` is a fixed token for development.
"""

from __future__ import annotations

from typing import Any

from shared.contracts.events import CaseEvent
from shared.http import ServiceClient
from shared.oauth import ClientCredentials


class NotifyClient:
    def __init__(
        self,
        client: ServiceClient,
        *,
        credentials: ClientCredentials | None = None,
        static_token: str | None = None,
    ) -> None:
        self.http = client
        self.credentials = credentials
        self.static_token = static_token

    async def _authorization(self, *, fresh: bool) -> dict[str, str]:
        if self.credentials is not None:
            return {"Authorization": f"Bearer {await self.credentials.token(force=fresh)}"}
        if self.static_token:
            return {"Authorization": f"Bearer {self.static_token}"}
        return {}

    async def post_event(self, event: CaseEvent) -> int:
        """POST one event with ``Idempotency-Key`` = the outbox id; return the status code
        (retries of 429/5xx/transport errors happen inside :class:`ServiceClient`)."""
        status = 0
        for attempt in (1, 2):
            response = await self.http.post(
                "/api/v1/events",
                json=event.model_dump(mode="json"),
                idempotency_key=str(event.id),
                headers=await self._authorization(fresh=attempt == 2),
            )
            status = response.status_code
            if status != 401 or self.credentials is None:
                break
        return status

    async def post_events(self, events: list[CaseEvent]) -> tuple[int, list[dict[str, Any]]]:
        """POST up to 100 events to ``/api/v1/events/batch`` (each idempotent by its id);
        return the status code and, on 200, one result per event, in order. Safe to retry
        (429/5xx/transport errors): the receiver keys each event by its own id."""
        status, results = 0, []
        body = {"events": [e.model_dump(mode="json") for e in events]}
        for attempt in (1, 2):
            response = await self.http.post(
                "/api/v1/events/batch",
                json=body,
                retry=True,
                headers=await self._authorization(fresh=attempt == 2),
            )
            status = response.status_code
            if status != 401 or self.credentials is None:
                break
        if status == 200:
            results = list(response.json().get("results", []))
        return status, results

    async def aclose(self) -> None:
        await self.http.aclose()
        if self.credentials is not None:
            await self.credentials.aclose()
