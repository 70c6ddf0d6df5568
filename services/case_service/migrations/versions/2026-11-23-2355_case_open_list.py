"""case lists of open cases: (created_at, id, due_at, area_path COLLATE "C") of open cases

Revision ID: perf02
Revises: perf01
Create Date: 2026-11-23 23:55:00+00:00

A district supervisor's overdue list (open, ``due_at < now``, the district's subtree, newest
first) walked ``ix_case_created_at_id`` and fetched every row from the heap to test it: overdue
cases are days old, so it passed 72,000 (largest district) to 114,000 (smallest) newer cases
for a page, 29–110 ms at 1,000,000 cases (bench p95 56–64 ms). This index holds only the open
cases (13 % of the rows) in the list's keyset order, with ``due_at`` and the C-collated area
path as key columns: the overdue and subtree conditions are index conditions, checked on the
entries, and only the page's rows are fetched (2–6 ms; bench p95 7–10 ms).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "perf02"
down_revision: str | None = "perf01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = (
    "status IN ('reported','accepted','dispatched','in_progress','returned','escalated','reopened')"
)


def upgrade() -> None:
    op.execute(
        'CREATE INDEX ix_case_open_created_at_id ON "case" '
        f'(created_at, id, due_at, (area_path COLLATE "C")) WHERE {OPEN}'
    )


def downgrade() -> None:
    op.drop_index("ix_case_open_created_at_id", table_name="case")
