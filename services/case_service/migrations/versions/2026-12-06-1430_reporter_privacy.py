"""reporter privacy: names and phones encrypted at rest, lookup hash, reveal audit, erasure

Revision ID: privacy01
Revises: perf02
Create Date: 2026-12-06 14:30:00+00:00

``case.reporter_name`` and ``case.reporter_phone`` become ciphertexts of the shared key-id
scheme (``shared.pii``, AES-256-GCM under ``CASE_PII_KEYS``); existing rows are encrypted here
in batches, and the phone gets its keyed lookup hash (``CASE_PII_HASH_KEY``). Adds
``reporter_phone_erased_at``, the partial indexes of the phone look-up and of the erasure scan,
and the append-only ``reporter_reveal`` audit. Downgrade decrypts the rows back.
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from case_service.config import Settings
from shared.pii import PiiCipher, phone_key

revision: str = "privacy01"
down_revision: str | None = "perf02"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME_FIELD = "case.reporter_name"
PHONE_FIELD = "case.reporter_phone"
BATCH = 2000

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION reporter_reveal_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'reporter_reveal is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
"""


def _cipher() -> PiiCipher:
    settings = Settings()
    return PiiCipher.from_keys(settings.pii_keys, settings.pii_hash_key)


def _rewrite(encrypt: bool) -> None:
    conn = op.get_bind()
    cipher = _cipher()
    last = uuid.UUID(int=0)
    select = sa.text(
        'SELECT id, reporter_name, reporter_phone FROM "case" '
        "WHERE (reporter_name IS NOT NULL OR reporter_phone IS NOT NULL) AND id > :last "
        "ORDER BY id LIMIT :n"
    )
    while True:
        rows = conn.execute(select, {"last": last, "n": BATCH}).all()
        if not rows:
            return
        updates = []
        for row in rows:
            name, phone = row.reporter_name, row.reporter_phone
            if encrypt:
                updates.append(
                    {
                        "id": row.id,
                        "name": cipher.encrypt(name, field=NAME_FIELD) if name else None,
                        "phone": cipher.encrypt(phone, field=PHONE_FIELD) if phone else None,
                        "hash": cipher.lookup_hash(phone_key(phone)) if phone else None,
                    }
                )
            else:
                updates.append(
                    {
                        "id": row.id,
                        "name": cipher.decrypt(name, field=NAME_FIELD) if name else None,
                        "phone": cipher.decrypt(phone, field=PHONE_FIELD) if phone else None,
                        "hash": None,
                    }
                )
        conn.execute(
            sa.text(
                'UPDATE "case" SET reporter_name = :name, reporter_phone = :phone, '
                "reporter_phone_hash = :hash WHERE id = :id"
            ),
            updates,
        )
        last = rows[-1].id


def upgrade() -> None:
    op.alter_column("case", "reporter_name", type_=sa.Text(), existing_nullable=True)
    op.alter_column("case", "reporter_phone", type_=sa.Text(), existing_nullable=True)
    op.add_column("case", sa.Column("reporter_phone_hash", sa.String(64), nullable=True))
    op.add_column(
        "case", sa.Column("reporter_phone_erased_at", sa.DateTime(timezone=True), nullable=True)
    )
    _rewrite(encrypt=True)
    op.create_index(
        "ix_case_reporter_phone_hash_created_at_id",
        "case",
        ["reporter_phone_hash", "created_at", "id"],
        postgresql_where=sa.text("reporter_phone_hash IS NOT NULL"),
    )
    op.create_index(
        "ix_case_closed_at_phone_kept",
        "case",
        ["closed_at"],
        postgresql_where=sa.text("closed_at IS NOT NULL AND reporter_phone IS NOT NULL"),
    )
    op.create_table(
        "reporter_reveal",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("case_id", sa.Uuid(), sa.ForeignKey("case.id"), nullable=False),
        sa.Column("actor_id", sa.String(64), nullable=False),
        sa.Column("actor_roles", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("fields", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_reporter_reveal_case_id_created_at_id",
        "reporter_reveal",
        ["case_id", "created_at", "id"],
    )
    op.create_index(
        "ix_reporter_reveal_actor_id_created_at", "reporter_reveal", ["actor_id", "created_at"]
    )
    op.execute(APPEND_ONLY)
    op.execute(
        "CREATE TRIGGER reporter_reveal_append_only BEFORE UPDATE OR DELETE ON reporter_reveal "
        "FOR EACH ROW EXECUTE FUNCTION reporter_reveal_append_only()"
    )


def downgrade() -> None:
    op.drop_table("reporter_reveal")
    op.execute("DROP FUNCTION IF EXISTS reporter_reveal_append_only()")
    op.drop_index("ix_case_closed_at_phone_kept", table_name="case")
    op.drop_index("ix_case_reporter_phone_hash_created_at_id", table_name="case")
    _rewrite(encrypt=False)
    op.drop_column("case", "reporter_phone_erased_at")
    op.drop_column("case", "reporter_phone_hash")
    op.alter_column("case", "reporter_phone", type_=sa.String(20), existing_nullable=True)
    op.alter_column("case", "reporter_name", type_=sa.String(50), existing_nullable=True)
