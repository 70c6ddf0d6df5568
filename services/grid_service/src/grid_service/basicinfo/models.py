"""Basic information (一标三实): standard addresses, buildings and houses, households, residents,
organisations, key places, and residents' special-group tags. Field names follow GB/T 31000's
data items in English (the Chinese item in ``title``)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from shared.db import utcnow


def _ts() -> Any:
    return Field(
        default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )


def _path_index(table: str, *columns: str) -> sa.Index:
    """``area_path`` first with varchar_pattern_ops, so 'everything under X' uses the index."""
    return sa.Index(
        f"ix_{table}_area_path_{'_'.join(columns)}",
        "area_path",
        *columns,
        postgresql_ops={"area_path": "varchar_pattern_ops"},
    )


class BuildingUse(StrEnum):
    residential = "residential"  # 住宅
    commercial = "commercial"  # 商业
    office = "office"  # 办公
    industrial = "industrial"  # 工业
    mixed = "mixed"  # 商住
    public = "public"  # 公共服务
    other = "other"


class Ownership(StrEnum):
    private = "private"  # 私有
    public = "public"  # 公有/直管公房
    collective = "collective"  # 集体
    enterprise = "enterprise"  # 单位自管
    other = "other"


class Relationship(StrEnum):
    head = "head"  # 户主/本人
    spouse = "spouse"  # 配偶
    child = "child"  # 子女
    parent = "parent"  # 父母
    grandchild = "grandchild"  # 孙子女
    grandparent = "grandparent"  # 祖父母
    sibling = "sibling"  # 兄弟姐妹
    other = "other"  # 其他


class MigrantStatus(StrEnum):
    registered = "registered"  # 户籍人口
    migrant = "migrant"  # 流动人口
    overseas = "overseas"  # 境外人员


class Gender(StrEnum):
    male = "male"
    female = "female"


class StandardAddress(SQLModel, table=True):
    """A standard address (标准地址): building, unit and room inside one grid."""

    __tablename__ = "standard_address"
    __table_args__ = (
        # one entry per grid, street and building/unit/room, as normalised (三幢 is 3幢)
        sa.UniqueConstraint(
            "area_id",
            "street_key",
            "building_key",
            "unit_key",
            "room_key",
            name="uq_standard_address_keys",
        ),
        _path_index("standard_address", "created_at", "id"),
        # address matching (basicinfo.addressing): equal keys first, then trigram similarity
        sa.Index("ix_standard_address_street_key_building_key", "street_key", "building_key"),
        sa.Index(
            "ix_standard_address_normalized_trgm",
            "normalized",
            postgresql_using="gin",
            postgresql_ops={"normalized": "gin_trgm_ops"},
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    area_id: uuid.UUID = Field(foreign_key="area.id")
    area_path: str = Field(max_length=400)
    street_address: str = Field(max_length=200, title="街路巷及门牌号")
    building_no: str = Field(max_length=20, title="楼栋号")
    unit_no: str = Field(default="", max_length=20, title="单元号")
    room_no: str = Field(default="", max_length=20, title="室号")
    # the canonical form (addressing.register_keys), set on every insert and update
    street_key: str = Field(default="", max_length=200, title="街路巷及门牌号 (normalised)")
    building_key: str = Field(default="", max_length=20)
    unit_key: str = Field(default="", max_length=20)
    room_key: str = Field(default="", max_length=20)
    normalized: str = Field(default="", max_length=300, title="the whole address, normalised")
    created_at: datetime = _ts()


@sa.event.listens_for(StandardAddress, "before_insert")
@sa.event.listens_for(StandardAddress, "before_update")
def _address_keys(_mapper: Any, _connection: Any, address: StandardAddress) -> None:
    from grid_service.basicinfo.addressing import register_keys

    keys = register_keys(
        address.street_address, address.building_no, address.unit_no, address.room_no
    )
    address.street_key = keys.street
    address.building_key = keys.building
    address.unit_key = keys.unit
    address.room_key = keys.room
    address.normalized = keys.normalized


class Building(SQLModel, table=True):
    """A building (建筑物) in a grid."""

    __tablename__ = "building"
    __table_args__ = (
        sa.UniqueConstraint("area_id", "building_no"),
        _path_index("building", "created_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    area_id: uuid.UUID = Field(foreign_key="area.id")
    area_path: str = Field(max_length=400)
    building_no: str = Field(max_length=20, title="楼栋号")
    name: str | None = Field(default=None, max_length=100, title="建筑物名称")
    use: str = Field(max_length=16, title="建筑物用途")
    floors: int | None = Field(default=None, ge=1, le=200, title="地上层数")
    created_at: datetime = _ts()


class House(SQLModel, table=True):
    """A house (实有房屋) at one standard address: use, ownership, rented or not."""

    __tablename__ = "house"
    __table_args__ = (_path_index("house", "created_at", "id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    address_id: uuid.UUID = Field(foreign_key="standard_address.id", unique=True)
    building_id: uuid.UUID | None = Field(default=None, foreign_key="building.id", index=True)
    area_path: str = Field(max_length=400)
    use: str = Field(max_length=16, title="房屋用途")
    ownership: str = Field(max_length=16, title="产权性质")
    rented: bool = Field(default=False, title="是否出租屋")
    floor_area_m2: float | None = Field(default=None, ge=0, title="建筑面积")
    created_at: datetime = _ts()


class Household(SQLModel, table=True):
    """A household (户), with its key (重点户) and hardship (困难户) flags and visit cadence."""

    __tablename__ = "household"
    __table_args__ = (
        sa.UniqueConstraint("area_id", "household_no"),
        _path_index("household", "created_at", "id"),
        _path_index("household", "next_visit_due_at", "id"),
        sa.Index(
            "ix_household_responsible_worker_id_next_visit_due_at_id",
            "responsible_worker_id",
            "next_visit_due_at",
            "id",
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    area_id: uuid.UUID = Field(foreign_key="area.id")
    area_path: str = Field(max_length=400)
    household_no: str = Field(max_length=40, title="户号")
    address_id: uuid.UUID | None = Field(
        default=None, foreign_key="standard_address.id", index=True
    )
    head_resident_id: uuid.UUID | None = Field(default=None, title="户主")
    is_key: bool = Field(default=False, title="重点户")
    is_hardship: bool = Field(default=False, title="困难户")
    responsible_worker_id: str | None = Field(
        default=None, max_length=64, title="包户网格员 (account id)"
    )
    last_visited_at: datetime | None = Field(
        default=None, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=True)
    )
    next_visit_due_at: datetime = Field(
        sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False)
    )
    created_at: datetime = _ts()


class Resident(SQLModel, table=True):
    """A resident (实有人口). ID and phone numbers are stored encrypted (``*_enc``, AES-GCM with
    the key id inside) with an HMAC lookup hash (``*_hash``) for exact search."""

    __tablename__ = "resident"
    __table_args__ = (
        _path_index("resident", "created_at", "id"),
        sa.Index("ix_resident_household_id", "household_id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    area_id: uuid.UUID = Field(foreign_key="area.id")
    area_path: str = Field(max_length=400)
    household_id: uuid.UUID | None = Field(default=None, foreign_key="household.id")
    relationship_to_head: str | None = Field(default=None, max_length=16, title="与户主关系")
    name: str = Field(max_length=100, title="姓名")
    gender: str = Field(max_length=8, title="性别")
    birth_on: date = Field(title="出生日期")
    id_number_enc: str = Field(max_length=200, title="公民身份号码 (encrypted)")
    id_number_hash: str = Field(max_length=64, unique=True)
    phone_enc: str | None = Field(default=None, max_length=200, title="联系电话 (encrypted)")
    phone_hash: str | None = Field(default=None, max_length=64, index=True)
    ethnicity: str | None = Field(default=None, max_length=20, title="民族")
    registered_address: str | None = Field(default=None, max_length=200, title="户籍地详址")
    current_address_id: uuid.UUID | None = Field(
        default=None, foreign_key="standard_address.id", index=True, title="现住址"
    )
    current_address_text: str | None = Field(
        default=None,
        max_length=200,
        title="现住址 (free text not yet matched to a standard address)",
    )
    migrant_status: str = Field(max_length=16, title="人口类型: 户籍/流动/境外")
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class OrganisationKind(StrEnum):
    enterprise = "enterprise"  # 企业
    individual_business = "individual_business"  # 个体工商户
    social_organisation = "social_organisation"  # 社会组织
    public_institution = "public_institution"  # 事业单位
    government = "government"  # 机关


class Organisation(SQLModel, table=True):
    """An organisation or business (实有单位/非公经济组织/社会组织)."""

    __tablename__ = "organisation"
    __table_args__ = (_path_index("organisation", "created_at", "id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    area_id: uuid.UUID = Field(foreign_key="area.id")
    area_path: str = Field(max_length=400)
    kind: str = Field(max_length=24)
    name: str = Field(max_length=200, title="单位名称")
    credit_code: str | None = Field(
        default=None, max_length=18, unique=True, title="统一社会信用代码"
    )
    legal_representative: str | None = Field(default=None, max_length=100, title="法定代表人")
    address_id: uuid.UUID | None = Field(default=None, foreign_key="standard_address.id")
    address_text: str | None = Field(default=None, max_length=200, title="单位地址")
    contact_phone_enc: str | None = Field(default=None, max_length=200, title="联系电话")
    employee_count: int | None = Field(default=None, ge=0, title="从业人数")
    created_at: datetime = _ts()


class KeyPlace(SQLModel, table=True):
    """A key place (重点部位) with its responsible person, checked in at on patrol."""

    __tablename__ = "key_place"
    __table_args__ = (_path_index("key_place", "created_at", "id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    area_id: uuid.UUID = Field(foreign_key="area.id")
    area_path: str = Field(max_length=400)
    name: str = Field(max_length=200, title="部位名称")
    kind: str = Field(max_length=32, title="部位类别")
    address_text: str | None = Field(default=None, max_length=200)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lng: float | None = Field(default=None, ge=-180, le=180)
    responsible_name: str = Field(max_length=100, title="责任人")
    responsible_phone_enc: str | None = Field(default=None, max_length=200, title="责任人电话")
    created_at: datetime = _ts()


class SpecialGroupTag(SQLModel, table=True):
    """A resident belongs to one special group (特殊人群), with that group's follow-up fields.
    Seen and changed only by accounts granted the tag."""

    __tablename__ = "special_group_tag"
    __table_args__ = (
        sa.UniqueConstraint("resident_id", "tag"),
        sa.Index(
            "ix_special_group_tag_tag_area_path_id",
            "tag",
            "area_path",
            "id",
            postgresql_ops={"area_path": "varchar_pattern_ops"},
        ),
        # the follow-ups due (随访到期) list
        sa.Index(
            "ix_special_group_tag_next_follow_up_on_id",
            "next_follow_up_on",
            "id",
            postgresql_where=sa.text("next_follow_up_on IS NOT NULL"),
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    resident_id: uuid.UUID = Field(foreign_key="resident.id")
    area_path: str = Field(max_length=400)
    tag: str = Field(max_length=32)
    attention_level: str = Field(default="normal", max_length=16, title="关注程度")
    helper_name: str | None = Field(default=None, max_length=100, title="帮扶责任人")
    follow_up_interval_days: int | None = Field(default=None, ge=1, le=366, title="随访周期")
    last_followed_up_on: date | None = Field(default=None, title="最近随访日期")
    next_follow_up_on: date | None = Field(
        default=None,
        title="下次随访日期: the last follow-up (or the tagging day) plus the interval",
    )
    details: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(JSONB, nullable=False)
    )
    created_by: str = Field(max_length=64)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
