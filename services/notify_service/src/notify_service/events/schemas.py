"""Answer of the event intake."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field


class EventAccepted(BaseModel):
    event_id: uuid.UUID
    type: str
    notification_ids: list[uuid.UUID] = Field(
        default_factory=list, description="messages this event created (none for a repeat)"
    )
