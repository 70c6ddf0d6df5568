"""Case schemas: intake, reads (with masking), actions, timeline, comments."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from case_service.categories.schemas import Priority
from shared.contracts.grids import CoordinateSystem
from shared.validation_texts import InvalidValue

PHONE_PATTERN = r"^\+?[0-9][0-9-]{4,19}$"


class Channel(StrEnum):
    """Where a case came in (诉求渠道)."""

    mini_program = "mini_program"  # 微信小程序
    app = "app"
    web = "web"
    hotline = "hotline"  # 12345 / 热线
    patrol = "patrol"  # 网格员巡查
    video = "video"  # 视频监控
    platform = "platform"  # another platform pushing in


RESIDENT_CHANNELS = frozenset({Channel.mini_program, Channel.app, Channel.web})


class LocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lat: float | None = Field(None, ge=-90, le=90, examples=[30.2741])
    lng: float | None = Field(None, ge=-180, le=180, examples=[120.1551])
    crs: CoordinateSystem = Field(
        CoordinateSystem.wgs84, description="coordinate system of lat/lng (WeChat maps: gcj02)"
    )
    address: str | None = Field(None, min_length=1, max_length=500, examples=["文三路 90 号"])

    @model_validator(mode="after")
    def _point_or_address(self) -> Self:
        if (self.lat is None) != (self.lng is None):
            raise InvalidValue("lat 和 lng 须同时给出", "lat and lng go together")
        if self.lat is None and self.address is None:
            raise InvalidValue("请给出经纬度或地址", "give lat/lng or an address")
        return self


class ReporterIn(BaseModel):
    """Contact details of the reporter (private: masked to those who do not need them)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=50, examples=["王小明"])
    phone: str | None = Field(None, pattern=PHONE_PATTERN, examples=["13812345678"])
    account_id: str | None = Field(
        None, max_length=64, description="the resident's account, when staff file for them (代办)"
    )
    anonymous: bool = Field(False, description="hide the reporter from every handler")


class SelfHandledIn(BaseModel):
    """自行处置: a grid worker reports and resolves on the spot in one request."""

    model_config = ConfigDict(extra="forbid")

    result: str = Field(min_length=1, max_length=4000, examples=["已现场劝离流动摊贩"])
    attachment_ids: list[uuid.UUID] = Field(default_factory=list, max_length=20)


#: Who sets ``priority`` and ``major``: from any other caller they are a request.
REQUEST_NOTE = (
    "Set by staff (grid workers, leaders, dispatchers, handlers, supervisors, admins). From a "
    "resident or another platform it is a request: the case keeps the category's default "
    "priority and `major: false`, shows the request as `requested_priority` / "
    "`requested_major`, and the dispatcher decides at `accept`."
)


