"""12345-style work orders pushed in by other platforms, and their category code lists."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from shared.db import utcnow


def _ts(*, nullable: bool = False) -> Any:
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable)


class CategoryMapping(SQLModel, table=True):
    """A platform's own category code → our category code."""

    __tablename__ = "category_mapping"
    __table_args__ = (sa.UniqueConstraint("client_id", "external_code"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    client_id: str = Field(max_length=64)
    external_code: str = Field(max_length=64)
    category_code: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class WorkOrder(SQLModel, table=True):
    """A pushed work order (工单) and the case it became. Its state towards the platform —
    received, acknowledged (签收), returned (退回), replied (回单) — follows the case."""

    __tablename__ = "work_order"
    __table_args__ = (sa.UniqueConstraint("client_id", "order_id"),)

    case_id: uuid.UUID = Field(foreign_key="case.id", primary_key=True)
    client_id: str = Field(max_length=64)
    order_id: str = Field(max_length=128, title="the platform's own id")
    external_category_code: str = Field(max_length=64)
    imposed_due_at: datetime | None = Field(
        default=None, sa_column=_ts(nullable=True), title="the deadline the platform imposes"
    )
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
