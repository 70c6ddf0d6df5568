"""statistics summary by week at district level; the area index of the facts covers flags and
handling time

Revision ID: stat03
Revises: stat02
Create Date: 2026-11-23 23:00:00+00:00

Series by week read whole weeks from the summary (dim ``week``: the area path cut to the
district, ``received_month`` holding the week's Monday) and only the edge days from the facts.
Figures of areas below the district (a street's communities) read ``flags`` and
``handling_hours`` from the area index (an index-only scan) instead of a heap page per case.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "stat03"
down_revision: str | None = "stat02"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The week cuboid derived from the facts (``stats.rollup.summary_from_facts_sql(("week",))``
#: at this revision).
BACKFILL = [
    "INSERT INTO case_tally (dim, received_month, area_path, key, n, accepted, accepted_on_time, dispatched, resolved, resolved_on_time, resolved_ahead, overdue_open, overdue_closed, self_handled, on_spot, escalated, returned, rework, reopened, closed, rated, satisfied, dissatisfied) SELECT 'week', received_week, array_to_string((string_to_array(area_path, '.'))[1:2], '.'), '', count(*), count(*) FILTER (WHERE flags & 1 <> 0), count(*) FILTER (WHERE flags & 2 <> 0), count(*) FILTER (WHERE flags & 4 <> 0), count(*) FILTER (WHERE flags & 8 <> 0), count(*) FILTER (WHERE flags & 16 <> 0), count(*) FILTER (WHERE flags & 32 <> 0), count(*) FILTER (WHERE flags & 64 <> 0), count(*) FILTER (WHERE flags & 128 <> 0), count(*) FILTER (WHERE flags & 256 <> 0), count(*) FILTER (WHERE flags & 512 <> 0), count(*) FILTER (WHERE flags & 1024 <> 0), count(*) FILTER (WHERE flags & 2048 <> 0), count(*) FILTER (WHERE flags & 4096 <> 0), count(*) FILTER (WHERE flags & 8192 <> 0), count(*) FILTER (WHERE flags & 16384 <> 0), count(*) FILTER (WHERE flags & 32768 <> 0), count(*) FILTER (WHERE flags & 65536 <> 0), count(*) FILTER (WHERE flags & 131072 <> 0) FROM case_fact GROUP BY 1, 2, 3, 4",
    "INSERT INTO case_tally_hours (dim, received_month, area_path, key, tenths, n) SELECT 'week', received_week, array_to_string((string_to_array(area_path, '.'))[1:2], '.'), '', round(handling_hours * 10)::int, count(*) FROM case_fact WHERE handling_hours IS NOT NULL GROUP BY 1, 2, 3, 4, 5",
]


def upgrade() -> None:
    for statement in BACKFILL:
        op.execute(statement)
    op.drop_index("ix_case_fact_area_path_c_received_on", table_name="case_fact")
    op.execute(
        'CREATE INDEX ix_case_fact_area_path_c_received_on ON case_fact (area_path COLLATE "C", '
        "received_on) INCLUDE (flags, handling_hours)"
    )


def downgrade() -> None:
    op.drop_index("ix_case_fact_area_path_c_received_on", table_name="case_fact")
    op.execute(
        'CREATE INDEX ix_case_fact_area_path_c_received_on ON case_fact (area_path COLLATE "C", '
        "received_on)"
    )
    op.execute("DELETE FROM case_tally_hours WHERE dim = 'week'")
    op.execute("DELETE FROM case_tally WHERE dim = 'week'")
