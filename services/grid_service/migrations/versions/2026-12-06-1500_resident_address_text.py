"""residents imported without a standard address keep their free-text address

Revision ID: field03
Revises: field02
Create Date: 2026-12-06 15:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "field03"
down_revision: str | None = "field02"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "resident", sa.Column("current_address_text", sa.String(length=200), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("resident", "current_address_text")
