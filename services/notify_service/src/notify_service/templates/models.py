"""Message templates: one per (key, channel, locale), with each provider's own shape."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from shared.db import jsonb_column, utcnow


def _ts() -> Any:
    return sa.Column(sa.DateTime(timezone=True), nullable=False)


class MessageTemplate(SQLModel, table=True):
    """What a message of one kind says on one channel (消息模板).

    ``body`` and every string in ``provider_params`` use ``{variable}`` placeholders; the
    variables a template needs are listed in ``variables`` and checked before anything is sent.
    """

    __tablename__ = "message_template"
    __table_args__ = (
        sa.UniqueConstraint("key", "channel", "locale"),
        sa.Index("ix_message_template_created", "created_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    key: str = Field(max_length=100)
    channel: str = Field(max_length=20)
    locale: str = Field(default="zh-CN", max_length=10)
    title: str = Field(max_length=200)
    body: str = Field(max_length=2000)
    variables: list[str] = Field(default_factory=list, sa_column=jsonb_column(nullable=False))
    provider_params: dict[str, Any] = Field(
        default_factory=dict, sa_column=jsonb_column(nullable=False)
    )
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
