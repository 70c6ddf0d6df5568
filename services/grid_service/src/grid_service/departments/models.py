"""Functional departments (职能部门): the case categories they own and the areas they serve."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from shared.db import utcnow


class Department(SQLModel, table=True):
    __tablename__ = "department"
    __table_args__ = (
        sa.Index("ix_department_categories", "categories", postgresql_using="gin"),
        sa.Index("ix_department_area_paths", "area_paths", postgresql_using="gin"),
        sa.Index("ix_department_created_at_id", "created_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    code: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=100)
    categories: list[str] = Field(
        default_factory=list,
        sa_column=sa.Column(ARRAY(sa.String(100)), nullable=False),
        description="case category codes it owns, e.g. 0802",
    )
    area_paths: list[str] = Field(
        default_factory=list,
        sa_column=sa.Column(ARRAY(sa.String(400)), nullable=False),
        description="area paths it serves (and everything under them)",
    )
    phone: str | None = Field(default=None, max_length=20)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
