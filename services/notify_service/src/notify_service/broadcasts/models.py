"""Broadcasts: one message to everyone in an area subtree (应急广播), fanned out by workers."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from shared.db import jsonb_column, utcnow


class BroadcastStatus(StrEnum):
    fanning_out = "fanning_out"  # recipients are being listed page by page
    fanned_out = "fanned_out"  # one notification per recipient exists


def _ts(nullable: bool = False) -> Any:
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable)


class Broadcast(SQLModel, table=True):
    __tablename__ = "broadcast"
    __table_args__ = (
        sa.Index(
            "ix_broadcast_fanning_out",
            "next_attempt_at",
            postgresql_where=sa.text("status = 'fanning_out'"),
        ),
        sa.Index("ix_broadcast_created", "created_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    area_path: str = Field(max_length=200)
    audience: str = Field(max_length=20)
    template_key: str = Field(max_length=100)
    locale: str = Field(default="zh-CN", max_length=10)
    variables: dict[str, str] = Field(default_factory=dict, sa_column=jsonb_column(nullable=False))
    priority: str = Field(max_length=10)
    channels: list[str] = Field(default_factory=list, sa_column=jsonb_column(nullable=False))
    status: str = Field(default=BroadcastStatus.fanning_out, max_length=20)
    cursor: str | None = Field(default=None, max_length=500)
    recipient_count: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    attempts: int = 0
    last_error_code: str | None = Field(default=None, max_length=100)
    created_by: str | None = Field(default=None, max_length=100)
