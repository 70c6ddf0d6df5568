"""Cases (事件/诉求), their handlers and their append-only timeline."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel

from shared.db import utcnow

OPEN_STATUSES = (
    "reported",
    "accepted",
    "dispatched",
    "in_progress",
    "returned",
    "escalated",
    "reopened",
)


def _ts(*, nullable: bool = False, index: bool = False) -> Any:
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable, index=index)


def _text_array() -> Any:
    return sa.Column(ARRAY(sa.String(64)), nullable=False, server_default="{}")


class Case(SQLModel, table=True):
    __tablename__ = "case"
    __table_args__ = (
        sa.Index("ix_case_created_at_id", "created_at", "id"),
        sa.Index("ix_case_updated_at_id", "updated_at", "id"),
        sa.Index("ix_case_status_created_at_id", "status", "created_at", "id"),
        sa.Index("ix_case_category_code_created_at_id", "category_code", "created_at", "id"),
        sa.Index("ix_case_priority_created_at_id", "priority", "created_at", "id"),
        sa.Index("ix_case_channel_created_at_id", "channel", "created_at", "id"),
        sa.Index(
            "ix_case_reporter_account_id_created_at_id", "reporter_account_id", "created_at", "id"
        ),
        sa.Index(
            "ix_case_reporter_phone_hash_created_at_id",
            "reporter_phone_hash",
            "created_at",
            "id",
            postgresql_where=sa.text("reporter_phone_hash IS NOT NULL"),
        ),
        sa.Index(
            "ix_case_closed_at_phone_kept",
            "closed_at",
            postgresql_where=sa.text("closed_at IS NOT NULL AND reporter_phone IS NOT NULL"),
        ),
        sa.Index("ix_case_assignee_account_ids", "assignee_account_ids", postgresql_using="gin"),
        sa.Index("ix_case_department_ids", "department_ids", postgresql_using="gin"),
        sa.Index(
            "ix_case_description_trgm",
            "description",
            postgresql_using="gin",
            postgresql_ops={"description": "gin_trgm_ops"},
        ),
        sa.Index(
            "ix_case_due_at_open",
            "due_at",
            postgresql_where=sa.text(
                "status IN ('reported','accepted','dispatched','in_progress','returned',"
                "'escalated','reopened')"
            ),
        ),
        sa.Index(
            "uq_case_source_external_id",
            "source",
            "external_id",
            unique=True,
            postgresql_where=sa.text("source IS NOT NULL"),
        ),
        sa.Index("ix_case_merged_into_id", "merged_into_id"),
        # the dispatchers' "to place" list (待定位)
        sa.Index(
            "ix_case_to_locate_created_at_id",
            "created_at",
            "id",
            postgresql_where=sa.text("location_status = 'to_locate'"),
        ),
        # duplicates at intake: open cases of a category inside a bounding box
        sa.Index(
            "ix_case_duplicate_lookup",
            "category_code",
            "lat",
            "lng",
            postgresql_where=sa.text(
                "status IN ('reported','accepted','dispatched','in_progress','returned',"
                "'escalated','reopened')"
            ),
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    case_number: str = Field(max_length=24, unique=True, title="案件编号")
    version: int = Field(default=1, title="bumped by every change; the ETag")
    status: str = Field(max_length=20)
    suspended_from: str | None = Field(default=None, max_length=20)
    # what it is
    category_id: uuid.UUID = Field(foreign_key="category.id", title="the category version")
    category_code: str = Field(max_length=32)
    category_name: str = Field(max_length=100)
    kind: str = Field(max_length=20)
    routing: str = Field(max_length=20)
    handling_class: str = Field(max_length=20)
    priority: str = Field(max_length=20)
    major: bool = Field(default=False, title="major incident (重大事件): report upward at once")
    # what a resident or another platform asked for (only staff set priority and major; the
    # dispatcher decides on these at accept)
    requested_priority: str | None = Field(
        default=None, max_length=20, title="urgency the reporter asked for (a request)"
    )
    requested_major: bool = Field(
        default=False,
        sa_column=sa.Column(sa.Boolean(), nullable=False, server_default=sa.false()),
        title="the reporter asked for a major incident (a request)",
    )
    title: str = Field(max_length=100)
    description: str = Field(max_length=4000)
    attributes: Any = Field(default_factory=dict, sa_column=sa.Column(JSONB, nullable=False))
    channel: str = Field(max_length=20)
    source: str | None = Field(default=None, max_length=64)
    external_id: str | None = Field(default=None, max_length=128)
    occurred_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    # where
    lat: float | None = Field(default=None, title="WGS84")
    lng: float | None = Field(default=None, title="WGS84")
    address: str | None = Field(default=None, max_length=500)
    address_id: uuid.UUID | None = Field(
        default=None, title="the standard address (标准地址) the address matched, in grid_service"
    )
    location_status: str = Field(
        default="located",
        max_length=12,
        title="located (placed in an area) or to_locate (待定位: an address matching nothing)",
    )
    area_id: uuid.UUID | None = None
    area_code: str | None = Field(default=None, max_length=32)
    area_name: str | None = Field(default=None, max_length=100)
    area_path: str = Field(max_length=255, title="dot path of area codes from the root")
    area_chain: Any = Field(
        default_factory=list,
        sa_column=sa.Column(JSONB, nullable=False),
        title="[{path, level, name}] root first: the levels a case can be escalated through",
    )
    handling_area_path: str = Field(max_length=255, title="the level handling it now")
    handling_level: str | None = Field(
        default=None, max_length=20, title="level of handling_area_path (time limits hook)"
    )
    # who reported
    reporter_account_id: str | None = Field(default=None, max_length=64)
    # name and phone are ciphertexts (shared.pii: "<key id>:<base64>", AES-256-GCM); the phone's
    # keyed lookup hash finds a caller's cases; the phone is erased a while after closure
    reporter_name: str | None = Field(default=None, sa_column=sa.Column(sa.Text()))
    reporter_phone: str | None = Field(default=None, sa_column=sa.Column(sa.Text()))
    reporter_phone_hash: str | None = Field(default=None, max_length=64)
    reporter_phone_erased_at: datetime | None = Field(
        default=None, sa_column=sa.Column(sa.DateTime(timezone=True))
    )
    anonymous: bool = False
    reported_by_account_id: str = Field(max_length=64, title="who filed it (代办: staff)")
    on_behalf: bool = Field(default=False, title="代办: filed by staff for a resident")
    # who handles
    assignee_account_ids: list[str] = Field(default_factory=list, sa_column=_text_array())
    department_ids: list[str] = Field(default_factory=list, sa_column=_text_array())
    # outcome
    result: str | None = Field(default=None, max_length=4000)
    # what the public may read about the outcome (公开答复), written apart from the internal
    # result: the only text the public Open311 feed shows as status_notes
    public_reply: str | None = Field(default=None, max_length=4000)
    self_handled: bool = Field(default=False, title="自行处置")
    rating: int | None = None
    rating_comment: str | None = Field(default=None, max_length=1000)
    merged_into_id: uuid.UUID | None = Field(default=None, foreign_key="case.id")
    supporter_count: int = Field(default=0, title="reports merged into this one")
    support_count: int = Field(
        default=0,
        sa_column=sa.Column(sa.Integer(), nullable=False, server_default="0"),
        title="residents who added their support (附议, case_support rows)",
    )
    due_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    resolved_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    closed_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


#: Area subtrees are byte-ordered ranges of the dot path (``p`` ≤ path < ``p/``), so these
#: indexes use the C collation whatever the database's default is.
_case_table: sa.Table = Case.__table__  # type: ignore[attr-defined]
sa.Index(
    "ix_case_area_path_c_created_at",
    sa.collate(_case_table.c.area_path, "C"),
    _case_table.c.created_at,
)
sa.Index("ix_case_handling_area_path_c", sa.collate(_case_table.c.handling_area_path, "C"))
#: Lists of open cases (overdue, open statuses) in the keyset order: ``due_at`` and the area path
#: are key columns so the overdue and subtree conditions are checked on the index entries.
sa.Index(
    "ix_case_open_created_at_id",
    _case_table.c.created_at,
    _case_table.c.id,
    _case_table.c.due_at,
    sa.collate(_case_table.c.area_path, "C"),
    postgresql_where=sa.text(
        "status IN ('reported','accepted','dispatched','in_progress','returned',"
        "'escalated','reopened')"
    ),
)


class CaseSupport(SQLModel, table=True):
    """A resident's support (附议/+1) of a case like the one they reported: one per account and
    case (the unique constraint makes a repeated support a no-op)."""

    __tablename__ = "case_support"
    __table_args__ = (sa.UniqueConstraint("case_id", "account_id", name="uq_case_support"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="case.id", title="the case supported")
    account_id: str = Field(max_length=64, title="the supporting resident")
    via_case_id: uuid.UUID = Field(
        foreign_key="case.id", title="the supporter's own report it was found near"
    )
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class CaseAssignment(SQLModel, table=True):
    """One handler of a case: a grid worker (account) or a department, lead or co-handler."""

    __tablename__ = "case_assignment"
    __table_args__ = (sa.Index("ix_case_assignment_case_id_state", "case_id", "state"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="case.id")
    role: str = Field(max_length=10, title="lead (主办) or co (协办)")
    account_id: str | None = Field(default=None, max_length=64)
    department_id: str | None = Field(default=None, max_length=64)
    state: str = Field(default="active", max_length=20, title="active, finished, ended")
    result: str | None = Field(default=None, max_length=4000)
    assigned_by: str = Field(max_length=64)
    assigned_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    finished_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class TimelineEntry(SQLModel, table=True):
    """Append-only: a trigger refuses UPDATE and DELETE (migration 0002)."""

    __tablename__ = "timeline_entry"
    __table_args__ = (sa.Index("ix_timeline_entry_case_id_created_at", "case_id", "created_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="case.id")
    kind: str = Field(
        max_length=20, title="transition, comment, part_finished, rating, notification"
    )
    action: str | None = Field(default=None, max_length=20)
    from_status: str | None = Field(default=None, max_length=20)
    to_status: str | None = Field(default=None, max_length=20)
    actor_id: str | None = Field(default=None, max_length=64)
    actor_roles: list[str] = Field(default_factory=list, sa_column=_text_array())
    reason: str | None = Field(default=None, max_length=4000)
    visibility: str = Field(default="internal", max_length=10, title="public or internal")
    attachment_ids: list[uuid.UUID] = Field(
        default_factory=list,
        sa_column=sa.Column(ARRAY(sa.Uuid()), nullable=False, server_default="{}"),
    )
    data: Any = Field(default_factory=dict, sa_column=sa.Column(JSONB, nullable=False))
    case_version: int
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
