"""Writing messages to the outbox, in the caller's transaction, and who they go to."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from grid_service.accounts.models import Account, AccountKind
from grid_service.messages.models import OutboxMessage
from shared.auth import Role


async def grid_workers(session: AsyncSession, paths: list[str]) -> list[str]:
    """The enabled grid workers scoped to one of these grids exactly (the grid's own
    workers, not every account above it), each once."""
    table = Account.__table__  # type: ignore[attr-defined]
    rows = await session.execute(
        sa.select(table.c.id)
        .where(
            table.c.kind == AccountKind.staff.value,
            table.c.disabled.is_(False),
            table.c.roles.overlap(sa.cast([Role.grid_worker], ARRAY(sa.String))),
            table.c.area_paths.overlap(sa.cast(paths, ARRAY(sa.String))),
        )
        .order_by(table.c.id)
        .limit(200)
    )
    return [str(i) for i in rows.scalars().all()]


async def enqueue(
    session: AsyncSession,
    template_key: str,
    variables: dict[str, str],
    account_ids: list[str],
) -> OutboxMessage | None:
    """One message to each of ``account_ids`` (none: nothing written), relayed after commit."""
    people = sorted(set(account_ids))
    if not people:
        return None
    row = OutboxMessage(template_key=template_key, variables=variables, account_ids=people)
    session.add(row)
    return row
