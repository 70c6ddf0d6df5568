"""dispute screening (排查: grids' reports per period, zero reports), the mediation notices
(reminders, the monthly report to the committee above, departments told of 重大 disputes,
overdue mediations) and the monthly information reports (信息报告)

Revision ID: screening01
Revises: mediation01
Create Date: 2026-12-07 10:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision: str = "screening01"
down_revision: str | None = "mediation01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "screening_report",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("grid_area_id", sa.Uuid(), nullable=False),
        sa.Column("grid_path", sa.String(255), nullable=False),
        sa.Column("grid_name", sa.String(100), nullable=False),
        sa.Column("period", sa.String(10), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("zero_report", sa.Boolean(), nullable=False),
        sa.Column("dispute_ids", ARRAY(sa.Uuid()), nullable=False),
        sa.Column("note", sa.String(1000), nullable=True),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("filed_by", sa.String(64), nullable=False),
        _ts("filed_at"),
        sa.UniqueConstraint("grid_path", "period", name="uq_screening_report_grid_period"),
    )
    op.create_index(
        "ix_screening_report_period_grid_path_id",
        "screening_report",
        ["period", sa.text('grid_path COLLATE "C"'), "id"],
    )
    op.create_table(
        "mediation_notice",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("dedup_key", sa.String(255), nullable=False),
        sa.Column("template_key", sa.String(64), nullable=False),
        sa.Column("variables", JSONB(), nullable=False),
        sa.Column("priority", sa.String(12), nullable=False),
        sa.Column("recipients", JSONB(), nullable=False),
        sa.Column("account_ids", ARRAY(sa.String(64)), nullable=True),
        _ts("created_at"),
        _ts("next_attempt_at"),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("relayed_at", True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.UniqueConstraint("dedup_key", name="uq_mediation_notice_dedup_key"),
    )
    op.create_index(
        "ix_mediation_notice_pending",
        "mediation_notice",
        ["next_attempt_at", "created_at"],
        postgresql_where=sa.text("relayed_at IS NULL"),
    )
    op.create_index(
        "ix_mediation_notice_kind_created_at", "mediation_notice", ["kind", "created_at"]
    )
    op.create_table(
        "mediation_monthly_report",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("area_path", sa.String(255), nullable=False),
        sa.Column("area_name", sa.String(100), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("summary", JSONB(), nullable=False),
        _ts("generated_at"),
        sa.UniqueConstraint("area_path", "month", name="uq_mediation_monthly_report_area_month"),
    )


def downgrade() -> None:
    op.drop_table("mediation_monthly_report")
    op.drop_index("ix_mediation_notice_kind_created_at", table_name="mediation_notice")
    op.drop_index("ix_mediation_notice_pending", table_name="mediation_notice")
    op.drop_table("mediation_notice")
    op.drop_index("ix_screening_report_period_grid_path_id", table_name="screening_report")
    op.drop_table("screening_report")
