"""Every query of the audit trail and the special-group grants."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from grid_service.privacy.models import PiiAuditRecord, SpecialGroupGrant


async def tags_of(session: AsyncSession, account_id: str) -> set[str]:
    result = await session.execute(
        sa.select(col(SpecialGroupGrant.tag)).where(col(SpecialGroupGrant.account_id) == account_id)
    )
    return set(result.scalars().all())


async def grants_of(session: AsyncSession, account_id: str) -> list[SpecialGroupGrant]:
    result = await session.execute(
        sa.select(SpecialGroupGrant)
        .where(col(SpecialGroupGrant.account_id) == account_id)
        .order_by(col(SpecialGroupGrant.tag))
    )
    return list(result.scalars().all())


async def add_grant(session: AsyncSession, account_id: str, tag: str, granted_by: str) -> bool:
    table = SpecialGroupGrant.__table__  # type: ignore[attr-defined]
    result = await session.execute(
        insert(table)
        .values(account_id=account_id, tag=tag, granted_by=granted_by, granted_at=sa.func.now())
        .on_conflict_do_nothing()
        .returning(table.c.tag)
    )
    return result.first() is not None


async def remove_grant(session: AsyncSession, account_id: str, tag: str) -> bool:
    table = SpecialGroupGrant.__table__  # type: ignore[attr-defined]
    result = await session.execute(
        sa.delete(table)
        .where(table.c.account_id == account_id, table.c.tag == tag)
        .returning(table.c.tag)
    )
    return result.first() is not None


def audit_statement(
    *, actor_id: str | None, action: str | None, subject_id: str | None
) -> sa.Select[Any]:
    stmt = sa.select(PiiAuditRecord)
    if actor_id is not None:
        stmt = stmt.where(col(PiiAuditRecord.actor_id) == actor_id)
    if action is not None:
        stmt = stmt.where(col(PiiAuditRecord.action) == action)
    if subject_id is not None:
        stmt = stmt.where(
            col(PiiAuditRecord.subject_ids).op("@>")(sa.cast([subject_id], ARRAY(sa.String(64))))
        )
    return stmt
