"""The personal-data audit trail (append-only) and grants of special-group tags."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel

from shared.db import utcnow


class AuditAction(StrEnum):
    reveal = "reveal"  # an unmasked ID or phone number was read
    export = "export"  # personal data left the system in a file
    grant = "grant"  # access to a special-group tag was granted
    revoke = "revoke"  # … or withdrawn


class PiiAuditRecord(SQLModel, table=True):
    """Who read or exported which personal data, when and why (PIPL). A database trigger
    refuses UPDATE and DELETE: rows are only ever added."""

    __tablename__ = "pii_audit_record"
    __table_args__ = (
        sa.Index("ix_pii_audit_record_occurred_at_id", "occurred_at", "id"),
        sa.Index("ix_pii_audit_record_actor_id_occurred_at_id", "actor_id", "occurred_at", "id"),
        sa.Index("ix_pii_audit_record_subject_ids", "subject_ids", postgresql_using="gin"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    occurred_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
    actor_id: str = Field(max_length=64)
    actor_name: str | None = Field(default=None, max_length=100)
    actor_roles: list[str] = Field(
        default_factory=list, sa_column=sa.Column(ARRAY(sa.String(32)), nullable=False)
    )
    action: str = Field(max_length=16)
    subject_kind: str = Field(max_length=32, description="resident, key_place, account …")
    subject_ids: list[str] = Field(
        default_factory=list, sa_column=sa.Column(ARRAY(sa.String(64)), nullable=False)
    )
    fields: list[str] = Field(
        default_factory=list, sa_column=sa.Column(ARRAY(sa.String(64)), nullable=False)
    )
    row_count: int = 0
    reason: str = Field(max_length=500)
    request_id: str | None = Field(default=None, max_length=64)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(JSONB, nullable=False))


class SpecialGroupGrant(SQLModel, table=True):
    """An account may see and change one special-group tag (特殊人群) — only with a grant."""

    __tablename__ = "special_group_grant"

    account_id: str = Field(primary_key=True, max_length=64)
    tag: str = Field(primary_key=True, max_length=32)
    granted_by: str = Field(max_length=64)
    granted_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
