"""negative list: handler_id in the facts' covering area index; a partial index of the facts
that are overdue or rated dissatisfied

Revision ID: stat04
Revises: stat03
Create Date: 2026-11-23 23:30:00+00:00

The negative list counts each handler's cases from the area index alone (index-only) and reads
case ids only from the few facts on the list (``flags & 131264``: overdue_open, overdue_closed,
dissatisfied), instead of a heap page per case of the area.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "stat04"
down_revision: str | None = "stat03"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AREA_INDEX = 'ON case_fact (area_path COLLATE "C", received_on)'


def upgrade() -> None:
    op.drop_index("ix_case_fact_area_path_c_received_on", table_name="case_fact")
    op.execute(
        f"CREATE INDEX ix_case_fact_area_path_c_received_on {AREA_INDEX} "
        "INCLUDE (flags, handling_hours, handler_id)"
    )
    op.execute(
        f"CREATE INDEX ix_case_fact_negative {AREA_INDEX} "
        "INCLUDE (handler_id, received_at, case_id, flags) WHERE flags & 131264 <> 0"
    )


def downgrade() -> None:
    op.drop_index("ix_case_fact_negative", table_name="case_fact")
    op.drop_index("ix_case_fact_area_path_c_received_on", table_name="case_fact")
    op.execute(
        f"CREATE INDEX ix_case_fact_area_path_c_received_on {AREA_INDEX} "
        "INCLUDE (flags, handling_hours)"
    )
