"""Standard addresses (标准地址) and address matching, served by grid_service and read by
case_service (intake by address alone, the ``locate`` action by address id)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.grids import AreaRef


class AddressRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    area_id: uuid.UUID
    area_path: str
    street_address: str
    building_no: str
    unit_no: str
    room_no: str
    created_at: datetime


class ParsedAddressRead(BaseModel):
    street: str = Field(description="街路巷 + 门牌号, normalised", examples=["宝石山下1弄12号"])
    place: str = Field(description="小区/建筑物 name between the street and the building")
    building: str = Field(description="楼栋 number (幢/栋/号楼/座), bare", examples=["3"])
    unit: str = Field(description="单元 number, bare", examples=["2"])
    room: str = Field(description="室 number, bare", examples=["501"])


class MatchStatus(StrEnum):
    matched = "matched"
    ambiguous = "ambiguous"
    unmatched = "unmatched"


class AddressCandidate(BaseModel):
    address: AddressRead
    score: float = Field(
        ge=0,
        le=1,
        description="1.0 the same register entry; 0.95/0.9 the same street and building at a "
        "finer/coarser level (exact); below that the trigram similarity (similar)",
    )
    method: str = Field(description="`exact` (equal after normalisation) or `similar` (pg_trgm)")
    area: AreaRef = Field(description="the grid the address lies in")
    ancestors: list[AreaRef] = Field(description="from the root down to the grid's parent")


class AddressMatchResult(BaseModel):
    normalized: str = Field(description="the address in canonical form")
    parsed: ParsedAddressRead
    status: MatchStatus = Field(
        description="`matched`: placed (the best candidates lie in one grid); `ambiguous`: "
        "candidates in several grids (or only weakly similar ones); `unmatched`: none"
    )
    candidates: list[AddressCandidate] = Field(description="best first")


class AddressPlacement(BaseModel):
    """One standard address with the grid it lies in (``GET /api/v1/addresses/{id}``)."""

    address: AddressRead
    area: AreaRef = Field(description="the grid the address lies in")
    ancestors: list[AreaRef] = Field(description="from the root down to the grid's parent")
