"""Wire schemas of time limits, calendar overrides, extensions and supervision."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from case_service.sla.calendar import LimitUnit
from shared.validation_texts import InvalidValue

LIMIT_KINDS = ("accept", "dispatch", "first_response", "resolve")


class Limit(BaseModel):
    amount: float = Field(gt=0, le=10_000, examples=[2])
    unit: LimitUnit = Field(examples=["working_hours"])

    @model_validator(mode="after")
    def _whole_days(self) -> Limit:
        if self.unit is LimitUnit.working_days and self.amount != int(self.amount):
            raise InvalidValue("working_days 时限须为整天", "working_days limits are whole days")
        return self


class PolicyLimits(BaseModel):
    accept: Limit | None = None
    dispatch: Limit | None = None
    first_response: Limit | None = None
    resolve: Limit


class SlaPolicyCreate(BaseModel):
    """A time-limit policy. The most specific active policy applies to a new deadline."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "name": "街道级一般事项",
                "handling_level": "street",
                "limits": {
                    "accept": {"amount": 2, "unit": "working_hours"},
                    "dispatch": {"amount": 4, "unit": "working_hours"},
                    "first_response": {"amount": 1, "unit": "working_days"},
                    "resolve": {"amount": 1, "unit": "working_days"},
                },
                "reminder_ratio": 0.75,
                "auto_escalate": True,
            }
        }
    )

    name: str = Field(min_length=1, max_length=100)
    category_code: str | None = Field(None, max_length=32)
    kind: str | None = Field(None, max_length=20)
    priority: str | None = Field(None, max_length=20)
    handling_level: str | None = Field(None, max_length=20)
    limits: PolicyLimits
    reminder_ratio: float = Field(0.75, gt=0, lt=1)
    auto_escalate: bool = False


class SlaPolicyRead(SlaPolicyCreate):
    id: uuid.UUID
    version: int
    active: bool
    created_at: datetime


class CalendarOverrideWrite(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"is_workday": False, "reason": "区委决定：防汛停工一天"}}
    )

    is_workday: bool
    reason: str = Field(min_length=1, max_length=200)


class CalendarOverrideRead(BaseModel):
    jurisdiction_path: str
    day: date
    is_workday: bool
    reason: str
    created_by: str | None
    created_at: datetime


class DeadlineState(StrEnum):
    on_track = "on_track"
    due_soon = "due_soon"
    overdue = "overdue"
    met = "met"
    met_late = "met_late"
    cancelled = "cancelled"


class DeadlineRead(BaseModel):
    id: uuid.UUID
    kind: str = Field(examples=["resolve"])
    handling_level: str | None
    amount: float
    unit: LimitUnit
    status: str = Field(description="open, paused, met or cancelled")
    state: DeadlineState
    started_at: datetime
    due_at: datetime
    seconds_left: int | None = Field(None, description="working or clock seconds left")
    overdue_at: datetime | None
    met_at: datetime | None
    extension_count: int
    policy_id: uuid.UUID | None


class ExtensionCreate(Limit):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "deadline_kind": "resolve",
                "amount": 2,
                "unit": "working_days",
                "reason": "需协调供电公司停电施工",
            }
        }
    )

    deadline_kind: str = Field("resolve", pattern="^(accept|dispatch|first_response|resolve)$")
    reason: str = Field(min_length=1, max_length=1000)


class ExtensionDecision(BaseModel):
    approve: bool
    reason: str | None = Field(None, max_length=1000)


class ExtensionRead(BaseModel):
    id: uuid.UUID
    case_id: uuid.UUID
    deadline_id: uuid.UUID
    amount: float
    unit: LimitUnit
    reason: str
    status: str
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    previous_due_at: datetime | None
    new_due_at: datetime | None


class SupervisionKind(StrEnum):
    urge = "urge"  # 催办
    supervise = "supervise"  # 督办


class SupervisionCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "kind": "supervise",
                "reason": "群众多次反映，请于4个工作小时内反馈进展",
                "respond_within": {"amount": 4, "unit": "working_hours"},
            }
        }
    )

    kind: SupervisionKind
    reason: str = Field(min_length=1, max_length=1000)
    respond_within: Limit


class SupervisionResponse(BaseModel):
    response: str = Field(min_length=1, max_length=2000)


class SupervisionRead(BaseModel):
    id: uuid.UUID
    case_id: uuid.UUID
    kind: str
    area_path: str
    reason: str
    opened_by: str | None
    response_due_at: datetime | None
    status: str
    response: str | None
    responded_by: str | None
    responded_at: datetime | None
    created_at: datetime
