"""Notification wire schemas."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from notify_service.notifications.models import Priority
from notify_service.templates.schemas import KEY_PATTERN, LOCALE_PATTERN
from shared.contracts.recipients import Channel
from shared.validation_texts import InvalidValue

PHONE_PATTERN = r"^(\+[1-9]\d{6,14}|1[3-9]\d{9})$"
OPENID_PATTERN = r"^[A-Za-z0-9_\-]{6,64}$"


class RecipientSpec(BaseModel):
    """Who the message goes to: an account (resolved through grid_service to its phone,
    openids and preferences) or explicit contact points."""

    model_config = ConfigDict(extra="forbid")

    account_id: uuid.UUID | None = None
    phone: str | None = Field(None, pattern=PHONE_PATTERN, examples=["13812345678"])
    wechat_oa_openid: str | None = Field(None, pattern=OPENID_PATTERN)
    wechat_mp_openid: str | None = Field(None, pattern=OPENID_PATTERN)
    timezone: str = Field("Asia/Shanghai", max_length=64, description="for quiet hours")

    @model_validator(mode="after")
    def _someone(self) -> Self:
        if not (self.account_id or self.phone or self.wechat_oa_openid or self.wechat_mp_openid):
            raise InvalidValue(
                "请给出 account_id、phone、wechat_oa_openid 或 wechat_mp_openid",
                "give account_id, phone, wechat_oa_openid or wechat_mp_openid",
            )
        if self.account_id and (self.phone or self.wechat_oa_openid or self.wechat_mp_openid):
            raise InvalidValue(
                "account_id 与显式联系方式只能给一种",
                "give either account_id or explicit contact points, not both",
            )
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise InvalidValue(
                f"未知时区 {self.timezone!r}", f"unknown time zone {self.timezone!r}"
            ) from exc
        return self


class NotificationCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "template_key": "case_accepted",
                "variables": {"case_number": "XH20261123-0042"},
                "recipient": {"account_id": "7a4f9a52-1f7e-4d07-9a8c-0c2c54a5f1f0"},
                "channels": ["wechat_mp", "sms"],
                "priority": "normal",
            }
        },
    )

    template_key: str = Field(pattern=KEY_PATTERN)
    locale: str = Field("zh-CN", pattern=LOCALE_PATTERN)
    variables: dict[str, str] = Field(default_factory=dict)
    recipient: RecipientSpec
    channels: list[Channel] = Field(
        default_factory=list,
        max_length=4,
        description="channel preference, first choice first (e.g. WeChat first, SMS as "
        "fallback); empty = the recipient's own preference",
    )
    priority: Priority = Field(
        Priority.normal,
        description="`critical` (emergencies, major incidents) ignores quiet hours and caps",
    )

    @model_validator(mode="after")
    def _channels(self) -> Self:
        if len(set(self.channels)) != len(self.channels):
            raise InvalidValue("channels 中有重复的渠道", "channels lists a channel twice")
        r = self.recipient
        if r.account_id is None:
            if Channel.inbox in self.channels:
                raise InvalidValue(
                    "站内信渠道需要 recipient.account_id",
                    "the inbox channel needs recipient.account_id",
                )
            if not self.channels:
                self.channels = [
                    c
                    for c, have in (
                        (Channel.wechat_mp, r.wechat_mp_openid),
                        (Channel.wechat_oa, r.wechat_oa_openid),
                        (Channel.sms, r.phone),
                    )
                    if have
                ]
        return self


class NotificationEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime
    status: str
    channel: str | None = None
    provider: str | None = None
    code: str | None = None
    detail: str | None = None


class NotificationRead(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "id": "0b7f3c1e-5b8e-4f3a-9b1a-1c2d3e4f5a6b",
                "template_key": "case_accepted",
                "priority": "normal",
                "status": "delivered",
                "channel": "sms",
                "provider": "aliyun",
                "recipient_account_id": None,
                "phone_masked": "138****5678",
                "attempts": 0,
                "next_attempt_at": "2026-11-23T10:00:00Z",
                "created_at": "2026-11-23T10:00:00Z",
                "history": [
                    {"at": "2026-11-23T10:00:00Z", "status": "queued"},
                    {"at": "2026-11-23T10:00:01Z", "status": "sent", "provider": "aliyun"},
                    {"at": "2026-11-23T10:00:05Z", "status": "delivered", "code": "DELIVERED"},
                ],
            }
        },
    )

    id: uuid.UUID
    template_key: str
    locale: str
    priority: Priority
    status: str
    channels: list[str]
    channel: str | None
    provider: str | None
    recipient_account_id: uuid.UUID | None
    phone_masked: str | None = None
    attempts: int
    next_attempt_at: datetime
    provider_message_id: str | None
    last_error_code: str | None
    broadcast_id: uuid.UUID | None
    source_event_id: uuid.UUID | None
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    history: list[NotificationEventRead] = Field(default_factory=list)
