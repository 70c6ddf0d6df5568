"""A resident moving from one grid to another (迁出/迁入): asked by the staff of one side,
completed by the staff of the other, kept as history."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from shared.db import utcnow


class TransferStatus(StrEnum):
    pending = "pending"
    completed = "completed"
    refused = "refused"


class ResidentTransfer(SQLModel, table=True):
    __tablename__ = "resident_transfer"
    __table_args__ = (
        sa.Index("ix_resident_transfer_resident_id_requested_at", "resident_id", "requested_at"),
        # one open transfer per resident
        sa.Index(
            "uq_resident_transfer_pending",
            "resident_id",
            unique=True,
            postgresql_where=sa.text("status = 'pending'"),
        ),
        sa.Index(
            "ix_resident_transfer_pending_requested_at_id",
            "requested_at",
            "id",
            postgresql_where=sa.text("status = 'pending'"),
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    resident_id: uuid.UUID = Field(foreign_key="resident.id")
    from_area_path: str = Field(max_length=400, title="迁出网格")
    to_area_id: uuid.UUID = Field(foreign_key="area.id")
    to_area_path: str = Field(max_length=400, title="迁入网格")
    to_household_id: uuid.UUID | None = Field(default=None, foreign_key="household.id")
    to_address_id: uuid.UUID | None = Field(default=None, foreign_key="standard_address.id")
    reason: str = Field(max_length=500)
    started_on: str = Field(max_length=4, description="which side asked: from or to")
    status: str = Field(default=TransferStatus.pending.value, max_length=16)
    requested_by: str = Field(max_length=64)
    requested_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
    decided_by: str | None = Field(default=None, max_length=64)
    decided_at: datetime | None = Field(
        default=None, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=True)
    )
