"""Broadcast wire schemas."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from notify_service.notifications.models import Priority
from notify_service.templates.schemas import KEY_PATTERN, LOCALE_PATTERN
from shared.contracts.recipients import Audience, Channel
from shared.validation_texts import InvalidValue

AREA_PATH_PATTERN = r"^[0-9A-Za-z_\-]+(\.[0-9A-Za-z_\-]+)*$"


class BroadcastCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "area_path": "330100.330106.330106001",
                "audience": "residents",
                "template_key": "emergency_warning",
                "variables": {"content": "今晚有台风，请关好门窗，非必要不外出。"},
                "priority": "critical",
                "channels": ["sms"],
            }
        },
    )

    area_path: str = Field(max_length=200, pattern=AREA_PATH_PATTERN)
    audience: Audience
    template_key: str = Field(pattern=KEY_PATTERN)
    locale: str = Field("zh-CN", pattern=LOCALE_PATTERN)
    variables: dict[str, str] = Field(default_factory=dict)
    priority: Priority = Priority.normal
    channels: list[Channel] = Field(
        default_factory=list, max_length=4, description="empty = each recipient's preference"
    )

    @model_validator(mode="after")
    def _unique(self) -> Self:
        if len(set(self.channels)) != len(self.channels):
            raise InvalidValue("channels 中有重复的渠道", "channels lists a channel twice")
        return self


class BroadcastRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    area_path: str
    audience: Audience
    template_key: str
    locale: str
    priority: Priority
    channels: list[str]
    status: str = Field(description="fanning_out, then fanned_out")
    recipient_count: int = Field(description="notifications created so far, one per recipient")
    created_at: datetime
    delivery: dict[str, int] = Field(
        default_factory=dict, description="notifications by status", examples=[{"sent": 120}]
    )
