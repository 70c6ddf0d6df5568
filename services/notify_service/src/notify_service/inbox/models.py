"""The in-app inbox (站内信) of app and mini-program users."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from shared.db import utcnow


def _ts(nullable: bool = False) -> Any:
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable)


class InboxItem(SQLModel, table=True):
    __tablename__ = "inbox_item"
    __table_args__ = (
        sa.Index("ix_inbox_item_account", "account_id", "created_at", "id"),
        sa.Index("ix_inbox_item_unread", "account_id", postgresql_where=sa.text("read_at IS NULL")),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    account_id: uuid.UUID
    notification_id: uuid.UUID = Field(foreign_key="notification.id", unique=True)
    template_key: str = Field(max_length=100)
    title: str = Field(max_length=200)
    body: str = Field(max_length=2000)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    read_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
