"""The running aggregate the indicators read: one fact row per case (``case_fact``), kept up to
date by a rollup of the cases marked dirty (``stats_dirty``) by triggers on every change of a
case, its deadlines and its evaluations (migration ``stat01``).

The 0/1 facts of a case (``FLAGS``) are packed into one integer, ``flags``: an indicator query
then groups by ``flags`` with a single ``count(*)`` per row — a few hundred combinations
occur — and sums the bits of the groups, instead of evaluating eighteen aggregates per row.
Handling time is stored to 0.1 working hour, so its average and exact p90 come from a second
grouping by value.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

FLAGS = (
    "accepted",
    "accepted_on_time",
    "dispatched",
    "resolved",
    "resolved_on_time",
    "resolved_ahead",
    "overdue_open",
    "overdue_closed",
    "self_handled",
    "on_spot",
    "escalated",
    "returned",
    "rework",
    "reopened",
    "closed",
    "rated",
    "satisfied",
    "dissatisfied",
)
FLAG_BITS = {name: 1 << i for i, name in enumerate(FLAGS)}
#: Facts on the negative list (负面清单): overdue, open or closed, or rated dissatisfied.
NEGATIVE_BITS = FLAG_BITS["overdue_open"] | FLAG_BITS["overdue_closed"] | FLAG_BITS["dissatisfied"]


def pack(values: dict[str, bool]) -> int:
    return sum(bit for name, bit in FLAG_BITS.items() if values.get(name))


class StatsDirty(SQLModel, table=True):
    """Cases changed since their fact row was last computed (filled by triggers)."""

    __tablename__ = "stats_dirty"

    case_id: uuid.UUID = Field(primary_key=True)


class CaseFact(SQLModel, table=True):
    __tablename__ = "case_fact"
    __table_args__ = (
        sa.Index("ix_case_fact_received_on", "received_on"),
        # covering: figures of an area below the district level (a street's communities) and
        # the negative list's counts are an index-only scan instead of a heap page per case
        # (migrations stat03, stat04)
        sa.Index(
            "ix_case_fact_area_path_c_received_on",
            sa.text('area_path COLLATE "C"'),
            "received_on",
            postgresql_include=["flags", "handling_hours", "handler_id"],
        ),
        # the negative list's case ids: only the facts overdue or rated dissatisfied (stat04)
        sa.Index(
            "ix_case_fact_negative",
            sa.text('area_path COLLATE "C"'),
            "received_on",
            postgresql_include=["handler_id", "received_at", "case_id", "flags"],
            postgresql_where=sa.text(f"flags & {NEGATIVE_BITS} <> 0"),
        ),
        sa.Index("ix_case_fact_department_id_received_on", "department_id", "received_on"),
        sa.Index("ix_case_fact_category_code_received_on", "category_code", "received_on"),
        sa.Index("ix_case_fact_department_ids", "department_ids", postgresql_using="gin"),
    )

    #: No foreign key on purpose: its check would take a KEY SHARE lock on the case row, which
    #: a lifecycle action holds FOR UPDATE while its trigger waits for the marker the rollup
    #: has claimed — a deadlock. Facts are derived data; the rollup writes only existing cases.
    case_id: uuid.UUID = Field(primary_key=True)
    received_on: date = Field(title="day reported, Asia/Shanghai (受理量 counts by it)")
    received_week: date = Field(title="Monday of the week reported (series by week)")
    received_month: date = Field(title="first day of the month reported (series by month)")
    received_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    area_path: str = Field(max_length=255)
    category_code: str = Field(max_length=32)
    department_id: str | None = Field(default=None, max_length=64, title="lead department")
    department_ids: list[str] = Field(
        default_factory=list,
        sa_column=sa.Column(ARRAY(sa.String(64)), nullable=False, server_default="{}"),
    )
    handler_id: str | None = Field(
        default=None, max_length=80, title="lead handler: department id or account id"
    )
    status: str = Field(max_length=20)
    handling_hours: float | None = Field(
        default=None, title="report → resolution, working hours (0.1 h); resolved cases only"
    )
    flags: int = Field(default=0, title="bit i set = FLAGS[i] holds (see FLAG_BITS)")


def fact_columns() -> Any:
    return CaseFact.__table__.c  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------- the summary
#
# ``case_fact`` holds a row per case: a district's year is a million rows to aggregate. The
# summary keeps, per calendar month of report, the sums the indicators need, in three
# "cuboids" (``dim``), each keyed so that it stays small whatever the mix of cases:
#
# * ``area``       — the area path cut to the street level (3 codes): district- and street-wide
#                    figures, figures by street, series by month;
# * ``category``   — the path cut to the district level (2 codes) × category (小类);
# * ``department`` — the path cut to the district level × lead department ('' = none);
# * ``week``       — the path cut to the district level, per calendar week (series by week):
#                    ``received_month`` then holds the week's Monday (migration stat03).
#
# ``case_tally`` has the case count and one count per flag; ``case_tally_hours`` the resolved
# cases per handling time (in tenths of an hour: exact, so p90 stays exact). The rollup keeps
# both in the transaction that changes a fact, by subtracting the old fact's contribution and
# adding the new one (``stats.rollup``). Queries the summary cannot answer (days that do not
# make a whole month, a deeper area, combined filters, department handlers' scope, the
# negative list, the heat map) read the facts (``stats.service``).

#: The cuboids and how many codes of the area path each keeps.
SUMMARY_DEPTH: dict[str, int] = {"area": 3, "category": 2, "department": 2, "week": 2}
#: The fact column giving each cuboid's period (stored in ``received_month``).
SUMMARY_PERIOD: dict[str, str] = {
    "area": "received_month",
    "category": "received_month",
    "department": "received_month",
    "week": "received_week",
}
NO_DEPARTMENT = ""  # the department key of cases without a lead department


def cut(path: str, depth: int) -> str:
    """The first ``depth`` codes of an area path."""
    return ".".join(path.split(".")[:depth])


def _key_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("dim", sa.String(10), primary_key=True),
        sa.Column("received_month", sa.Date, primary_key=True),
        sa.Column("area_path", sa.String(255, collation="C"), primary_key=True),
        sa.Column("key", sa.String(64), primary_key=True),
    ]


TALLY = sa.Table(
    "case_tally",
    SQLModel.metadata,
    *_key_columns(),
    sa.Column("n", sa.Integer, nullable=False),
    *(sa.Column(name, sa.Integer, nullable=False) for name in FLAGS),
)
TALLY_HOURS = sa.Table(
    "case_tally_hours",
    SQLModel.metadata,
    *_key_columns(),
    sa.Column("tenths", sa.Integer, primary_key=True),
    sa.Column("n", sa.Integer, nullable=False),
)
