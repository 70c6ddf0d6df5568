"""statistics summary: per-month sums of the facts (case_tally, case_tally_hours)

Revision ID: stat02
Revises: eval01
Create Date: 2026-11-23 22:00:00+00:00

The indicators read whole months from these tables and only the days at the edges of a period
from ``case_fact`` (see ``case_service.stats.models``). The rollup keeps them in the
transaction that changes a fact; this migration derives them once from the facts there are.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "stat02"
down_revision: str | None = "eval01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FLAGS = [
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
]

#: The summary derived from the facts (``stats.rollup.summary_from_facts_sql`` at this revision).
BACKFILL = [
    "INSERT INTO case_tally (dim, received_month, area_path, key, n, accepted, accepted_on_time, dispatched, resolved, resolved_on_time, resolved_ahead, overdue_open, overdue_closed, self_handled, on_spot, escalated, returned, rework, reopened, closed, rated, satisfied, dissatisfied) SELECT 'area', received_month, array_to_string((string_to_array(area_path, '.'))[1:3], '.'), '', count(*), count(*) FILTER (WHERE flags & 1 <> 0), count(*) FILTER (WHERE flags & 2 <> 0), count(*) FILTER (WHERE flags & 4 <> 0), count(*) FILTER (WHERE flags & 8 <> 0), count(*) FILTER (WHERE flags & 16 <> 0), count(*) FILTER (WHERE flags & 32 <> 0), count(*) FILTER (WHERE flags & 64 <> 0), count(*) FILTER (WHERE flags & 128 <> 0), count(*) FILTER (WHERE flags & 256 <> 0), count(*) FILTER (WHERE flags & 512 <> 0), count(*) FILTER (WHERE flags & 1024 <> 0), count(*) FILTER (WHERE flags & 2048 <> 0), count(*) FILTER (WHERE flags & 4096 <> 0), count(*) FILTER (WHERE flags & 8192 <> 0), count(*) FILTER (WHERE flags & 16384 <> 0), count(*) FILTER (WHERE flags & 32768 <> 0), count(*) FILTER (WHERE flags & 65536 <> 0), count(*) FILTER (WHERE flags & 131072 <> 0) FROM case_fact GROUP BY 1, 2, 3, 4 UNION ALL SELECT 'category', received_month, array_to_string((string_to_array(area_path, '.'))[1:2], '.'), category_code, count(*), count(*) FILTER (WHERE flags & 1 <> 0), count(*) FILTER (WHERE flags & 2 <> 0), count(*) FILTER (WHERE flags & 4 <> 0), count(*) FILTER (WHERE flags & 8 <> 0), count(*) FILTER (WHERE flags & 16 <> 0), count(*) FILTER (WHERE flags & 32 <> 0), count(*) FILTER (WHERE flags & 64 <> 0), count(*) FILTER (WHERE flags & 128 <> 0), count(*) FILTER (WHERE flags & 256 <> 0), count(*) FILTER (WHERE flags & 512 <> 0), count(*) FILTER (WHERE flags & 1024 <> 0), count(*) FILTER (WHERE flags & 2048 <> 0), count(*) FILTER (WHERE flags & 4096 <> 0), count(*) FILTER (WHERE flags & 8192 <> 0), count(*) FILTER (WHERE flags & 16384 <> 0), count(*) FILTER (WHERE flags & 32768 <> 0), count(*) FILTER (WHERE flags & 65536 <> 0), count(*) FILTER (WHERE flags & 131072 <> 0) FROM case_fact GROUP BY 1, 2, 3, 4 UNION ALL SELECT 'department', received_month, array_to_string((string_to_array(area_path, '.'))[1:2], '.'), coalesce(department_id, ''), count(*), count(*) FILTER (WHERE flags & 1 <> 0), count(*) FILTER (WHERE flags & 2 <> 0), count(*) FILTER (WHERE flags & 4 <> 0), count(*) FILTER (WHERE flags & 8 <> 0), count(*) FILTER (WHERE flags & 16 <> 0), count(*) FILTER (WHERE flags & 32 <> 0), count(*) FILTER (WHERE flags & 64 <> 0), count(*) FILTER (WHERE flags & 128 <> 0), count(*) FILTER (WHERE flags & 256 <> 0), count(*) FILTER (WHERE flags & 512 <> 0), count(*) FILTER (WHERE flags & 1024 <> 0), count(*) FILTER (WHERE flags & 2048 <> 0), count(*) FILTER (WHERE flags & 4096 <> 0), count(*) FILTER (WHERE flags & 8192 <> 0), count(*) FILTER (WHERE flags & 16384 <> 0), count(*) FILTER (WHERE flags & 32768 <> 0), count(*) FILTER (WHERE flags & 65536 <> 0), count(*) FILTER (WHERE flags & 131072 <> 0) FROM case_fact GROUP BY 1, 2, 3, 4",
    "INSERT INTO case_tally_hours (dim, received_month, area_path, key, tenths, n) SELECT 'area', received_month, array_to_string((string_to_array(area_path, '.'))[1:3], '.'), '', round(handling_hours * 10)::int, count(*) FROM case_fact WHERE handling_hours IS NOT NULL GROUP BY 1, 2, 3, 4, 5 UNION ALL SELECT 'category', received_month, array_to_string((string_to_array(area_path, '.'))[1:2], '.'), category_code, round(handling_hours * 10)::int, count(*) FROM case_fact WHERE handling_hours IS NOT NULL GROUP BY 1, 2, 3, 4, 5 UNION ALL SELECT 'department', received_month, array_to_string((string_to_array(area_path, '.'))[1:2], '.'), coalesce(department_id, ''), round(handling_hours * 10)::int, count(*) FROM case_fact WHERE handling_hours IS NOT NULL GROUP BY 1, 2, 3, 4, 5",
]


def _keys() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("dim", sa.String(10), nullable=False),
        sa.Column("received_month", sa.Date(), nullable=False),
        sa.Column("area_path", sa.String(255, collation="C"), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "case_tally",
        *_keys(),
        sa.Column("n", sa.Integer(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in FLAGS),
        sa.PrimaryKeyConstraint(
            "dim", "received_month", "area_path", "key", name=op.f("pk_case_tally")
        ),
    )
    op.create_table(
        "case_tally_hours",
        *_keys(),
        sa.Column("tenths", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "dim",
            "received_month",
            "area_path",
            "key",
            "tenths",
            name=op.f("pk_case_tally_hours"),
        ),
    )
    for statement in BACKFILL:
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("case_tally_hours")
    op.drop_table("case_tally")
