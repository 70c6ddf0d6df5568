"""cases placed by address: the matched standard address and the location status (待定位)

Revision ID: locate01
Revises: privacy01
Create Date: 2026-12-06 15:00:00+00:00

``case.location_status`` is ``located`` for every existing case (they were all placed in an
area) and ``to_locate`` for a case whose address matched no standard address; the partial
index serves the dispatchers' "to place" list. ``case.address_id`` keeps the standard address
(grid_service) an address matched.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "locate01"
down_revision: str | None = "privacy01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("case", sa.Column("address_id", sa.Uuid(), nullable=True))
    op.add_column(
        "case",
        sa.Column(
            "location_status", sa.String(length=12), nullable=False, server_default="located"
        ),
    )
    op.alter_column("case", "location_status", server_default=None)
    op.create_index(
        "ix_case_to_locate_created_at_id",
        "case",
        ["created_at", "id"],
        postgresql_where=sa.text("location_status = 'to_locate'"),
    )


def downgrade() -> None:
    op.drop_index("ix_case_to_locate_created_at_id", table_name="case")
    op.drop_column("case", "location_status")
    op.drop_column("case", "address_id")
