"""Bodies and answers of evaluations (评价), reopen requests and return visits (回访)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Satisfaction(StrEnum):
    satisfied = "satisfied"  # 满意
    basically_satisfied = "basically_satisfied"  # 基本满意
    dissatisfied = "dissatisfied"  # 不满意


class EvaluationCreate(BaseModel):
    """The reporter's rating of how the case was handled, after it closed."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "satisfaction": "satisfied",
                    "attitude_score": 5,
                    "speed_score": 4,
                    "result_score": 5,
                    "comment": "井盖当天就换好了",
                }
            ]
        },
    )

    satisfaction: Satisfaction = Field(title="满意度")
    attitude_score: int = Field(ge=1, le=5, title="态度 1-5")
    speed_score: int = Field(ge=1, le=5, title="速度 1-5")
    result_score: int = Field(ge=1, le=5, title="结果 1-5")
    comment: str | None = Field(None, min_length=1, max_length=1000)


class EvaluationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    case_id: uuid.UUID
    closed_at: datetime = Field(description="the closure this rating is of")
    satisfaction: Satisfaction
    attitude_score: int
    speed_score: int
    result_score: int
    comment: str | None
    on_behalf: bool = Field(description="recorded by staff on a return visit (回访代评)")
    return_visit_id: uuid.UUID | None
    created_at: datetime


class ReopenRequestCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "井盖又松动了，还是很危险"}]}
    )

    reason: str = Field(min_length=1, max_length=1000)


class ReopenDecisionKind(StrEnum):
    reopen = "reopen"  # 差评整改: back to the handlers
    keep_closed = "keep_closed"  # 维持结案, with an explanation


class ReopenDecision(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"decision": "reopen", "explanation": "派城管复查井盖"},
                {"decision": "keep_closed", "explanation": "井盖属燃气公司，已告知来电人"},
            ]
        },
    )

    decision: ReopenDecisionKind
    explanation: str = Field(min_length=1, max_length=2000)


class ReopenRequestRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    case_id: uuid.UUID
    evaluation_id: uuid.UUID
    reason: str
    status: str = Field(examples=["pending"], description="pending, reopened or kept_closed")
    requested_by: str
    decided_by: str | None
    decided_at: datetime | None
    explanation: str | None
    created_at: datetime


class ReturnVisitOutcome(BaseModel):
    """What the reporter said on the phone. When the closure is not rated yet, a reached
    reporter's rating is required and is recorded on their behalf; when it is already rated
    (a dissatisfied follow-up), only the note is recorded."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "reached": True,
                    "satisfaction": "basically_satisfied",
                    "attitude_score": 4,
                    "speed_score": 3,
                    "result_score": 4,
                    "note": "来电人表示井盖已修好，希望加快速度",
                },
                {"reached": False, "note": "三次电话无人接听"},
            ]
        },
    )

    reached: bool = Field(description="whether the reporter was reached")
    satisfaction: Satisfaction | None = None
    attitude_score: int | None = Field(None, ge=1, le=5)
    speed_score: int | None = Field(None, ge=1, le=5)
    result_score: int | None = Field(None, ge=1, le=5)
    comment: str | None = Field(None, min_length=1, max_length=1000)
    note: str | None = Field(None, min_length=1, max_length=2000)


class ReturnVisitRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    case_id: uuid.UUID
    closed_at: datetime
    area_path: str
    reason: str = Field(description="sampled (抽样) or dissatisfied (差评)")
    status: str = Field(description="pending, done or unreachable")
    note: str | None
    completed_by: str | None
    completed_at: datetime | None
    evaluation_id: uuid.UUID | None
    created_at: datetime
