"""A resident's account linked to the resident's record (实有人口), so that the resident sees
their own record, points and shop."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from shared.db import utcnow


class LinkStatus(StrEnum):
    pending = "pending"  # asked by the resident, waiting for the grid worker
    confirmed = "confirmed"
    rejected = "rejected"


class ResidentLink(SQLModel, table=True):
    """One account ↔ one resident record. Matched at sign-up by the account's verified phone or
    the ID number the resident gives, confirmed by a grid worker of the resident's grid."""

    __tablename__ = "resident_link"
    __table_args__ = (
        # one live link per account and per resident record
        sa.Index(
            "uq_resident_link_account_live",
            "account_id",
            unique=True,
            postgresql_where=sa.text("status <> 'rejected'"),
        ),
        sa.Index(
            "uq_resident_link_resident_live",
            "resident_id",
            unique=True,
            postgresql_where=sa.text("status <> 'rejected'"),
        ),
        sa.Index(
            "ix_resident_link_pending_area_path_id",
            "area_path",
            "requested_at",
            "id",
            postgresql_where=sa.text("status = 'pending'"),
            postgresql_ops={"area_path": "varchar_pattern_ops"},
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    account_id: uuid.UUID = Field(foreign_key="account.id")
    resident_id: uuid.UUID = Field(foreign_key="resident.id")
    area_path: str = Field(max_length=400, description="the resident's grid")
    matched_by: str = Field(max_length=16, description="phone or id_number")
    status: str = Field(default=LinkStatus.pending.value, max_length=16)
    requested_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
    decided_by: str | None = Field(default=None, max_length=64)
    decided_at: datetime | None = Field(
        default=None, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=True)
    )
