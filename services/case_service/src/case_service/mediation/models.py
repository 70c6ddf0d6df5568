"""Tables of dispute mediation (矛盾纠纷调处): the file, its parties, mediators, sessions,
agreement terms, the reveal audit of parties and the documents' templates."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel

from shared.db import utcnow


def _ts(nullable: bool = False) -> Any:
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable)


class Dispute(SQLModel, table=True):
    """A dispute's mediation file (一档一册), one per case."""

    __tablename__ = "dispute"
    __table_args__ = (
        sa.UniqueConstraint("case_id", name="uq_dispute_case_id"),
        sa.Index("ix_dispute_level_area_path_created_at", "level_area_path", "created_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="case.id")
    status: str = Field(max_length=24, title="registered, accepted, mediating … (lifecycle)")
    level: str = Field(max_length=16, title="community, street, city (调解层级)")
    level_area_path: str = Field(max_length=255)
    dispute_type: str = Field(max_length=64, title="纠纷类型")
    facts: str | None = Field(default=None, sa_column=sa.Column(sa.Text(), nullable=True))
    people_involved: int = Field(title="涉及人数")
    amount_yuan: Decimal | None = Field(
        default=None, sa_column=sa.Column(sa.Numeric(14, 2), nullable=True)
    )
    risk_level: str = Field(max_length=10, title="general 一般, serious 较大, major 重大")
    escalating: bool = Field(default=False, title="可能激化")
    converted: bool = Field(default=False, title="turned into a dispute by a dispatcher")
    refused_reason: str | None = Field(default=None, max_length=500)
    accepted_at: datetime | None = Field(default=None, sa_column=_ts(True))
    due_at: datetime | None = Field(default=None, sa_column=_ts(True))
    extensions: Any = Field(default_factory=list, sa_column=sa.Column(JSONB, nullable=False))
    responsibility: str | None = Field(default=None, sa_column=sa.Column(sa.Text(), nullable=True))
    outcome_reason: str | None = Field(default=None, max_length=500)
    agreed_at: datetime | None = Field(default=None, sa_column=_ts(True))
    judicial_status: str = Field(default="none", max_length=12)
    judicial_court: str | None = Field(default=None, max_length=100)
    judicial_applied_at: datetime | None = Field(default=None, sa_column=_ts(True))
    judicial_decided_at: datetime | None = Field(default=None, sa_column=_ts(True))
    referred_department_id: str | None = Field(default=None, max_length=64)
    closed_at: datetime | None = Field(default=None, sa_column=_ts(True))
    version: int = 1
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class DisputeParty(SQLModel, table=True):
    """A party (当事人): name, phone and ID number encrypted like a reporter's."""

    __tablename__ = "dispute_party"
    __table_args__ = (
        sa.Index("ix_dispute_party_dispute_id_ord", "dispute_id", "ord"),
        sa.Index("ix_dispute_party_phone_hash", "phone_hash"),
        sa.Index("ix_dispute_party_id_number_hash", "id_number_hash"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    dispute_id: uuid.UUID = Field(foreign_key="dispute.id")
    ord: int
    side: str = Field(max_length=12, title="applicant 申请人, respondent 被申请人")
    kind: str = Field(max_length=12, title="person 自然人, organisation 法人/组织")
    name: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    phone: str | None = Field(default=None, sa_column=sa.Column(sa.Text(), nullable=True))
    phone_hash: str | None = Field(default=None, max_length=64)
    id_number: str | None = Field(default=None, sa_column=sa.Column(sa.Text(), nullable=True))
    id_number_hash: str | None = Field(default=None, max_length=64)
    address: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class DisputeMediator(SQLModel, table=True):
    """A grid_service member assigned to mediate (or the backup answering for one: AB岗)."""

    __tablename__ = "dispute_mediator"
    __table_args__ = (sa.Index("ix_dispute_mediator_dispute_id", "dispute_id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    dispute_id: uuid.UUID = Field(foreign_key="dispute.id")
    member_id: uuid.UUID
    account_id: str | None = Field(default=None, max_length=64)
    name: str = Field(max_length=100)
    post: str = Field(max_length=32)
    area_path: str = Field(max_length=400)
    level: str = Field(max_length=16)
    backup_for_member_id: uuid.UUID | None = None
    active: bool = True
    assigned_by: str = Field(max_length=64)
    assigned_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class DisputeSession(SQLModel, table=True):
    """A mediation session: when, where, who attended, and its record (调解笔录)."""

    __tablename__ = "dispute_session"
    __table_args__ = (
        sa.UniqueConstraint("dispute_id", "number", name="uq_dispute_session_number"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    dispute_id: uuid.UUID = Field(foreign_key="dispute.id")
    number: int
    level: str = Field(max_length=16)
    starts_at: datetime = Field(sa_column=_ts())
    place: str = Field(max_length=200)
    attendees: list[str] = Field(
        default_factory=list, sa_column=sa.Column(ARRAY(sa.Text()), nullable=False)
    )
    notified: int = 0
    record: str | None = Field(default=None, sa_column=sa.Column(sa.Text(), nullable=True))
    recorded_at: datetime | None = Field(default=None, sa_column=_ts(True))
    recorded_by: str | None = Field(default=None, max_length=64)
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class DisputeTerm(SQLModel, table=True):
    """One term of the agreement (协议条款): what, how, where, by when, and its performance."""

    __tablename__ = "dispute_term"
    __table_args__ = (sa.Index("ix_dispute_term_dispute_id_ord", "dispute_id", "ord"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    dispute_id: uuid.UUID = Field(foreign_key="dispute.id")
    ord: int
    content: str = Field(max_length=1000)
    manner: str = Field(max_length=200, title="履行方式")
    place: str = Field(max_length=200, title="履行地点")
    deadline_on: date = Field(title="履行期限")
    visit_due_at: datetime = Field(sa_column=_ts())
    performance: str = Field(default="pending", max_length=16)
    visited_at: datetime | None = Field(default=None, sa_column=_ts(True))
    visit_note: str | None = Field(default=None, max_length=500)
    urged_at: datetime | None = Field(default=None, sa_column=_ts(True))


class DisputePartyReveal(SQLModel, table=True):
    """One reveal of a dispute's parties in full (name, phone, ID number): who, when, why.
    Append-only (a trigger refuses updates and deletes)."""

    __tablename__ = "dispute_party_reveal"
    __table_args__ = (
        sa.Index("ix_dispute_party_reveal_dispute_id_created_at", "dispute_id", "created_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    dispute_id: uuid.UUID = Field(foreign_key="dispute.id")
    actor_id: str = Field(max_length=64)
    actor_roles: list[str] = Field(
        default_factory=list, sa_column=sa.Column(ARRAY(sa.Text()), nullable=False)
    )
    reason: str = Field(max_length=500)
    purpose: str = Field(max_length=20, title="read, agreement_docx, record_docx")
    request_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class MediationTemplate(SQLModel, table=True):
    """An administrator's version of a document template (调解协议书 / 调解笔录)."""

    __tablename__ = "mediation_template"
    __table_args__ = (sa.UniqueConstraint("kind", name="uq_mediation_template_kind"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    kind: str = Field(max_length=20, title="agreement, record")
    title: str = Field(max_length=100)
    blocks: Any = Field(default_factory=list, sa_column=sa.Column(JSONB, nullable=False))
    version: int = 1
    updated_by: str = Field(max_length=64)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class ScreeningReport(SQLModel, table=True):
    """A grid's screening report (排查报告) for one period: the disputes found, or a zero
    report (零报告). One per grid and period."""

    __tablename__ = "screening_report"
    __table_args__ = (
        sa.UniqueConstraint("grid_path", "period", name="uq_screening_report_grid_period"),
        sa.Index(
            "ix_screening_report_period_grid_path_id",
            "period",
            sa.text('grid_path COLLATE "C"'),
            "id",
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    grid_area_id: uuid.UUID = Field(title="grid_service area id of the grid")
    grid_path: str = Field(max_length=255)
    grid_name: str = Field(max_length=100)
    period: str = Field(max_length=10, title="2026-12 (month) or 2026-W49 (week)")
    period_start: date
    period_end: date = Field(title="the period's last day")
    zero_report: bool = Field(title="零报告: nothing found")
    dispute_ids: list[uuid.UUID] = Field(
        default_factory=list, sa_column=sa.Column(ARRAY(sa.Uuid()), nullable=False)
    )
    note: str | None = Field(default=None, max_length=1000)
    late: bool = Field(default=False, title="filed after the period's deadline")
    filed_by: str = Field(max_length=64)
    filed_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class MediationNotice(SQLModel, table=True):
    """A message of the mediation work to people (screening reminders, the monthly report to
    the committee above, departments told of a 重大 dispute, an overdue mediation), relayed to
    notify_service. ``dedup_key`` is unique: a reminder is written once per grid and period
    however many replicas sweep. ``recipients`` says whom to ask grid_service for; the relay
    stores the answer in ``account_ids``."""

    __tablename__ = "mediation_notice"
    __table_args__ = (
        sa.UniqueConstraint("dedup_key", name="uq_mediation_notice_dedup_key"),
        sa.Index(
            "ix_mediation_notice_pending",
            "next_attempt_at",
            "created_at",
            postgresql_where=sa.text("relayed_at IS NULL"),
        ),
        sa.Index("ix_mediation_notice_kind_created_at", "kind", "created_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    kind: str = Field(max_length=32, title="screening_reminder, monthly_report, major, overdue")
    dedup_key: str = Field(max_length=255)
    template_key: str = Field(max_length=64)
    variables: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(JSONB, nullable=False)
    )
    priority: str = Field(default="normal", max_length=12)
    recipients: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(JSONB, nullable=False)
    )
    account_ids: list[str] | None = Field(
        default=None, sa_column=sa.Column(ARRAY(sa.String(64)), nullable=True)
    )
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    attempts: int = 0
    relayed_at: datetime | None = Field(default=None, sa_column=_ts(True))
    last_error: str | None = Field(default=None, max_length=500)


class MonthlyReport(SQLModel, table=True):
    """The monthly information report (信息报告) of an area to the committee above."""

    __tablename__ = "mediation_monthly_report"
    __table_args__ = (
        sa.UniqueConstraint("area_path", "month", name="uq_mediation_monthly_report_area_month"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    area_path: str = Field(max_length=255)
    area_name: str = Field(max_length=100)
    month: str = Field(max_length=7, title="YYYY-MM reported")
    content: bytes = Field(sa_column=sa.Column(sa.LargeBinary(), nullable=False))
    summary: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(JSONB, nullable=False)
    )
    generated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
