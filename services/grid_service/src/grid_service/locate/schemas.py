"""Wire schemas of batch point location (the single form answers ``LocateResult``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.grids import CoordinateSystem, LocateResult


class PointIn(BaseModel):
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)
    crs: CoordinateSystem | None = Field(None, description="overrides the batch's crs")


class LocateBatchRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "crs": "gcj02",
                    "points": [{"lat": 30.2716, "lng": 120.1597}, {"lat": 39.9, "lng": 116.4}],
                }
            ]
        }
    )

    crs: CoordinateSystem = CoordinateSystem.wgs84
    points: list[PointIn] = Field(min_length=1)


class LocateBatchItem(BaseModel):
    index: int = Field(description="position of the point in the request")
    result: LocateResult | None = None
    code: str | None = Field(
        None, description="`outside_jurisdiction` when no area contains the point"
    )


class LocateBatchResponse(BaseModel):
    items: list[LocateBatchItem]
