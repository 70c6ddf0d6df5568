"""The category catalogue (事项目录): two levels (大类/小类), versioned rows.

Every change to a category writes a new row with the same ``code`` and ``version + 1``; the
newest row carries ``is_current``. A case points at the row (the version) it was filed under,
so later edits never change what an old case means.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from shared.db import utcnow


class Category(SQLModel, table=True):
    __tablename__ = "category"
    __table_args__ = (
        sa.UniqueConstraint("code", "version"),
        sa.Index(
            "uq_category_code_current",
            "code",
            unique=True,
            postgresql_where=sa.text("is_current"),
        ),
        sa.Index("ix_category_parent_code_current", "parent_code", "code"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    code: str = Field(max_length=32, title="stable code (事项编码)")
    version: int = Field(default=1, ge=1)
    is_current: bool = Field(default=True)
    parent_code: str | None = Field(default=None, max_length=32, title="大类 code; null for a 大类")
    name: str = Field(max_length=100)
    description: str | None = Field(default=None, max_length=1000)
    kind: str = Field(max_length=20, title="consultation/help/complaint/report/suggestion")
    routing: str = Field(max_length=20, title="locality (属地) or owner (属主)")
    owner_department_id: str | None = Field(default=None, max_length=64)
    default_priority: str = Field(max_length=20)
    handling_class: str = Field(max_length=20)
    duplicate_radius_m: int = Field(default=50)
    duplicate_window_hours: int = Field(default=72)
    attributes: Any = Field(default_factory=list, sa_column=sa.Column(JSONB, nullable=False))
    public_disclosure: str = Field(
        default="none", max_length=10, title="公开范围: public, summary or none (Open311 feed)"
    )
    active: bool = Field(default=True)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
    created_by: str | None = Field(default=None, max_length=64)
