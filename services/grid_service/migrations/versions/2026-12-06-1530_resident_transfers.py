"""residents moving between grids (迁出/迁入), with history

Revision ID: field05
Revises: field04
Create Date: 2026-12-06 15:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "field05"
down_revision: str | None = "field04"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "resident_transfer",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("resident_id", sa.Uuid(), nullable=False),
        sa.Column("from_area_path", sa.String(length=400), nullable=False),
        sa.Column("to_area_id", sa.Uuid(), nullable=False),
        sa.Column("to_area_path", sa.String(length=400), nullable=False),
        sa.Column("to_household_id", sa.Uuid(), nullable=True),
        sa.Column("to_address_id", sa.Uuid(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("started_on", sa.String(length=4), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["resident.id"], name=op.f("fk_resident_transfer_resident_id_resident")
        ),
        sa.ForeignKeyConstraint(
            ["to_area_id"], ["area.id"], name=op.f("fk_resident_transfer_to_area_id_area")
        ),
        sa.ForeignKeyConstraint(
            ["to_household_id"],
            ["household.id"],
            name=op.f("fk_resident_transfer_to_household_id_household"),
        ),
        sa.ForeignKeyConstraint(
            ["to_address_id"],
            ["standard_address.id"],
            name=op.f("fk_resident_transfer_to_address_id_standard_address"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resident_transfer")),
    )
    op.create_index(
        "ix_resident_transfer_resident_id_requested_at",
        "resident_transfer",
        ["resident_id", "requested_at"],
    )
    op.create_index(
        "uq_resident_transfer_pending",
        "resident_transfer",
        ["resident_id"],
        unique=True,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_resident_transfer_pending_requested_at_id",
        "resident_transfer",
        ["requested_at", "id"],
        postgresql_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_table("resident_transfer")
