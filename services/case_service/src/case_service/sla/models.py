"""Time limits: policies, calendar overrides, per-case deadlines, timers, extensions and
supervision (督办/催办)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from shared.db import utcnow


def _ts(*, nullable: bool = False) -> Any:
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable)


class SlaPolicy(SQLModel, table=True):
    """Time limits per category, priority and handling level. Editing creates a new version;
    a case keeps the limits it started under (copied onto its deadlines)."""

    __tablename__ = "sla_policy"
    __table_args__ = (
        sa.Index("ix_sla_policy_match", "active", "category_code", "priority", "handling_level"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=100)
    category_code: str | None = Field(default=None, max_length=32, title="null: any category")
    kind: str | None = Field(default=None, max_length=20, title="null: any kind")
    priority: str | None = Field(default=None, max_length=20, title="null: any priority")
    handling_level: str | None = Field(default=None, max_length=20, title="null: any level")
    limits: dict[str, Any] = Field(
        sa_column=sa.Column(JSONB, nullable=False),
        title="{accept|dispatch|first_response|resolve: {amount, unit}}",
    )
    reminder_ratio: float = Field(default=0.75, title="share of the limit used when reminded")
    auto_escalate: bool = Field(default=False, title="escalate on an overdue resolution")
    version: int = 1
    active: bool = True
    created_by: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class CalendarOverride(SQLModel, table=True):
    """A day an admin declares working or not, for a jurisdiction (an area path; '' = all)."""

    __tablename__ = "calendar_override"
    __table_args__ = (sa.UniqueConstraint("jurisdiction_path", "day"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    jurisdiction_path: str = Field(default="", max_length=255)
    day: date
    is_workday: bool
    reason: str = Field(max_length=200)
    created_by: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class CaseDeadline(SQLModel, table=True):
    """One time limit of one case at one handling level."""

    __tablename__ = "case_deadline"
    __table_args__ = (
        sa.Index("ix_case_deadline_case_id_status", "case_id", "status"),
        sa.Index(
            "ix_case_deadline_overdue_at",
            "overdue_at",
            postgresql_where=sa.text("overdue_at IS NOT NULL"),
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="case.id")
    kind: str = Field(max_length=20, title="accept, dispatch, first_response, resolve")
    handling_level: str | None = Field(default=None, max_length=20)
    handling_area_path: str | None = Field(default=None, max_length=255)
    policy_id: uuid.UUID | None = None
    policy_version: int | None = None
    amount: float
    unit: str = Field(max_length=20)
    total_seconds: int = Field(title="the limit in its own time (working or clock), seconds")
    reminder_ratio: float = 0.75
    auto_escalate: bool = False
    status: str = Field(default="open", max_length=20, title="open, paused, met, cancelled")
    started_at: datetime = Field(sa_column=_ts())
    due_at: datetime = Field(sa_column=_ts())
    paused_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    reminded_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    overdue_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    met_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    extension_count: int = 0


class SlaTimer(SQLModel, table=True):
    """A moment something must happen. Claimed with FOR UPDATE SKIP LOCKED; the scan reads only
    the partial index of unfired timers, so its cost follows due timers, not open cases."""

    __tablename__ = "sla_timer"
    __table_args__ = (
        sa.Index("ix_sla_timer_due", "due_at", postgresql_where=sa.text("fired_at IS NULL")),
        sa.Index("ix_sla_timer_deadline_id", "deadline_id"),
        sa.Index("ix_sla_timer_supervision_id", "supervision_id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="case.id")
    kind: str = Field(max_length=20, title="reminder, overdue, supervision_due, visit_due")
    deadline_id: uuid.UUID | None = Field(default=None, foreign_key="case_deadline.id")
    supervision_id: uuid.UUID | None = Field(default=None, foreign_key="supervision.id")
    dispute_term_id: uuid.UUID | None = Field(
        default=None, foreign_key="dispute_term.id", title="visit_due: the agreement term"
    )
    due_at: datetime = Field(sa_column=_ts())
    fired_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class Extension(SQLModel, table=True):
    """A handler's request for more time (延期) and the decision on it."""

    __tablename__ = "deadline_extension"
    __table_args__ = (sa.Index("ix_deadline_extension_case_id", "case_id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="case.id")
    deadline_id: uuid.UUID = Field(foreign_key="case_deadline.id")
    amount: float
    unit: str = Field(max_length=20)
    reason: str = Field(max_length=1000)
    status: str = Field(default="pending", max_length=20, title="pending, approved, refused")
    requested_by: str = Field(max_length=64)
    requested_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    decided_by: str | None = Field(default=None, max_length=64)
    decided_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    decision_reason: str | None = Field(default=None, max_length=1000)
    previous_due_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    new_due_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class Supervision(SQLModel, table=True):
    """A supervision record: opened by hand (催办 urge, 督办 supervise) or on overdue."""

    __tablename__ = "supervision"
    __table_args__ = (
        sa.Index("ix_supervision_case_id", "case_id"),
        sa.Index("ix_supervision_status_created_at_id", "status", "created_at", "id"),
        sa.Index(
            "ix_supervision_area_path_created_at_id",
            sa.text('area_path COLLATE "C"'),
            "created_at",
            "id",
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="case.id")
    kind: str = Field(max_length=20, title="urge (催办), supervise (督办), overdue")
    area_path: str = Field(max_length=255, title="the case's handling level, for scope")
    reason: str = Field(max_length=1000)
    opened_by: str | None = Field(default=None, max_length=64, title="null: opened by the system")
    response_due_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    status: str = Field(default="open", max_length=20, title="open, responded, lapsed")
    response: str | None = Field(default=None, max_length=2000)
    responded_by: str | None = Field(default=None, max_length=64)
    responded_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
