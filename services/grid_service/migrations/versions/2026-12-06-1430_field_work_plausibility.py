"""field work plausibility: track point outliers, one open patrol per worker, findings
without a case

Revision ID: field01
Revises: info02
Create Date: 2026-12-06 14:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "field01"
down_revision: str | None = "info02"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "patrol_track_point",
        sa.Column("outlier", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.alter_column("patrol_track_point", "outlier", server_default=None)
    # Before the one-open-patrol rule, a worker could hold several: all but the newest are
    # ended at their last track point (or their start).
    op.execute(
        """
        UPDATE patrol p SET ended_at = greatest(p.started_at, coalesce(
            (SELECT max(t.recorded_at) FROM patrol_track_point t WHERE t.patrol_id = p.id),
            p.started_at))
        WHERE p.ended_at IS NULL AND EXISTS (
            SELECT 1 FROM patrol q WHERE q.worker_id = p.worker_id AND q.ended_at IS NULL
            AND (q.started_at, q.id) > (p.started_at, p.id))
        """
    )
    op.create_index(
        "uq_patrol_worker_id_open",
        "patrol",
        ["worker_id"],
        unique=True,
        postgresql_where=sa.text("ended_at IS NULL"),
    )
    op.create_index(
        "ix_patrol_finding_without_case",
        "patrol_finding",
        ["found_at", "id"],
        postgresql_where=sa.text("outcome = 'reported' AND case_id IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_patrol_finding_without_case", table_name="patrol_finding")
    op.drop_index("uq_patrol_worker_id_open", table_name="patrol")
    op.drop_column("patrol_track_point", "outlier")
