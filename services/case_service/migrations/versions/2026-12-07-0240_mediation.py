"""dispute mediation (矛盾纠纷调处): the file, parties, mediators, sessions, terms, reveals,
document templates; sla_timer.dispute_term_id for return visits due

Revision ID: mediation01
Revises: disclose01
Create Date: 2026-12-07 02:40:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision: str = "mediation01"
down_revision: str | None = "disclose01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION dispute_party_reveal_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'dispute_party_reveal is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
"""


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "dispute",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("case_id", sa.Uuid(), sa.ForeignKey("case.id"), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("level_area_path", sa.String(255), nullable=False),
        sa.Column("dispute_type", sa.String(64), nullable=False),
        sa.Column("facts", sa.Text(), nullable=True),
        sa.Column("people_involved", sa.Integer(), nullable=False),
        sa.Column("amount_yuan", sa.Numeric(14, 2), nullable=True),
        sa.Column("risk_level", sa.String(10), nullable=False),
        sa.Column("escalating", sa.Boolean(), nullable=False),
        sa.Column("converted", sa.Boolean(), nullable=False),
        sa.Column("refused_reason", sa.String(500), nullable=True),
        _ts("accepted_at", True),
        _ts("due_at", True),
        sa.Column("extensions", JSONB(), nullable=False),
        sa.Column("responsibility", sa.Text(), nullable=True),
        sa.Column("outcome_reason", sa.String(500), nullable=True),
        _ts("agreed_at", True),
        sa.Column("judicial_status", sa.String(12), nullable=False),
        sa.Column("judicial_court", sa.String(100), nullable=True),
        _ts("judicial_applied_at", True),
        _ts("judicial_decided_at", True),
        sa.Column("referred_department_id", sa.String(64), nullable=True),
        _ts("closed_at", True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.UniqueConstraint("case_id", name="uq_dispute_case_id"),
    )
    op.create_index(
        "ix_dispute_level_area_path_created_at", "dispute", ["level_area_path", "created_at"]
    )
    op.create_table(
        "dispute_party",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("dispute_id", sa.Uuid(), sa.ForeignKey("dispute.id"), nullable=False),
        sa.Column("ord", sa.Integer(), nullable=False),
        sa.Column("side", sa.String(12), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("phone_hash", sa.String(64), nullable=True),
        sa.Column("id_number", sa.Text(), nullable=True),
        sa.Column("id_number_hash", sa.String(64), nullable=True),
        sa.Column("address", sa.String(200), nullable=True),
        _ts("created_at"),
    )
    op.create_index("ix_dispute_party_dispute_id_ord", "dispute_party", ["dispute_id", "ord"])
    op.create_index("ix_dispute_party_phone_hash", "dispute_party", ["phone_hash"])
    op.create_index("ix_dispute_party_id_number_hash", "dispute_party", ["id_number_hash"])
    op.create_table(
        "dispute_mediator",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("dispute_id", sa.Uuid(), sa.ForeignKey("dispute.id"), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.String(64), nullable=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("post", sa.String(32), nullable=False),
        sa.Column("area_path", sa.String(400), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("backup_for_member_id", sa.Uuid(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("assigned_by", sa.String(64), nullable=False),
        _ts("assigned_at"),
    )
    op.create_index("ix_dispute_mediator_dispute_id", "dispute_mediator", ["dispute_id"])
    op.create_table(
        "dispute_session",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("dispute_id", sa.Uuid(), sa.ForeignKey("dispute.id"), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        _ts("starts_at"),
        sa.Column("place", sa.String(200), nullable=False),
        sa.Column("attendees", ARRAY(sa.Text()), nullable=False),
        sa.Column("notified", sa.Integer(), nullable=False),
        sa.Column("record", sa.Text(), nullable=True),
        _ts("recorded_at", True),
        sa.Column("recorded_by", sa.String(64), nullable=True),
        sa.Column("created_by", sa.String(64), nullable=False),
        _ts("created_at"),
        sa.UniqueConstraint("dispute_id", "number", name="uq_dispute_session_number"),
    )
    op.create_table(
        "dispute_term",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("dispute_id", sa.Uuid(), sa.ForeignKey("dispute.id"), nullable=False),
        sa.Column("ord", sa.Integer(), nullable=False),
        sa.Column("content", sa.String(1000), nullable=False),
        sa.Column("manner", sa.String(200), nullable=False),
        sa.Column("place", sa.String(200), nullable=False),
        sa.Column("deadline_on", sa.Date(), nullable=False),
        _ts("visit_due_at"),
        sa.Column("performance", sa.String(16), nullable=False),
        _ts("visited_at", True),
        sa.Column("visit_note", sa.String(500), nullable=True),
        _ts("urged_at", True),
    )
    op.create_index("ix_dispute_term_dispute_id_ord", "dispute_term", ["dispute_id", "ord"])
    op.create_table(
        "dispute_party_reveal",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("dispute_id", sa.Uuid(), sa.ForeignKey("dispute.id"), nullable=False),
        sa.Column("actor_id", sa.String(64), nullable=False),
        sa.Column("actor_roles", ARRAY(sa.Text()), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("purpose", sa.String(20), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        _ts("created_at"),
    )
    op.create_index(
        "ix_dispute_party_reveal_dispute_id_created_at",
        "dispute_party_reveal",
        ["dispute_id", "created_at"],
    )
    op.execute(APPEND_ONLY)
    op.execute(
        "CREATE TRIGGER dispute_party_reveal_append_only BEFORE UPDATE OR DELETE ON "
        "dispute_party_reveal FOR EACH ROW EXECUTE FUNCTION dispute_party_reveal_append_only()"
    )
    op.create_table(
        "mediation_template",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("title", sa.String(100), nullable=False),
        sa.Column("blocks", JSONB(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        _ts("updated_at"),
        sa.UniqueConstraint("kind", name="uq_mediation_template_kind"),
    )
    op.add_column(
        "sla_timer",
        sa.Column("dispute_term_id", sa.Uuid(), sa.ForeignKey("dispute_term.id"), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("sla_timer", "dispute_term_id")
    op.drop_table("mediation_template")
    op.drop_table("dispute_party_reveal")
    op.execute("DROP FUNCTION IF EXISTS dispute_party_reveal_append_only()")
    op.drop_table("dispute_term")
    op.drop_table("dispute_session")
    op.drop_table("dispute_mediator")
    op.drop_table("dispute_party")
    op.drop_table("dispute")
