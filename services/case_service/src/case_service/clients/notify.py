"""Typed client of notify_service: the receiver of relayed case events."""

from __future__ import annotations

from shared.contracts.events import CaseEvent
from shared.http import ServiceClient


class NotifyClient:
    def __init__(self, client: ServiceClient) -> None:
        self.http = client

    async def post_event(self, event: CaseEvent) -> int:
        """POST one event with ``Idempotency-Key`` = the outbox id; return the status code
        (retries of 429/5xx/transport errors happen inside :class:`ServiceClient`)."""
        response = await self.http.post(
            "/api/v1/events",
            json=event.model_dump(mode="json"),
            idempotency_key=str(event.id),
        )
        return response.status_code

    async def aclose(self) -> None:
        await self.http.aclose()
