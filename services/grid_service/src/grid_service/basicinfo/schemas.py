"""Wire schemas of basic information. ID and phone numbers leave the service masked unless the
caller may and did ask for them (``reveal=true`` with a ``reason``)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

from grid_service.basicinfo.models import (
    BuildingUse,
    Gender,
    MigrantStatus,
    OrganisationKind,
    Ownership,
    Relationship,
)
from grid_service.basicinfo.specialgroups import SpecialGroup, details_json_schema
from grid_service.phones import PHONE_PATTERN
from shared.validation_texts import InvalidValue

AREA_ID_EXAMPLE = "3e1f6a52-1f7e-4b53-9c2b-52d8c1a0f001"
ID_NUMBER_PATTERN = r"^[0-9]{17}[0-9Xx]$"
CREDIT_CODE_PATTERN = r"^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$"


class _Create(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ------------------------------------------------------------------ addresses, buildings, houses


class AddressCreate(_Create):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "area_id": AREA_ID_EXAMPLE,
                    "street_address": "文三路90号东部软件园",
                    "building_no": "3",
                    "unit_no": "2",
                    "room_no": "301",
                }
            ]
        },
    )

    area_id: uuid.UUID = Field(description="the grid the address lies in")
    street_address: str = Field(min_length=1, max_length=200, title="街路巷及门牌号")
    building_no: str = Field(min_length=1, max_length=20, title="楼栋号")
    unit_no: str = Field("", max_length=20, title="单元号")
    room_no: str = Field("", max_length=20, title="室号")


class AddressMatchRequest(_Create):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"address": "浙江省杭州市西湖区宝石山下一弄１２号"},
                {"address": "文三路90号三栋二单元501", "area_path": "330100.330106", "limit": 3},
            ]
        },
    )

    address: str = Field(
        min_length=1,
        max_length=500,
        description="the address as said or typed: prefixes (省/市/区/街道) optional, full-width "
        'or Chinese numerals, 幢/栋/号楼/座, "501" or "501室", "3-2-501", spaces',
    )
    area_path: str | None = Field(
        None,
        max_length=255,
        pattern=r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$",
        description="only addresses in this subtree (e.g. the filer's jurisdiction)",
    )
    limit: int = Field(5, ge=1, le=20, description="how many candidates at most")


class BuildingCreate(_Create):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "area_id": AREA_ID_EXAMPLE,
                    "building_no": "3",
                    "name": "3幢",
                    "use": "residential",
                    "floors": 6,
                }
            ]
        },
    )

    area_id: uuid.UUID
    building_no: str = Field(min_length=1, max_length=20)
    name: str | None = Field(None, max_length=100)
    use: BuildingUse
    floors: int | None = Field(None, ge=1, le=200)


class BuildingRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    area_id: uuid.UUID
    area_path: str
    building_no: str
    name: str | None
    use: BuildingUse
    floors: int | None
    created_at: datetime


class HouseCreate(_Create):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "address_id": "5d1c3f0a-0c0e-4f51-8f7e-2a4c6b8d0e12",
                    "use": "residential",
                    "ownership": "private",
                    "rented": True,
                    "floor_area_m2": 89.5,
                }
            ]
        },
    )

    address_id: uuid.UUID
    building_id: uuid.UUID | None = None
    use: BuildingUse
    ownership: Ownership
    rented: bool = False
    floor_area_m2: float | None = Field(None, ge=0, le=100_000)


class HouseRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    address_id: uuid.UUID
    building_id: uuid.UUID | None
    area_path: str
    use: BuildingUse
    ownership: Ownership
    rented: bool
    floor_area_m2: float | None
    created_at: datetime


# ------------------------------------------------------------------ households and residents


class HouseholdCreate(_Create):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "area_id": AREA_ID_EXAMPLE,
                    "household_no": "HZ-0301",
                    "address_id": "5d1c3f0a-0c0e-4f51-8f7e-2a4c6b8d0e12",
                    "is_key": False,
                    "is_hardship": True,
                    "responsible_worker_id": "8a0c7f0e-2b1d-4d7e-9b0a-1f0e2d3c4b5a",
                }
            ]
        },
    )

    area_id: uuid.UUID
    household_no: str = Field(min_length=1, max_length=40, title="户号")
    address_id: uuid.UUID | None = None
    is_key: bool = Field(False, title="重点户")
    is_hardship: bool = Field(False, title="困难户")
    responsible_worker_id: str | None = Field(None, max_length=64, title="包户网格员")


class HouseholdUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"is_key": True}]})

    is_key: bool | None = None
    is_hardship: bool | None = None
    head_resident_id: uuid.UUID | None = None
    responsible_worker_id: str | None = Field(None, max_length=64)
    address_id: uuid.UUID | None = None


class HouseholdRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    area_id: uuid.UUID
    area_path: str
    household_no: str
    address_id: uuid.UUID | None
    head_resident_id: uuid.UUID | None
    is_key: bool
    is_hardship: bool
    responsible_worker_id: str | None
    last_visited_at: datetime | None
    next_visit_due_at: datetime
    created_at: datetime


class ResidentCreate(_Create):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "area_id": AREA_ID_EXAMPLE,
                    "name": "张伟",
                    "id_number": "11010519491231002X",
                    "phone": "13812345678",
                    "ethnicity": "汉族",
                    "registered_address": "浙江省杭州市西湖区文三路90号",
                    "current_address_id": "5d1c3f0a-0c0e-4f51-8f7e-2a4c6b8d0e12",
                    "migrant_status": "registered",
                    "household_id": "6a2d4e1b-1d1f-4062-9f8f-3b5d7c9e1f23",
                    "relationship_to_head": "head",
                }
            ]
        },
    )

    area_id: uuid.UUID
    name: str = Field(min_length=1, max_length=100, title="姓名")
    id_number: str = Field(pattern=ID_NUMBER_PATTERN, title="公民身份号码")
    phone: str | None = Field(None, pattern=PHONE_PATTERN, title="联系电话")
    gender: Gender | None = Field(None, description="defaults to the one the ID number encodes")
    birth_on: date | None = Field(None, description="defaults to the ID number's birth date")
    ethnicity: str | None = Field(None, max_length=20, title="民族")
    registered_address: str | None = Field(None, max_length=200, title="户籍地详址")
    current_address_id: uuid.UUID | None = None
    migrant_status: MigrantStatus = MigrantStatus.registered
    household_id: uuid.UUID | None = None
    relationship_to_head: Relationship | None = None


class ResidentUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"phone": "13912345678"}]}
    )

    name: str | None = Field(None, min_length=1, max_length=100)
    phone: str | None = Field(None, pattern=PHONE_PATTERN)
    ethnicity: str | None = Field(None, max_length=20)
    registered_address: str | None = Field(None, max_length=200)
    current_address_id: uuid.UUID | None = None
    migrant_status: MigrantStatus | None = None
    household_id: uuid.UUID | None = None
    relationship_to_head: Relationship | None = None


class ResidentLookup(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"id_number": "11010519491231002X"}]}
    )

    id_number: str | None = Field(None, pattern=ID_NUMBER_PATTERN)
    phone: str | None = Field(None, pattern=PHONE_PATTERN)

    @model_validator(mode="after")
    def _one_number(self) -> ResidentLookup:
        if self.id_number is None and self.phone is None:
            raise InvalidValue("请给出身份证号或电话", "give id_number or phone")
        return self


class ResidentRead(BaseModel):
    id: uuid.UUID
    area_id: uuid.UUID
    area_path: str
    name: str
    gender: Gender
    birth_on: date
    id_number: str = Field(description="masked (110***********1234) unless revealed")
    phone: str | None = Field(description="masked (138****5678) unless revealed")
    revealed: bool = Field(description="true when id_number and phone are the full values")
    ethnicity: str | None
    registered_address: str | None
    current_address_id: uuid.UUID | None
    current_address_text: str | None = Field(
        None, description="a free-text address (from an import) not yet matched to the register"
    )
    migrant_status: MigrantStatus
    household_id: uuid.UUID | None
    relationship_to_head: Relationship | None
    special_groups: list[SpecialGroup] = Field(
        description="only the tags the caller was granted; others are not shown"
    )
    created_at: datetime
    updated_at: datetime


class HouseholdDetail(HouseholdRead):
    members: list[ResidentRead]


# ------------------------------------------------------------------ organisations, key places


class OrganisationCreate(_Create):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "area_id": AREA_ID_EXAMPLE,
                    "kind": "individual_business",
                    "name": "西湖区好邻居便利店",
                    "credit_code": "92330106MA2H0X0X0X",
                    "legal_representative": "李娜",
                    "address_text": "文三路92号",
                    "contact_phone": "13812345678",
                    "employee_count": 3,
                }
            ]
        },
    )

    area_id: uuid.UUID
    kind: OrganisationKind
    name: str = Field(min_length=1, max_length=200)
    credit_code: str | None = Field(None, pattern=CREDIT_CODE_PATTERN, title="统一社会信用代码")
    legal_representative: str | None = Field(None, max_length=100)
    address_id: uuid.UUID | None = None
    address_text: str | None = Field(None, max_length=200)
    contact_phone: str | None = Field(None, pattern=PHONE_PATTERN)
    employee_count: int | None = Field(None, ge=0, le=10_000_000)


class OrganisationRead(BaseModel):
    id: uuid.UUID
    area_id: uuid.UUID
    area_path: str
    kind: OrganisationKind
    name: str
    credit_code: str | None
    legal_representative: str | None
    address_id: uuid.UUID | None
    address_text: str | None
    contact_phone: str | None = Field(description="masked unless revealed")
    employee_count: int | None
    created_at: datetime


class KeyPlaceCreate(_Create):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "area_id": AREA_ID_EXAMPLE,
                    "name": "文三路加油站",
                    "kind": "gas_station",
                    "address_text": "文三路100号",
                    "lat": 30.2741,
                    "lng": 120.1303,
                    "responsible_name": "赵强",
                    "responsible_phone": "13812345678",
                }
            ]
        },
    )

    area_id: uuid.UUID
    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_]*$")
    address_text: str | None = Field(None, max_length=200)
    lat: float | None = Field(None, ge=-90, le=90)
    lng: float | None = Field(None, ge=-180, le=180)
    responsible_name: str = Field(min_length=1, max_length=100, title="责任人")
    responsible_phone: str | None = Field(None, pattern=PHONE_PATTERN)


class KeyPlaceRead(BaseModel):
    id: uuid.UUID
    area_id: uuid.UUID
    area_path: str
    name: str
    kind: str
    address_text: str | None
    lat: float | None
    lng: float | None
    responsible_name: str
    responsible_phone: str | None = Field(description="masked unless revealed")
    created_at: datetime


# ------------------------------------------------------------------ special groups


class SpecialGroupSet(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "attention_level": "key",
                    "helper_name": "王芳",
                    "follow_up_interval_days": 30,
                    "last_followed_up_on": "2026-11-20",
                    "details": {
                        "correction_kind": "probation",
                        "term_starts_on": "2026-01-01",
                        "term_ends_on": "2027-12-31",
                    },
                }
            ]
        },
    )

    attention_level: str = Field("normal", pattern="^(normal|attention|key)$", title="关注程度")
    helper_name: str | None = Field(None, max_length=100, title="帮扶责任人")
    follow_up_interval_days: int | None = Field(None, ge=1, le=366, title="随访周期")
    last_followed_up_on: date | None = None
    details: Annotated[dict[str, Any], WithJsonSchema(details_json_schema())] = Field(
        default_factory=dict,
        description="the group's own follow-up fields: the model of the tag in the path",
    )


class SpecialGroupPatch(BaseModel):
    """A partial change of a tag: only the fields sent change. In ``details`` each key sent is
    set, a key sent as ``null`` is removed, the others are kept; recording a follow-up is
    ``{"last_followed_up_on": "2026-12-06"}``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"last_followed_up_on": "2026-12-06", "details": {"risk_level": 1}},
                {"attention_level": "key", "follow_up_interval_days": 14},
            ]
        },
    )

    attention_level: str | None = Field(None, pattern="^(normal|attention|key)$", title="关注程度")
    helper_name: str | None = Field(None, max_length=100, title="帮扶责任人")
    follow_up_interval_days: int | None = Field(None, ge=1, le=366, title="随访周期")
    last_followed_up_on: date | None = Field(None, title="最近随访日期")
    details: Annotated[dict[str, Any] | None, WithJsonSchema(details_json_schema())] = Field(
        None, description="keys to set (null removes a key); the others are kept"
    )


class SpecialGroupRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    resident_id: uuid.UUID
    area_path: str
    tag: SpecialGroup
    attention_level: str
    helper_name: str | None
    follow_up_interval_days: int | None
    last_followed_up_on: date | None
    next_follow_up_on: date | None = Field(
        description="下次随访日期: the last follow-up (or the tagging day) plus the interval"
    )
    details: dict[str, Any]
    created_at: datetime
    updated_at: datetime


# ------------------------------------------------------------------ import


class RowError(BaseModel):
    row: int = Field(description="row number as the spreadsheet shows it (the header is row 1)")
    column: str | None = Field(description="the column header, or null for the whole row")
    reason: str


class ImportResult(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"kind": "residents", "rows": 120, "created": 120, "households": 41}]
        }
    )

    kind: str
    rows: int
    created: int
    households: int = 0
    unmatched_addresses: int = Field(
        0,
        description="residents imported with a free-text address not (yet) in the register; "
        "kept in `current_address_text` for later matching",
    )


class TaggedResident(SpecialGroupRead):
    """A tag in the list of one group, with who and where in masked form (the full name and
    address are on the resident, behind the reveal rules)."""

    resident_name: str | None = Field(description="masked, e.g. 张*")
    address: str | None = Field(description="the standard address with the room masked")
    due: bool = Field(description="the follow-up is due (next_follow_up_on within the window)")
