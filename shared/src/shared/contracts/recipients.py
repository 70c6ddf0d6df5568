"""Who a message goes to: served by grid_service, read by notify_service.

grid_service endpoints (service-to-service; the caller's token needs scope
``recipients:read``, e.g. notify_service's platform client):

* ``POST /api/v1/recipients/resolve`` with :class:`RecipientResolveRequest` →
  :class:`RecipientList` (one entry per known account id; unknown ids are left out).
* ``GET /api/v1/recipients?area_path=…&audience=residents|staff&cursor=…&limit=…`` →
  :class:`RecipientList` with ``next_cursor`` (keyset pages, for broadcasts to a subtree).
"""

from __future__ import annotations

import uuid
from enum import StrEnum

from pydantic import BaseModel, Field


class Channel(StrEnum):
    sms = "sms"
    wechat_oa = "wechat_oa"  # official-account template message (公众号模板消息)
    wechat_mp = "wechat_mp"  # mini-program subscribe message (小程序订阅消息)
    inbox = "inbox"  # in-app inbox


class Audience(StrEnum):
    residents = "residents"
    staff = "staff"


class RecipientRead(BaseModel):
    account_id: uuid.UUID
    name: str | None = None
    phone: str | None = Field(None, description="full number (E.164 or 11-digit mainland)")
    wechat_oa_openid: str | None = None
    wechat_mp_openid: str | None = None
    channels: list[Channel] = Field(
        default_factory=lambda: [Channel.wechat_mp, Channel.sms],
        description="the recipient's preferred channels, first choice first",
    )
    timezone: str = "Asia/Shanghai"
    area_path: str | None = Field(
        None, description="the account's primary area: a resident's home, a staff member's first"
    )
    area_paths: list[str] = Field(
        default_factory=list,
        description="every area the account belongs to (home area and staff areas); "
        "notify_service lets a person address or read only accounts with one of them inside "
        "the person's own areas",
    )


class RecipientResolveRequest(BaseModel):
    account_ids: list[uuid.UUID] = Field(max_length=1000)


class RecipientList(BaseModel):
    items: list[RecipientRead]
    next_cursor: str | None = None
