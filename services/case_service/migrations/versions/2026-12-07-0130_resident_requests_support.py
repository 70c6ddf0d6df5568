"""what a resident may set: requested priority/major; residents' support (附议) of a case

Revision ID: support01
Revises: locate01
Create Date: 2026-12-07 01:30:00+00:00

A resident's (or another platform's) ``priority`` and ``major`` are no longer applied at
intake: they are kept as ``case.requested_priority`` and ``case.requested_major`` and the
dispatcher decides at accept. ``case_support`` holds one support (附议/+1) per account and
case (``uq_case_support``); ``case.support_count`` counts them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "support01"
down_revision: str | None = "locate01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("case", sa.Column("requested_priority", sa.String(length=20), nullable=True))
    op.add_column(
        "case",
        sa.Column("requested_major", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "case", sa.Column("support_count", sa.Integer(), nullable=False, server_default="0")
    )
    op.create_table(
        "case_support",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("case_id", sa.Uuid(), sa.ForeignKey("case.id"), nullable=False),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("via_case_id", sa.Uuid(), sa.ForeignKey("case.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("case_id", "account_id", name="uq_case_support"),
    )


def downgrade() -> None:
    op.drop_table("case_support")
    op.drop_column("case", "support_count")
    op.drop_column("case", "requested_major")
    op.drop_column("case", "requested_priority")
