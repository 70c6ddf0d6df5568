"""Resident points (积分制 / 积分超市): rules, an append-only ledger, a balance row per resident
and the items of the community points shop."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from shared.db import utcnow


class EntryKind(StrEnum):
    earn = "earn"
    redeem = "redeem"
    reversal = "reversal"


class PointsRule(SQLModel, table=True):
    """How many points one unit of an activity earns, and at most how many a day."""

    __tablename__ = "points_rule"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    code: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=100)
    points: int = Field(gt=0, description="points per unit (a report, an hour, an activity)")
    daily_cap: int | None = Field(default=None, gt=0, description="per resident per local day")
    active: bool = True
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )


class PointsBalance(SQLModel, table=True):
    """The running balance, locked by every change so two redemptions cannot both spend it."""

    __tablename__ = "points_balance"
    __table_args__ = (sa.CheckConstraint("balance >= 0", name="balance_not_negative"),)

    resident_id: uuid.UUID = Field(primary_key=True, foreign_key="resident.id")
    balance: int = 0
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )


class PointsEntry(SQLModel, table=True):
    """One line of the ledger. Never updated or deleted (a trigger refuses it): a correction is
    a reversal entry pointing at the entry it reverses."""

    __tablename__ = "points_entry"
    __table_args__ = (
        sa.Index("ix_points_entry_resident_id_created_at_id", "resident_id", "created_at", "id"),
        sa.Index(
            "ix_points_entry_resident_id_rule_id_earned_on", "resident_id", "rule_id", "earned_on"
        ),
        sa.UniqueConstraint("rule_id", "resident_id", "reference"),
        sa.UniqueConstraint("reverses_id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    resident_id: uuid.UUID = Field(foreign_key="resident.id")
    kind: str = Field(max_length=16)
    points: int = Field(description="signed: positive earns, negative spends")
    rule_id: uuid.UUID | None = Field(default=None, foreign_key="points_rule.id")
    item_id: uuid.UUID | None = Field(default=None, foreign_key="shop_item.id")
    quantity: int = 1
    reference: str | None = Field(default=None, max_length=100, description="e.g. the case id")
    reverses_id: uuid.UUID | None = Field(default=None, foreign_key="points_entry.id")
    earned_on: date = Field(description="local day, for daily caps")
    note: str | None = Field(default=None, max_length=500)
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )


class ShopItem(SQLModel, table=True):
    """An item of a community points shop (积分超市)."""

    __tablename__ = "shop_item"
    __table_args__ = (
        sa.CheckConstraint("stock >= 0", name="stock_not_negative"),
        sa.Index(
            "ix_shop_item_area_path_created_at_id",
            "area_path",
            "created_at",
            "id",
            postgresql_ops={"area_path": "varchar_pattern_ops"},
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    area_id: uuid.UUID = Field(foreign_key="area.id")
    area_path: str = Field(max_length=400)
    name: str = Field(max_length=100)
    cost: int = Field(gt=0)
    stock: int = Field(ge=0)
    active: bool = True
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
