"""Answer of the event intake."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field


class EventAccepted(BaseModel):
    event_id: uuid.UUID
    type: str
    notification_ids: list[uuid.UUID] = Field(
        default_factory=list, description="messages this event created (none for a repeat)"
    )


BATCH_LIMIT = 100


class EventBatch(BaseModel):
    """Up to 100 case events in one call; each one is a ``CaseEvent`` (validated alone)."""

    events: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=BATCH_LIMIT,
        description="1–100 case events, each shaped as `CaseEvent` and idempotent by its `id` "
        "exactly as `POST /api/v1/events` with `Idempotency-Key` = that id",
    )


class EventOutcome(BaseModel):
    """What became of one event of a batch."""

    index: int = Field(description="position of the event in `events`")
    event_id: uuid.UUID | None = Field(description="the event's id (none when it had no valid id)")
    result: Literal["accepted", "replayed", "refused"] = Field(
        description="`accepted` (its messages stored), `replayed` (seen before; nothing new) "
        "or `refused` (see `problem`; nothing of it written)"
    )
    status: int = Field(description="what the single endpoint would have answered: 202 or 4xx")
    notification_ids: list[uuid.UUID] = Field(default_factory=list)
    problem: dict[str, Any] | None = Field(
        None, description="the problem (RFC 9457, zh-CN) of a refused event"
    )


class EventBatchResult(BaseModel):
    results: list[EventOutcome]
