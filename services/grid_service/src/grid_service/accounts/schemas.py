"""Wire schemas of accounts, logins and platform clients."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from grid_service.phones import PHONE_PATTERN
from shared.contracts.recipients import Channel

USERNAME_PATTERN = r"^[A-Za-z0-9_.-]{3,64}$"
SCOPE_PATTERN = r"^[a-z0-9_]+(:[a-z0-9_]+)?$"
#: Roles an account may hold (``platform`` belongs to platform clients only).
ACCOUNT_ROLES = (
    "resident",
    "grid_worker",
    "grid_leader",
    "dispatcher",
    "department_handler",
    "supervisor",
    "admin",
)


class AccountCreate(BaseModel):
    """A staff account (residents sign up through WeChat)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "username": "wangfang",
                    "name": "王芳",
                    "password": "a-long-passphrase",
                    "roles": ["grid_worker"],
                    "area_paths": ["330100.330106.330106001.330106001001"],
                    "department_ids": [],
                    "phone": "13812345678",
                }
            ]
        }
    )

    username: str = Field(pattern=USERNAME_PATTERN)
    name: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=8, max_length=256)
    roles: list[str] = Field(min_length=1, max_length=10, examples=[["grid_worker"]])
    area_paths: list[str] = Field(default_factory=list, max_length=100)
    department_ids: list[uuid.UUID] = Field(default_factory=list, max_length=20)
    phone: str | None = Field(None, pattern=PHONE_PATTERN)
    channels: list[Channel] = Field(default_factory=lambda: [Channel.inbox, Channel.sms])


class AccountUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"roles": ["grid_worker", "grid_leader"]}]},
    )

    name: str | None = Field(None, min_length=1, max_length=100)
    password: str | None = Field(None, min_length=8, max_length=256)
    roles: list[str] | None = Field(None, min_length=1, max_length=10)
    area_paths: list[str] | None = Field(None, max_length=100)
    department_ids: list[uuid.UUID] | None = Field(None, max_length=20)
    phone: str | None = Field(None, pattern=PHONE_PATTERN)
    channels: list[Channel] | None = None
    disabled: bool | None = None


class MeUpdate(BaseModel):
    """What a signed-in person may change of their own account."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "phone": "13812345678",
                    "home_area_id": "8d0e8a52-1f7e-4b53-9c2b-52d8c1a0f001",
                    "channels": ["wechat_mp", "sms"],
                }
            ]
        },
    )

    name: str | None = Field(None, min_length=1, max_length=100)
    phone: str | None = Field(None, pattern=PHONE_PATTERN, description="bind a phone number")
    home_area_id: uuid.UUID | None = Field(None, description="where a resident lives")
    channels: list[Channel] | None = Field(None, min_length=1)


class AccountRead(BaseModel):
    id: uuid.UUID
    kind: str = Field(examples=["staff"])
    username: str | None
    name: str
    roles: list[str]
    area_paths: list[str]
    department_ids: list[str]
    home_area_path: str | None
    phone_masked: str | None = Field(examples=["138****5678"])
    wechat_bound: bool
    channels: list[str]
    locked_until: datetime | None
    disabled: bool
    created_at: datetime


class WeChatLogin(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"code": "0a3Xyz000abcDE1"}]})

    code: str = Field(
        min_length=1, max_length=128, description="from wx.login() in the mini-program"
    )
    name: str | None = Field(None, max_length=100, description="nickname for a new account")


class PlatformClientCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "hotline-12345",
                    "name": "12345 政务服务便民热线",
                    "scopes": ["open311"],
                    "with_api_key": True,
                }
            ]
        }
    )

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{2,63}$", description="the OAuth2 client_id")
    name: str = Field(min_length=1, max_length=100)
    scopes: list[str] = Field(min_length=1, max_length=20)
    with_api_key: bool = Field(False, description="also issue an API key (Open311 `api_key`)")


class PlatformClientRead(BaseModel):
    id: str
    name: str
    scopes: list[str]
    has_api_key: bool
    disabled: bool
    created_at: datetime


class PlatformClientCreated(PlatformClientRead):
    client_secret: str = Field(description="shown once; only its hash is stored")
    api_key: str | None = Field(None, description="shown once; only its hash is stored")


class KeyRotated(BaseModel):
    kid: str = Field(description="the new signing key; the previous one stays in the JWKS")
    previous_kids: list[str]
