"""duplicate lookup at intake: open cases by (category_code, lat, lng)

Revision ID: perf01
Revises: stat04
Create Date: 2026-11-23 23:45:00+00:00

Every intake looks for open cases of the same category within the category's radius. The
(category_code, created_at) index read every case of the category in the time window before
the bounding box could reject it: 17 ms at 20,000 cases of one category in three days (a seq
scan), more with the city's 100,000. This index goes to the bounding box directly (0.1 ms,
also with the generic plan of the prepared statement).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "perf01"
down_revision: str | None = "stat04"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = (
    "status IN ('reported','accepted','dispatched','in_progress','returned','escalated','reopened')"
)


def upgrade() -> None:
    op.create_index(
        "ix_case_duplicate_lookup",
        "case",
        ["category_code", "lat", "lng"],
        postgresql_where=sa.text(OPEN),
    )


def downgrade() -> None:
    op.drop_index("ix_case_duplicate_lookup", table_name="case")