class CaseCreate(BaseModel):
    """A report. Unknown fields (`status`, `area_id`, `reporter_account_id` …) are refused with
    422 `validation_failed` naming each one (`type: extra_forbidden`); nothing is written."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "category_code": "0501",
                "channel": "mini_program",
                "description": "文三路与学院路口东侧人行道井盖缺失，夜间很危险",
                "location": {"lat": 30.2741, "lng": 120.1551, "crs": "gcj02"},
                "occurred_at": "2026-11-23T08:30:00+08:00",
                "attachment_ids": [],
                "reporter": {"name": "王小明", "phone": "13812345678"},
                "attributes": {"depth_cm": 15},
            }
        },
    )

    category_code: str = Field(min_length=1, max_length=32, examples=["0501"])
    channel: Channel
    title: str | None = Field(None, min_length=1, max_length=100)
    description: str = Field(min_length=1, max_length=4000)
    location: LocationIn
    occurred_at: datetime | None = None
    attachment_ids: list[uuid.UUID] = Field(default_factory=list, max_length=20)
    reporter: ReporterIn | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    priority: Priority | None = Field(
        None, description="default: the category's. " + REQUEST_NOTE, examples=["urgent"]
    )
    major: bool = Field(
        False,
        description="major incident (重大事件): reported upward at once. " + REQUEST_NOTE,
    )
    source: str | None = Field(
        None, min_length=1, max_length=64, description="other platform's name (with external_id)"
    )
    external_id: str | None = Field(
        None, min_length=1, max_length=128, description="the case's id on that platform"
    )
    self_handled: SelfHandledIn | None = None

    @model_validator(mode="after")
    def _source_pair(self) -> Self:
        if (self.source is None) != (self.external_id is None):
            raise InvalidValue(
                "source 和 external_id 须同时给出", "source and external_id go together"
            )
        if self.channel is Channel.platform and self.source is None:
            raise InvalidValue(
                "其他平台推送的案件须提供 source 和 external_id",
                "intake from another platform needs source and external_id",
            )
        return self


class CategoryRef(BaseModel):
    id: uuid.UUID = Field(description="the category version the case was filed under")
    code: str
    name: str


class AreaRead(BaseModel):
    id: uuid.UUID | None
    code: str | None
    name: str | None
    path: str


class LocationStatus(StrEnum):
    located = "located"  # placed in an area (by point, by a matched address, or by `locate`)
    to_locate = "to_locate"  # 待定位: the address matched no standard address (or several)


class LocationRead(BaseModel):
    lat: float | None = Field(description="WGS84")
    lng: float | None = Field(description="WGS84")
    address: str | None
    address_id: uuid.UUID | None = Field(
        None, description="the standard address (标准地址, grid_service) the address matched"
    )


class ReporterRead(BaseModel):
    account_id: str | None
    name: str | None
    phone: str | None
    anonymous: bool
    masked: bool = Field(description="true when name and phone are masked for this caller")
    on_behalf: bool = Field(description="filed by staff for the resident (代办)")


class AssignmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    role: str = Field(examples=["lead"])
    account_id: str | None
    department_id: str | None
    state: str = Field(examples=["active"])
    result: str | None = None
    assigned_at: datetime
    finished_at: datetime | None = None


class CaseSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    case_number: str
    status: str
    category_code: str
    title: str
    area_path: str
    location_status: LocationStatus = Field(
        LocationStatus.located, description="`to_locate` (待定位) until the case is placed"
    )
    priority: str
    requested_priority: str | None = Field(
        None, description="the urgency the reporter asked for (a request; see CaseRead)"
    )
    requested_major: bool = Field(False, description="the reporter asked for 重大事件")
    created_at: datetime


class CaseRead(BaseModel):
    id: uuid.UUID
    case_number: str = Field(examples=["20261123000001"])
    version: int = Field(description="also the ETag; send it as If-Match with actions")
    status: str
    category: CategoryRef
    kind: str
    routing: str
    handling_class: str
    priority: str = Field(description="set by staff; the category's default otherwise")
    major: bool = Field(description="重大事件, set by staff only")
    requested_priority: str | None = Field(
        description="the priority a resident or another platform asked for at intake; the "
        "dispatcher decides at `accept` (send `priority`)",
        examples=["urgent"],
    )
    requested_major: bool = Field(
        description="the reporter asked for a major incident (重大事件); the dispatcher decides "
        "at `accept` (send `major: true`)"
    )
    title: str
    description: str
    attributes: dict[str, Any]
    channel: str
    source: str | None
    external_id: str | None
    occurred_at: datetime | None
    location: LocationRead
    location_status: LocationStatus = Field(
        description="`located`, or `to_locate` (待定位): filed by an address that matched no "
        "standard address (or several), the case stays at the filer's area until a `locate` "
        "action places it"
    )
    area: AreaRead
    handling_area_path: str
    handling_level: str | None
    reporter: ReporterRead
    assignments: list[AssignmentRead]
    department_ids: list[str]
    result: str | None
    public_reply: str | None = Field(
        None, description="the public reply (公开答复): the Open311 feed's `status_notes`"
    )
    self_handled: bool
    rating: int | None
    merged_into_id: uuid.UUID | None
    supporter_count: int = Field(description="reports merged into this one")
    support_count: int = Field(
        description="residents who added their support (附议) to this case, one per account"
    )
    due_at: datetime | None
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None
    allowed_actions: list[str] = Field(description="what the caller may do now")


class SimilarNearby(BaseModel):
    """What a resident learns of other people's reports like theirs: that they exist, how many
    residents support them, and where to add theirs — never which cases they are."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "count": 1,
                "support_count": 3,
                "supported": False,
                "support_url": "/api/v1/cases/5b0c…/similar/support",
            }
        }
    )

    count: int = Field(description="open reports of the same category nearby and recent")
    support_count: int = Field(description="residents supporting the earliest of them (附议)")
    supported: bool = Field(description="the caller supports it already")
    support_url: str = Field(
        description="POST here to add the caller's support (附议); it names the caller's own case"
    )


class CaseIntakeResult(CaseRead):
    possible_duplicates: list[CaseSummary] = Field(
        default_factory=list,
        description="staff: open cases of the same category nearby and recent (merge "
        "candidates) within the caller's scope. Residents and platforms get only their own "
        "cases here; other people's reports show as `similar_nearby`",
    )
    similar_nearby: SimilarNearby | None = Field(
        None,
        description="residents and platforms: other people's similar reports nearby, counted "
        "only (no id, number, title or area); null when there is none, and for staff",
    )


class SupportResult(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"added": True, "support_count": 4, "supported": True}}
    )

    added: bool = Field(description="false: the caller supported it already (nothing changed)")
    support_count: int = Field(description="residents supporting the similar report now")
    supported: bool = Field(True, description="the caller supports it")


class AssigneeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: str | None = Field(None, max_length=64, description="a grid worker")
    department_id: str | None = Field(None, max_length=64, description="a department")
    role: str = Field("lead", pattern="^(lead|co)$", description="lead (主办) or co (协办)")

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        if (self.account_id is None) == (self.department_id is None):
            raise InvalidValue(
                "account_id 和 department_id 只能给一个",
                "give account_id or department_id, not both",
            )
        return self


