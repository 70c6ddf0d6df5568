"""revocation feed: revoked sign-ins and accounts, followed by every service

Revision ID: auth02
Revises: field03
Create Date: 2026-12-06 15:10:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "auth02"
down_revision: str | None = "field03"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "revocation",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revocation")),
    )
    op.create_index("ix_revocation_revoked_at", "revocation", ["revoked_at"])


def downgrade() -> None:
    op.drop_index("ix_revocation_revoked_at", table_name="revocation")
    op.drop_table("revocation")
