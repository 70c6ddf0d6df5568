"""What an Open311 client sent that a case does not keep elsewhere."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from shared.db import utcnow


class Open311Request(SQLModel, table=True):
    __tablename__ = "open311_request"

    case_id: uuid.UUID = Field(foreign_key="case.id", primary_key=True)
    client_id: str = Field(max_length=64)
    media_url: str | None = Field(default=None, max_length=1000)
    device_id: str | None = Field(default=None, max_length=100)
    account_id: str | None = Field(default=None, max_length=100)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