class CaseActionRequest(BaseModel):
    """Body of ``POST /cases/{id}/actions/{action}``; which fields are needed depends on it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"reason": "属于城管职责"},
                {"priority": "urgent", "major": True, "reason": "燃气泄漏，按群众请求升级"},
                {"assignees": [{"account_id": "w-1", "role": "lead"}]},
                {"result": "已修复井盖", "attachment_ids": ["3f1e…"]},
                {
                    "result": "联系路政养护二班，当日 16:00 更换井盖，业主王某已回访",
                    "public_reply": "井盖已于当日更换，感谢您的反映",
                },
            ]
        },
    )

    reason: str | None = Field(None, min_length=1, max_length=4000)
    attachment_ids: list[uuid.UUID] = Field(default_factory=list, max_length=20)
    assignees: list[AssigneeIn] | None = Field(
        None, max_length=20, description="dispatch/reassign: one lead, any co-handlers"
    )
    result: str | None = Field(None, min_length=1, max_length=4000, description="resolve")
    public_reply: str | None = Field(
        None,
        min_length=1,
        max_length=4000,
        title="公开答复",
        description="resolve, reject or void: the public reply (公开答复) — what the public "
        "Open311 feed shows as `status_notes`, written apart from the internal `result`/`reason` "
        "(which the feed never shows). Phone, ID-card, bank-card and plate numbers are redacted "
        "on the feed. Other actions refuse it (422 `public_reply_not_accepted`).",
        examples=["井盖已于当日更换，感谢您的反映"],
    )
    rating: int | None = Field(None, ge=1, le=5, description="rate: 1 (very unsatisfied) to 5")
    into_case_id: uuid.UUID | None = Field(None, description="merge: the master case")
    priority: Priority | None = Field(
        None,
        description="accept only: the priority the dispatcher decides on (default: keep it; "
        "see the case's `requested_priority`); a change restarts the time limits under it",
    )
    major: bool | None = Field(
        None,
        description="accept only: mark (true) or unmark (false) the case as a major incident "
        "(重大事件; default: keep it); marking it reports it upward at once",
    )


class TimelineRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str = Field(examples=["transition"])
    action: str | None
    from_status: str | None
    to_status: str | None
    actor_id: str | None
    actor_roles: list[str]
    reason: str | None
    visibility: str
    attachment_ids: list[uuid.UUID]
    data: dict[str, Any]
    case_version: int
    created_at: datetime


class Visibility(StrEnum):
    public = "public"
    internal = "internal"


class CommentCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"body": "已联系物业，明天上午处理", "visibility": "public"}},
    )

    body: str = Field(min_length=1, max_length=4000)
    visibility: Visibility = Visibility.internal
    attachment_ids: list[uuid.UUID] = Field(default_factory=list, max_length=20)


class PublicReplyWrite(BaseModel):
    """Body of ``PUT /cases/{id}/public-reply``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"body": "该路段井盖已更换，感谢您的反映"}, {"body": None}]
        },
    )

    body: str | None = Field(
        max_length=4000,
        description="the public reply (公开答复) shown as the Open311 `status_notes`; null "
        "withdraws it",
    )

    @field_validator("body")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise InvalidValue(
                "不能为空白；撤回请传 null", "must not be blank; send null to withdraw"
            )
        return value.strip() if value is not None else None


class NotificationRecord(BaseModel):
    """notify_service reports a message it sent about a case (kept on the timeline)."""

    channel: str = Field(max_length=20, examples=["sms"])
    recipient_account_id: str | None = Field(None, max_length=64)
    template: str | None = Field(None, max_length=64, examples=["case_accepted"])
    event_id: uuid.UUID | None = Field(None, description="the case event that caused it")


class LocateRequest(BaseModel):
    """Body of ``POST /cases/{id}/actions/locate`` (定位): a point or a standard address, and
    why. grid_service places the case: the grid containing the point, or the address's grid."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"lat": 30.2741, "lng": 120.1551, "reason": "来电人确认位置在宝石山下一弄口"},
                {
                    "address_id": "5d1c3f0a-0c0e-4f51-8f7e-2a4c6b8d0e12",
                    "reason": "核对标准地址：宝石山下一弄12号",
                },
            ]
        },
    )

    lat: float | None = Field(None, ge=-90, le=90, examples=[30.2741])
    lng: float | None = Field(None, ge=-180, le=180, examples=[120.1551])
    crs: CoordinateSystem = Field(
        CoordinateSystem.wgs84, description="coordinate system of lat/lng (WeChat maps: gcj02)"
    )
    address_id: uuid.UUID | None = Field(
        None,
        description="a standard address (标准地址) of grid_service's register, e.g. a candidate "
        "of `POST /api/v1/addresses/match`",
    )
    reason: str = Field(
        min_length=1, max_length=4000, description="why here (kept on the timeline)"
    )

    @model_validator(mode="after")
    def _point_or_address(self) -> Self:
        if (self.lat is None) != (self.lng is None):
            raise InvalidValue("lat 和 lng 须同时给出", "lat and lng go together")
        if (self.lat is None) == (self.address_id is None):
            raise InvalidValue(
                "请给出经纬度或标准地址（address_id），二者只能选一",
                "give lat/lng or an address_id, one of them",
            )
        return self
