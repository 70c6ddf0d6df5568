"""Every query of accounts, refresh tokens and platform clients."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from grid_service.accounts.models import Account, PlatformClient, RefreshToken, Revocation

__all__ = ["Account", "PlatformClient", "RefreshToken"]


async def get(
    session: AsyncSession, account_id: uuid.UUID, *, lock: bool = False
) -> Account | None:
    stmt = sa.select(Account).where(col(Account.id) == account_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def by_username(
    session: AsyncSession, username: str, *, lock: bool = False
) -> Account | None:
    stmt = sa.select(Account).where(col(Account.username) == username)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def by_wechat_openid(session: AsyncSession, openid: str) -> Account | None:
    stmt = sa.select(Account).where(col(Account.wechat_mp_openid) == openid)
    return (await session.execute(stmt)).scalar_one_or_none()


async def insert_resident_if_new(session: AsyncSession, account: Account) -> bool:
    """Insert unless an account has this WeChat openid (two first logins at once create one
    account). True when inserted."""
    table = Account.__table__  # type: ignore[attr-defined]
    values = {c.name: getattr(account, c.name) for c in table.columns}
    stmt = (
        insert(table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[table.c.wechat_mp_openid])
        .returning(table.c.id)
    )
    return (await session.execute(stmt)).first() is not None


async def by_ids(session: AsyncSession, ids: list[uuid.UUID]) -> list[Account]:
    if not ids:
        return []
    stmt = sa.select(Account).where(col(Account.id).in_(ids), col(Account.disabled).is_(False))
    return list((await session.execute(stmt)).scalars().all())


def list_statement(*, department_id: str | None = None, kind: str | None = None) -> sa.Select[Any]:
    stmt = sa.select(Account)
    if department_id is not None:
        stmt = stmt.where(
            col(Account.department_ids).op("@>")(sa.cast([department_id], ARRAY(sa.String(64))))
        )
    if kind is not None:
        stmt = stmt.where(col(Account.kind) == kind)
    return stmt


def recipients_statement(*, kind: str, area_path: str) -> sa.Select[Any]:
    """Accounts of ``kind`` whose home area lies in the subtree at ``area_path``."""
    escaped = area_path.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return sa.select(Account).where(
        col(Account.kind) == kind,
        col(Account.disabled).is_(False),
        sa.or_(
            col(Account.home_area_path) == area_path,
            col(Account.home_area_path).like(escaped + ".%"),
        ),
    )


async def refresh_by_hash(session: AsyncSession, token_hash: str) -> RefreshToken | None:
    stmt = (
        sa.select(RefreshToken).where(col(RefreshToken.token_hash) == token_hash).with_for_update()
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def revoke_family(session: AsyncSession, family_id: uuid.UUID, now: datetime) -> None:
    """Revoke a sign-in: its refresh tokens, and (through the feed) its access tokens."""
    await session.execute(
        sa.update(RefreshToken)
        .where(col(RefreshToken.family_id) == family_id, col(RefreshToken.revoked_at).is_(None))
        .values(revoked_at=now)
    )
    session.add(Revocation(kind="sid", value=str(family_id), revoked_at=now))
    await session.flush()


async def revoke_account_tokens(
    session: AsyncSession, account_id: uuid.UUID, now: datetime
) -> None:
    """Revoke every token of an account issued until ``now`` (refresh and, through the feed,
    access tokens)."""
    await session.execute(
        sa.update(RefreshToken)
        .where(col(RefreshToken.account_id) == account_id, col(RefreshToken.revoked_at).is_(None))
        .values(revoked_at=now)
    )
    session.add(Revocation(kind="account", value=str(account_id), revoked_at=now))
    await session.flush()


async def revocations_after(
    session: AsyncSession, after: int, *, limit: int, since: datetime
) -> list[Revocation]:
    """The feed: entries after ``after`` in id order, none older than ``since`` (a follower
    starting afresh needs only those whose tokens can still be alive)."""
    result = await session.execute(
        sa.select(Revocation)
        .where(col(Revocation.id) > after, col(Revocation.revoked_at) > since)
        .order_by(col(Revocation.id))
        .limit(limit)
    )
    return list(result.scalars().all())


async def client(session: AsyncSession, client_id: str) -> PlatformClient | None:
    return await session.get(PlatformClient, client_id)


async def client_by_api_key_hash(session: AsyncSession, key_hash: str) -> PlatformClient | None:
    stmt = sa.select(PlatformClient).where(col(PlatformClient.api_key_hash) == key_hash)
    return (await session.execute(stmt)).scalar_one_or_none()


async def last_revocation_id(session: AsyncSession) -> int:
    result = await session.execute(sa.select(sa.func.coalesce(sa.func.max(col(Revocation.id)), 0)))
    return int(result.scalar_one() or 0)
