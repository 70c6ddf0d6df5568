"""Wire schemas of points."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from grid_service.points.models import EntryKind


class RuleCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "code": "volunteer_hour",
                    "name": "志愿服务(每小时)",
                    "points": 10,
                    "daily_cap": 40,
                }
            ]
        },
    )

    code: str = Field(min_length=2, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
    name: str = Field(min_length=1, max_length=100)
    points: int = Field(gt=0, le=100_000)
    daily_cap: int | None = Field(None, gt=0, le=1_000_000)


class RuleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"daily_cap": 60}]})

    name: str | None = Field(None, min_length=1, max_length=100)
    points: int | None = Field(None, gt=0, le=100_000)
    daily_cap: int | None = Field(None, gt=0, le=1_000_000)
    active: bool | None = None


class RuleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    code: str
    name: str
    points: int
    daily_cap: int | None
    active: bool
    created_at: datetime


class Earn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "resident_id": "5d1c3f0a-0c0e-4f51-8f7e-2a4c6b8d0e12",
                    "rule_code": "valid_report",
                    "quantity": 1,
                    "reference": "case:c-2026-000123",
                }
            ]
        },
    )

    resident_id: uuid.UUID
    rule_code: str = Field(max_length=64)
    quantity: int = Field(1, ge=1, le=1000, description="reports, hours, activities")
    reference: str | None = Field(
        None, max_length=100, description="what earned it (a case id); earns once per rule"
    )
    note: str | None = Field(None, max_length=500)


class Redeem(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "resident_id": "5d1c3f0a-0c0e-4f51-8f7e-2a4c6b8d0e12",
                    "item_id": "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b",
                    "quantity": 1,
                }
            ]
        },
    )

    resident_id: uuid.UUID
    item_id: uuid.UUID
    quantity: int = Field(1, ge=1, le=100)


class Reverse(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "案件核实为无效上报"}]}
    )

    reason: str = Field(min_length=2, max_length=500)


class EntryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    resident_id: uuid.UUID
    kind: EntryKind
    points: int
    rule_id: uuid.UUID | None
    item_id: uuid.UUID | None
    quantity: int
    reference: str | None
    reverses_id: uuid.UUID | None
    earned_on: date
    note: str | None
    created_by: str
    created_at: datetime


class EntryResult(EntryRead):
    balance: int = Field(description="the balance after this entry")
    capped: bool = Field(False, description="true when the daily cap cut the amount")


class BalanceRead(BaseModel):
    resident_id: uuid.UUID
    balance: int


class ShopItemCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "area_id": "3e1f6a52-1f7e-4b53-9c2b-52d8c1a0f001",
                    "name": "洗衣液 2kg",
                    "cost": 200,
                    "stock": 30,
                }
            ]
        },
    )

    area_id: uuid.UUID = Field(description="the community whose shop offers it")
    name: str = Field(min_length=1, max_length=100)
    cost: int = Field(gt=0, le=1_000_000)
    stock: int = Field(ge=0, le=1_000_000)


class ShopItemUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"restock": 20}, {"active": False}]},
    )

    restock: int | None = Field(
        None, ge=-1_000_000, le=1_000_000, description="items added (negative: taken out)"
    )
    cost: int | None = Field(None, gt=0, le=1_000_000)
    active: bool | None = Field(None, description="false withdraws the item from the shop")


class ShopItemRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    area_id: uuid.UUID
    area_path: str
    name: str
    cost: int
    stock: int
    active: bool
    created_at: datetime
