"""Evaluations (评价) of a closure, reopen requests (差评整改申请) and return visits (回访)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from shared.db import utcnow


def _ts(*, nullable: bool = False) -> Any:
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable)


class Evaluation(SQLModel, table=True):
    """The reporter's rating of one closure of a case: one per closure (``closed_at``)."""

    __tablename__ = "evaluation"
    __table_args__ = (
        sa.UniqueConstraint("case_id", "closed_at", name="uq_evaluation_case_id_closed_at"),
        sa.Index("ix_evaluation_created_at_id", "created_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="case.id")
    closed_at: datetime = Field(sa_column=_ts(), title="the closure rated (结案时间)")
    satisfaction: str = Field(
        max_length=20, title="满意度: satisfied, basically_satisfied, dissatisfied"
    )
    attitude_score: int = Field(title="态度 1-5")
    speed_score: int = Field(title="速度 1-5")
    result_score: int = Field(title="结果 1-5")
    comment: str | None = Field(default=None, max_length=1000)
    reporter_account_id: str | None = Field(default=None, max_length=64)
    on_behalf: bool = Field(default=False, title="recorded by staff on a return visit (回访代评)")
    recorded_by: str = Field(max_length=64)
    return_visit_id: uuid.UUID | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class ReopenRequest(SQLModel, table=True):
    """A dissatisfied reporter's request to reopen, and the dispatcher's decision on it."""

    __tablename__ = "reopen_request"
    __table_args__ = (
        sa.Index("ix_reopen_request_case_id", "case_id"),
        sa.Index(
            "uq_reopen_request_pending",
            "case_id",
            unique=True,
            postgresql_where=sa.text("status = 'pending'"),
        ),
        sa.Index(
            "ix_reopen_request_status_area_path_c",
            "status",
            sa.text('area_path COLLATE "C"'),
            "created_at",
            "id",
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="case.id")
    evaluation_id: uuid.UUID = Field(foreign_key="evaluation.id")
    area_path: str = Field(max_length=255, title="the case's area, for scope")
    reason: str = Field(max_length=1000)
    status: str = Field(default="pending", max_length=20, title="pending, reopened, kept_closed")
    requested_by: str = Field(max_length=64)
    decided_by: str | None = Field(default=None, max_length=64)
    decided_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    explanation: str | None = Field(default=None, max_length=2000)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class ReturnVisit(SQLModel, table=True):
    """A staff task to call a reporter back (回访) about one closure of a case."""

    __tablename__ = "return_visit"
    __table_args__ = (
        sa.UniqueConstraint("case_id", "closed_at", name="uq_return_visit_case_id_closed_at"),
        sa.Index(
            "ix_return_visit_status_area_path_c",
            "status",
            sa.text('area_path COLLATE "C"'),
            "created_at",
            "id",
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="case.id")
    closed_at: datetime = Field(sa_column=_ts())
    area_path: str = Field(max_length=255)
    reason: str = Field(max_length=20, title="sampled (抽样) or dissatisfied (差评)")
    status: str = Field(default="pending", max_length=20, title="pending, done, unreachable")
    note: str | None = Field(default=None, max_length=2000)
    completed_by: str | None = Field(default=None, max_length=64)
    completed_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    evaluation_id: uuid.UUID | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
