"""The transactional outbox: one row per case event, written with the change it reports."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from shared.db import utcnow


class OutboxEvent(SQLModel, table=True):
    __tablename__ = "outbox_event"
    __table_args__ = (
        sa.Index(
            "ix_outbox_event_pending",
            "next_attempt_at",
            "created_at",
            postgresql_where=sa.text("relayed_at IS NULL"),
        ),
        sa.Index("ix_outbox_event_case_id_created_at", "case_id", "created_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="case.id")
    type: str = Field(max_length=40)
    case_version: int
    area_path: str | None = Field(default=None, max_length=255)
    payload: Any = Field(default_factory=dict, sa_column=sa.Column(JSONB, nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
    relayed_at: datetime | None = Field(
        default=None, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=True)
    )
    attempts: int = 0
    next_attempt_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
    last_error: str | None = Field(default=None, max_length=500)
