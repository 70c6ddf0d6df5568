"""resident accounts linked to their resident records

Revision ID: field04
Revises: address01
Create Date: 2026-12-06 15:20:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "field04"
down_revision: str | None = "address01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "resident_link",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("resident_id", sa.Uuid(), nullable=False),
        sa.Column("area_path", sa.String(length=400), nullable=False),
        sa.Column("matched_by", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_resident_link_account_id_account")
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["resident.id"], name=op.f("fk_resident_link_resident_id_resident")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resident_link")),
    )
    op.create_index(
        "uq_resident_link_account_live",
        "resident_link",
        ["account_id"],
        unique=True,
        postgresql_where=sa.text("status <> 'rejected'"),
    )
    op.create_index(
        "uq_resident_link_resident_live",
        "resident_link",
        ["resident_id"],
        unique=True,
        postgresql_where=sa.text("status <> 'rejected'"),
    )
    op.create_index(
        "ix_resident_link_pending_area_path_id",
        "resident_link",
        ["area_path", "requested_at", "id"],
        postgresql_where=sa.text("status = 'pending'"),
        postgresql_ops={"area_path": "varchar_pattern_ops"},
    )


def downgrade() -> None:
    op.drop_table("resident_link")
