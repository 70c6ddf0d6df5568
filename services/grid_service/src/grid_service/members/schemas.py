"""Wire schemas of members and contact cards."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from grid_service.members.models import Post
from grid_service.phones import PHONE_PATTERN
from shared.contracts.grids import AreaRef

POST_TITLES = {
    Post.grid_leader: "网格长",
    Post.full_time_worker: "专职网格员",
    Post.part_time_worker: "兼职网格员",
    Post.grid_instructor: "网格指导员",
    Post.building_head: "楼栋长/通讯员",
    Post.mediator: "调解员",
    Post.lawyer: "律师",
    Post.notary: "公证员",
}


class MemberCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "area_id": "0b6f1b8e-3f1c-4d8a-9d55-0d3c3c1f6a01",
                    "post": "full_time_worker",
                    "name": "王芳",
                    "phone": "13812345678",
                    "duties": "巡查走访、信息采集、矛盾排查",
                    "public_consent": True,
                    "backup_for_id": None,
                }
            ]
        }
    )

    area_id: uuid.UUID
    post: Post
    name: str = Field(min_length=1, max_length=100)
    phone: str | None = Field(None, pattern=PHONE_PATTERN)
    duties: str | None = Field(None, max_length=500)
    account_id: uuid.UUID | None = None
    public_consent: bool = Field(False, description="publish name and full phone on the card")
    backup_for_id: uuid.UUID | None = Field(
        None, description="this member is the backup (B岗) of that primary (A岗)"
    )


class MemberUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"public_consent": True}]}
    )

    name: str | None = Field(None, min_length=1, max_length=100)
    phone: str | None = Field(None, pattern=PHONE_PATTERN)
    duties: str | None = Field(None, max_length=500)
    account_id: uuid.UUID | None = None
    public_consent: bool | None = None


class MemberAway(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"reason": "leave", "until": "2026-11-30T00:00:00+08:00"}]}
    )

    reason: str = Field(min_length=1, max_length=200, examples=["leave", "training"])
    since: datetime | None = Field(None, description="default now")
    until: datetime | None = Field(None, description="null: until marked back")


class MemberRead(BaseModel):
    id: uuid.UUID
    area_id: uuid.UUID
    area_path: str
    post: Post
    name: str
    phone_masked: str | None
    duties: str | None
    account_id: uuid.UUID | None
    public_consent: bool
    backup_for_id: uuid.UUID | None
    away: bool
    away_since: datetime | None
    away_until: datetime | None
    away_reason: str | None
    created_at: datetime


MEMBER_CARD_EXAMPLE: JsonDict = {
    "id": "5a4c7f2e-6b1d-4a3e-8f20-1c9d0b7e6a11",
    "area_id": "8d0e8a52-1f7e-4b53-9c2b-52d8c1a0f001",
    "post": "grid_leader",
    "post_title": "网格长",
    "name": "陈建国",
    "duties": "统筹网格工作",
    "phone": "13800000001",
    "phone_is_masked": False,
}


class MemberCard(BaseModel):
    """A member as residents see them: the contact-card fields of a member who consented to be
    published (服务联系卡), never the others."""

    model_config = ConfigDict(json_schema_extra={"examples": [MEMBER_CARD_EXAMPLE]})

    id: uuid.UUID
    area_id: uuid.UUID
    post: Post
    post_title: str = Field(examples=["网格长"])
    name: str
    duties: str | None
    phone: str | None = Field(None, description="the work phone the member agreed to publish")
    phone_is_masked: bool = Field(
        False, description="always false: only consenting members are shown"
    )


class ContactCardEntry(BaseModel):
    post: Post
    post_title: str = Field(examples=["网格长"])
    name: str
    duties: str | None
    phone: str | None = Field(
        None, description="full number when the member consented, else masked"
    )
    phone_is_masked: bool
    is_backup: bool = Field(description="answering for an away primary (AB岗)")


class ContactCard(BaseModel):
    """服务联系卡: who answers for each post of an area right now."""

    area: AreaRef
    entries: list[ContactCardEntry]
