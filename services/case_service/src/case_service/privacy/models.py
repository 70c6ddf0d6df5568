"""The append-only audit of reporter reveals (查看完整联系方式留痕)."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from shared.db import utcnow


class ReporterReveal(SQLModel, table=True):
    """One reveal of a case's reporter name and phone: who, when, why. Rows are never updated
    or deleted (a trigger refuses it)."""

    __tablename__ = "reporter_reveal"
    __table_args__ = (
        sa.Index("ix_reporter_reveal_case_id_created_at_id", "case_id", "created_at", "id"),
        sa.Index("ix_reporter_reveal_actor_id_created_at", "actor_id", "created_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="case.id")
    actor_id: str = Field(max_length=64)
    actor_roles: list[str] = Field(
        default_factory=list, sa_column=sa.Column(ARRAY(sa.Text()), nullable=False)
    )
    fields: list[str] = Field(
        default_factory=list, sa_column=sa.Column(ARRAY(sa.Text()), nullable=False)
    )
    reason: str = Field(max_length=500)
    request_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
