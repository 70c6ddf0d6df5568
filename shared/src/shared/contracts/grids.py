"""Areas and point location, served by grid_service and read by case_service."""

from __future__ import annotations

import uuid
from enum import StrEnum

from pydantic import BaseModel, Field


class AreaLevel(StrEnum):
    """Levels of the area tree, top to bottom (市 区/县 街道/乡镇 社区/村 网格 微网格)."""

    city = "city"
    district = "district"
    street = "street"
    community = "community"
    grid = "grid"
    micro_grid = "micro_grid"


class CoordinateSystem(StrEnum):
    wgs84 = "wgs84"
    gcj02 = "gcj02"
    bd09 = "bd09"


class AreaRef(BaseModel):
    id: uuid.UUID
    code: str = Field(examples=["330106001001001"])
    name: str = Field(examples=["西溪第一网格"])
    level: AreaLevel
    path: str = Field(
        description="materialised path of area codes from the root, dot-separated",
        examples=["330100.330106.330106001.330106001001.330106001001001"],
    )


class ResponsiblePerson(BaseModel):
    """Who answers for a post in an area right now (the backup when the primary is away)."""

    post: str = Field(examples=["grid_leader"])
    member_id: uuid.UUID
    account_id: uuid.UUID | None = None
    name: str
    phone_masked: str | None = Field(None, examples=["138****5678"])
    phone: str | None = Field(
        None, description="full number, only for members who consented to publish it"
    )
    is_backup: bool = Field(False, description="true when the backup answers for an away primary")


class LocateView(StrEnum):
    """How much ``GET /api/v1/grids/locate`` answers."""

    full = "full"  # LocateResult: with who answers for the area now
    compact = "compact"  # LocateCompact: where the point is, nothing more


class LocateCompact(BaseModel):
    """The answer of ``GET /api/v1/grids/locate?view=compact``: where the point is. For callers
    that only place something in the tree (case_service's intake), without the people and
    phones of :class:`LocateResult` that they would only discard."""

    area: AreaRef = Field(description="the lowest-level area containing the point")
    ancestors: list[AreaRef] = Field(description="from the root down to the area's parent")
    lat: float = Field(description="WGS84 latitude used for the lookup")
    lng: float = Field(description="WGS84 longitude used for the lookup")


class LocateResult(LocateCompact):
    """The full answer of point location: where the point is and who answers for it now."""

    responsible: list[ResponsiblePerson] = Field(default_factory=list)
