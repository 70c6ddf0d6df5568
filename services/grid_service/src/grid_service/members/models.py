"""Staff posts per area (网格长, 网格员, 网格指导员, 楼栋长/通讯员, 调解员) with AB岗 backups."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from shared.db import utcnow


class Post(StrEnum):
    grid_leader = "grid_leader"  # 网格长
    full_time_worker = "full_time_worker"  # 专职网格员
    part_time_worker = "part_time_worker"  # 兼职网格员
    grid_instructor = "grid_instructor"  # 网格指导员
    building_head = "building_head"  # 楼栋长/通讯员 (informant)
    mediator = "mediator"  # 调解员
    lawyer = "lawyer"  # 律师 (组团式服务: the grid's mediation team)
    notary = "notary"  # 公证员


POST_ORDER = {post: i for i, post in enumerate(Post)}


class Member(SQLModel, table=True):
    """A person holding a post in an area: a primary holder (A岗), or the backup (B岗) of one
    (``backup_for_id``). While the primary is away, the backup answers for the post."""

    __tablename__ = "member"
    __table_args__ = (
        sa.Index("ix_member_area_id_created_at_id", "area_id", "created_at", "id"),
        sa.Index("ix_member_created_at_id", "created_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    area_id: uuid.UUID = Field(foreign_key="area.id")
    area_path: str = Field(max_length=400)
    post: str = Field(max_length=32)
    name: str = Field(max_length=100)
    phone: str | None = Field(default=None, max_length=20)
    duties: str | None = Field(default=None, max_length=500)
    account_id: uuid.UUID | None = Field(default=None, foreign_key="account.id", index=True)
    public_consent: bool = Field(
        default=False, description="agreed to publish name and full phone on the contact card"
    )
    backup_for_id: uuid.UUID | None = Field(default=None, foreign_key="member.id", index=True)
    away_since: datetime | None = Field(
        default=None, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=True)
    )
    away_until: datetime | None = Field(
        default=None, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=True)
    )
    away_reason: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )

    def is_away(self, now: datetime) -> bool:
        if self.away_since is None or self.away_since > now:
            return False
        return self.away_until is None or now < self.away_until
