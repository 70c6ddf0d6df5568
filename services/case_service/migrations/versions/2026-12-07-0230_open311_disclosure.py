"""Open311 disclosure policy: each category's public disclosure level, the case's public reply

Revision ID: disclose01
Revises: support01
Create Date: 2026-12-07 02:30:00+00:00

``category.public_disclosure`` (``public``, ``summary`` or ``none``) says what the public
Open311 feed shows of a category's cases (docs/security.md, "Open311 disclosure policy").
Every existing category starts at ``none`` — closed until someone opens it — except the rows
that are still the seed catalogue's (same code and name), which get the seed's level.
``case.public_reply`` is the handler's public reply (公开答复), the only text the feed shows as
``status_notes``; no existing case has one (the internal result is never copied into it).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "disclose01"
down_revision: str | None = "support01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: the seed catalogue's levels when this migration was written (catalogue.py), by (code, name)
SEED_LEVELS: dict[tuple[str, str], str] = {
    ("02", "安全隐患"): "summary",
    ("05", "市容环境"): "public",
    ("06", "街面秩序"): "summary",
    ("07", "施工管理"): "public",
    ("08", "公用设施"): "public",
    ("09", "突发事件"): "summary",
    ("12", "咨询建议"): "summary",
    ("0201", "消防隐患"): "summary",
    ("0202", "燃气隐患"): "summary",
    ("0203", "危房隐患"): "summary",
    ("0204", "电动车违规充电"): "summary",
    ("0501", "暴露垃圾"): "public",
    ("0502", "乱张贴乱涂写"): "public",
    ("0601", "流动摊点"): "summary",
    ("0602", "占道经营"): "summary",
    ("0603", "乱停车"): "summary",
    ("0701", "夜间施工扰民"): "summary",
    ("0702", "工地扬尘"): "public",
    ("0801", "路面坑槽"): "public",
    ("0802", "井盖缺失破损"): "public",
    ("0803", "路灯损坏"): "public",
    ("0901", "火灾"): "summary",
    ("0902", "自然灾害"): "summary",
    ("1201", "政策咨询"): "summary",
    ("1202", "意见建议"): "summary",
}


def upgrade() -> None:
    op.add_column(
        "category",
        sa.Column("public_disclosure", sa.String(length=10), nullable=False, server_default="none"),
    )
    op.alter_column("category", "public_disclosure", server_default=None)
    op.create_check_constraint(
        "ck_category_public_disclosure",
        "category",
        "public_disclosure IN ('public', 'summary', 'none')",
    )
    category = sa.table(
        "category",
        sa.column("code", sa.String),
        sa.column("name", sa.String),
        sa.column("public_disclosure", sa.String),
    )
    for (code, name), level in SEED_LEVELS.items():
        op.execute(
            category.update()
            .where(category.c.code == code, category.c.name == name)
            .values(public_disclosure=level)
        )
    op.add_column("case", sa.Column("public_reply", sa.String(length=4000), nullable=True))


def downgrade() -> None:
    op.drop_column("case", "public_reply")
    op.drop_constraint("ck_category_public_disclosure", "category", type_="check")
    op.drop_column("category", "public_disclosure")
