"""Wire schemas of the area tree."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.grids import AreaLevel

SQUARE: dict[str, Any] = {
    "type": "Polygon",
    "coordinates": [
        [[120.15, 30.27], [120.16, 30.27], [120.16, 30.28], [120.15, 30.28], [120.15, 30.27]]
    ],
}


class AreaCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "code": "330106001001001",
                    "name": "西溪第一网格",
                    "level": "grid",
                    "parent_id": "0b6f1b8e-3f1c-4d8a-9d55-0d3c3c1f6a01",
                    "boundary": SQUARE,
                    "household_count": 720,
                }
            ]
        }
    )

    code: str = Field(min_length=6, max_length=32, examples=["330106001001001"])
    name: str = Field(min_length=1, max_length=100)
    level: AreaLevel
    parent_id: uuid.UUID | None = Field(None, description="null only for the root")
    boundary: dict[str, Any] = Field(description="GeoJSON Polygon or MultiPolygon, WGS84")
    household_count: int | None = Field(None, ge=0, le=1_000_000)


class AreaUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "西溪一网格", "household_count": 800}]},
    )

    name: str | None = Field(None, min_length=1, max_length=100)
    boundary: dict[str, Any] | None = None
    household_count: int | None = Field(None, ge=0, le=1_000_000)


class AreaWarning(BaseModel):
    field: str
    code: str = Field(examples=["household_count_out_of_range"])
    reason: str


class Centroid(BaseModel):
    lat: float
    lng: float


class AreaSummary(BaseModel):
    id: uuid.UUID
    code: str
    name: str
    level: AreaLevel
    parent_id: uuid.UUID | None
    path: str
    depth: int
    area_m2: float
    centroid: Centroid
    household_count: int | None
    created_at: datetime
    updated_at: datetime


class AreaRead(AreaSummary):
    boundary: dict[str, Any]
    warnings: list[AreaWarning] = Field(
        default_factory=list, description="advice that did not stop the change"
    )


class FeatureProperties(BaseModel):
    code: str = Field(min_length=6, max_length=32)
    name: str = Field(min_length=1, max_length=100)
    level: AreaLevel
    parent_code: str | None = Field(
        None, description="an existing area or another feature of the same import"
    )
    household_count: int | None = Field(None, ge=0, le=1_000_000)


class Feature(BaseModel):
    type: Literal["Feature"]
    geometry: dict[str, Any]
    properties: FeatureProperties


class FeatureCollection(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "FeatureCollection",
                    "features": [
                        {
                            "type": "Feature",
                            "geometry": SQUARE,
                            "properties": {
                                "code": "330106001001001",
                                "name": "西溪第一网格",
                                "level": "grid",
                                "parent_code": "330106001001",
                                "household_count": 720,
                            },
                        }
                    ],
                }
            ]
        }
    )

    type: Literal["FeatureCollection"]
    features: list[Feature] = Field(min_length=1, max_length=20_000)


class ImportResult(BaseModel):
    imported: int
    areas: list[AreaSummary]
    warnings: list[AreaWarning] = Field(default_factory=list)
