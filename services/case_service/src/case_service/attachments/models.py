"""Uploaded files (photos, video, documents); the bytes live in the configured storage."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from shared.db import utcnow


class Attachment(SQLModel, table=True):
    __tablename__ = "attachment"
    __table_args__ = (sa.Index("ix_attachment_case_id", "case_id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    kind: str = Field(max_length=10, title="photo, video or document")
    content_type: str = Field(max_length=100, title="sniffed from the content")
    size_bytes: int
    sha256: str = Field(max_length=64)
    storage_key: str = Field(max_length=255)
    filename: str | None = Field(default=None, max_length=255)
    purpose: str = Field(default="evidence", max_length=10, title="evidence, before, after")
    uploaded_by: str = Field(max_length=64)
    case_id: uuid.UUID | None = Field(default=None, foreign_key="case.id")
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
