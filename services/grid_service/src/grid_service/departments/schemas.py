"""Wire schemas of departments."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from grid_service.phones import PHONE_PATTERN

CATEGORY_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$"
Category = str


class DepartmentCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "code": "xh_urban_management",
                    "name": "西湖区城市管理局",
                    "categories": ["city_appearance.stall", "city_appearance.litter"],
                    "area_paths": ["330100.330106"],
                    "phone": "057112319",
                }
            ]
        }
    )

    code: str = Field(min_length=2, max_length=64, pattern=r"^[a-z0-9_]+$")
    name: str = Field(min_length=1, max_length=100)
    categories: list[str] = Field(
        default_factory=list,
        max_length=200,
        description="case category codes it owns (case_service's catalogue)",
    )
    area_paths: list[str] = Field(min_length=1, max_length=100)
    phone: str | None = Field(None, pattern=PHONE_PATTERN)


class DepartmentUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"categories": ["city_appearance.stall"]}]},
    )

    name: str | None = Field(None, min_length=1, max_length=100)
    categories: list[str] | None = Field(None, max_length=200)
    area_paths: list[str] | None = Field(None, min_length=1, max_length=100)
    phone: str | None = Field(None, pattern=PHONE_PATTERN)


class DepartmentRead(BaseModel):
    id: uuid.UUID
    code: str
    name: str
    categories: list[str]
    area_paths: list[str]
    phone: str | None
    created_at: datetime
