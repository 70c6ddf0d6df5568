"""address matching: the normalised form of every standard address, indexed

Revision ID: address01
Revises: auth02
Create Date: 2026-12-06 15:10:00+00:00

Adds ``standard_address``'s canonical keys (street, building, unit, room: equal after
``grid_service.basicinfo.addressing``'s normalisation) with a btree index on street and
building, and ``normalized`` with a pg_trgm GIN index for the similarity search. An entry is
now unique per grid, *street* and building/unit/room as normalised (it was per grid and
building/unit/room, so two house numbers of one grid could not both have a building 1). Existing rows
are filled in batches by the same function the application uses on write.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from grid_service.basicinfo.addressing import register_keys

revision: str = "address01"
down_revision: str | None = "auth02"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, length in (
        ("street_key", 200),
        ("building_key", 20),
        ("unit_key", 20),
        ("room_key", 20),
        ("normalized", 300),
    ):
        op.add_column(
            "standard_address",
            sa.Column(name, sa.String(length=length), nullable=False, server_default=""),
        )
        op.alter_column("standard_address", name, server_default=None)
    conn = op.get_bind()
    last = "00000000-0000-0000-0000-000000000000"
    while True:
        rows = conn.execute(
            sa.text(
                "SELECT id, street_address, building_no, unit_no, room_no FROM standard_address "
                "WHERE id > CAST(:last AS uuid) ORDER BY id LIMIT :n"
            ),
            {"last": str(last), "n": BATCH},
        ).all()
        if not rows:
            break
        for row in rows:
            keys = register_keys(row.street_address, row.building_no, row.unit_no, row.room_no)
            conn.execute(
                sa.text(
                    "UPDATE standard_address SET street_key = :s, building_key = :b, "
                    "unit_key = :u, room_key = :r, normalized = :n WHERE id = :id"
                ),
                {
                    "s": keys.street,
                    "b": keys.building,
                    "u": keys.unit,
                    "r": keys.room,
                    "n": keys.normalized,
                    "id": row.id,
                },
            )
        last = rows[-1].id
    # unique per grid, street and building/unit/room as normalised: two house numbers of one
    # grid may both have a building 1, and 三幢 and 3 are one building
    op.drop_constraint(
        "uq_standard_address_area_id_building_no_unit_no_room_no", "standard_address"
    )
    op.create_unique_constraint(
        "uq_standard_address_keys",
        "standard_address",
        ["area_id", "street_key", "building_key", "unit_key", "room_key"],
    )
    op.create_index(
        "ix_standard_address_street_key_building_key",
        "standard_address",
        ["street_key", "building_key"],
    )
    op.create_index(
        "ix_standard_address_normalized_trgm",
        "standard_address",
        ["normalized"],
        postgresql_using="gin",
        postgresql_ops={"normalized": "gin_trgm_ops"},
    )


def downgrade() -> None:
    op.drop_constraint("uq_standard_address_keys", "standard_address")
    op.create_unique_constraint(
        "uq_standard_address_area_id_building_no_unit_no_room_no",
        "standard_address",
        ["area_id", "building_no", "unit_no", "room_no"],
    )
    op.drop_index("ix_standard_address_normalized_trgm", table_name="standard_address")
    op.drop_index("ix_standard_address_street_key_building_key", table_name="standard_address")
    for name in ("normalized", "room_key", "unit_key", "building_key", "street_key"):
        op.drop_column("standard_address", name)
