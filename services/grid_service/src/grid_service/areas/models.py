"""The area tree: city → district → street → community → grid → micro-grid."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from shared.db import utcnow


class Area(SQLModel, table=True):
    """One node of the area tree (行政区划/网格), with its boundary in WGS84."""

    __tablename__ = "area"
    __table_args__ = (
        sa.Index("ix_area_parent_id_path", "parent_id", "path"),
        sa.Index("ix_area_level_path", "level", "path"),
        # prefix search ("everything under X": path LIKE 'X.%') uses this index
        sa.Index("ix_area_path_pattern", "path", postgresql_ops={"path": "varchar_pattern_ops"}),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    code: str = Field(max_length=32, unique=True, title="national code (GB/T 2260/10114 + grid)")
    name: str = Field(max_length=100)
    level: str = Field(max_length=16)
    parent_id: uuid.UUID | None = Field(default=None, foreign_key="area.id")
    path: str = Field(max_length=400, unique=True, description="codes from the root, '.'-joined")
    depth: int = Field(ge=0)
    boundary: dict[str, Any] = Field(sa_column=sa.Column(JSONB, nullable=False))
    area_m2: float
    centroid_lat: float
    centroid_lng: float
    household_count: int | None = Field(default=None, ge=0)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )


#: Rows of ``area_tree_version``: what each version number tracks.
TREE_VERSION_ID = 1  # areas (boundaries, names, the tree itself)
MEMBERS_VERSION_ID = 2  # members (posts, backups, away marks, consent)


class AreaTreeVersion(SQLModel, table=True):
    """Version rows that change with every change of what they track (row 1: the area tree,
    row 2: members). Each replica rebuilds its in-memory snapshot (spatial index, who holds
    which post) when a version differs from the one it was built at."""

    __tablename__ = "area_tree_version"

    id: int = Field(default=1, primary_key=True)
    version: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
