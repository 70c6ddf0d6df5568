"""special-group follow-ups due: next_follow_up_on and its index

Revision ID: field02
Revises: field01
Create Date: 2026-12-06 14:50:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "field02"
down_revision: str | None = "field01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("special_group_tag", sa.Column("next_follow_up_on", sa.Date(), nullable=True))
    op.execute(
        """
        UPDATE special_group_tag
        SET next_follow_up_on = coalesce(last_followed_up_on, created_at::date)
            + follow_up_interval_days
        WHERE follow_up_interval_days IS NOT NULL
        """
    )
    op.create_index(
        "ix_special_group_tag_next_follow_up_on_id",
        "special_group_tag",
        ["next_follow_up_on", "id"],
        postgresql_where=sa.text("next_follow_up_on IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_special_group_tag_next_follow_up_on_id", table_name="special_group_tag")
    op.drop_column("special_group_tag", "next_follow_up_on")
