"""Inbox wire schemas."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class InboxItemRead(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "id": "4b0f3c1e-5b8e-4f3a-9b1a-1c2d3e4f5a6b",
                "notification_id": "0b7f3c1e-5b8e-4f3a-9b1a-1c2d3e4f5a6b",
                "template_key": "case_accepted",
                "title": "案件已受理",
                "body": "您反映的问题（编号XH20261123-0042）已受理。",
                "created_at": "2026-11-23T10:00:00Z",
                "read_at": None,
            }
        },
    )

    id: uuid.UUID
    notification_id: uuid.UUID
    template_key: str
    title: str
    body: str
    created_at: datetime
    read_at: datetime | None


class InboxSummary(BaseModel):
    unread: int = Field(description="messages not yet marked read", examples=[3])
