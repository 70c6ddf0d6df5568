"""Case domain events: written to case_service's outbox, relayed to notify_service."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class CaseEvent(BaseModel):
    """One state change of a case, as relayed (``Idempotency-Key`` = ``id``)."""

    id: uuid.UUID = Field(description="outbox row id; unique per event")
    type: str = Field(examples=["case.accepted"])
    case_id: uuid.UUID
    case_version: int
    occurred_at: datetime
    area_path: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)
