"""Residents' own side: linking a resident account to its record, and what the resident then
sees and does. Flushes, never commits."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from grid_service.accounts.models import Account
from grid_service.basicinfo.models import Resident
from grid_service.basicinfo.service import check_id_number, invalid
from grid_service.privacy.crypto import PiiCipher
from grid_service.selfservice.models import LinkStatus, ResidentLink
from shared.auth import Principal
from shared.db import utcnow
from shared.i18n import Text
from shared.problem import Conflict, Forbidden, NotFound


def account_id_of(principal: Principal) -> uuid.UUID:
    try:
        return uuid.UUID(principal.subject)
    except ValueError as exc:
        raise Forbidden(
            Text("只有居民账号可以这样做", "Only a resident account may do this"),
            code="missing_role",
        ) from exc


async def live_link(session: AsyncSession, account_id: uuid.UUID) -> ResidentLink | None:
    result = await session.execute(
        sa.select(ResidentLink).where(
            col(ResidentLink.account_id) == account_id,
            col(ResidentLink.status) != LinkStatus.rejected.value,
        )
    )
    return result.scalar_one_or_none()


async def request_link(
    session: AsyncSession, cipher: PiiCipher, principal: Principal, id_number: str | None
) -> tuple[ResidentLink, bool]:
    """The account's link request (and whether it is new): matched by the ID number the
    resident gives, else by the account's verified phone. The grid worker confirms it."""
    account_id = account_id_of(principal)
    existing = await live_link(session, account_id)
    if existing is not None:
        return existing, False
    account = await session.get(Account, account_id)
    if account is None:
        raise NotFound(Text("没有这个账号", "No such account"), code="account_not_found")
    if id_number is not None:
        value = check_id_number(id_number)
        stmt = sa.select(Resident).where(col(Resident.id_number_hash) == cipher.lookup_hash(value))
        matched_by = "id_number"
    elif account.phone:
        stmt = sa.select(Resident).where(
            col(Resident.phone_hash) == cipher.lookup_hash(account.phone)
        )
        matched_by = "phone"
    else:
        raise invalid(
            "id_number",
            Text(
                "账号未绑定手机号：请填写身份证号", "the account has no phone: give the ID number"
            ),
        )
    found = list((await session.execute(stmt.limit(2))).scalars())
    if not found:
        raise NotFound(
            Text(
                "没有找到与您信息一致的居民登记，请联系网格员登记",
                "No resident record matches; ask your grid worker to register you",
            ),
            code="resident_not_found",
        )
    if len(found) > 1:
        raise Conflict(
            Text("这个手机号登记了多位居民：请填写身份证号", "Several residents have this phone"),
            code="resident_ambiguous",
        )
    resident = found[0]
    taken = await session.execute(
        sa.select(col(ResidentLink.id)).where(
            col(ResidentLink.resident_id) == resident.id,
            col(ResidentLink.status) != LinkStatus.rejected.value,
        )
    )
    if taken.first() is not None:
        raise Conflict(
            Text(
                "该居民已关联其他账号，请联系网格员", "This resident is linked to another account"
            ),
            code="resident_linked",
        )
    link = ResidentLink(
        account_id=account_id,
        resident_id=resident.id,
        area_path=resident.area_path,
        matched_by=matched_by,
    )
    session.add(link)
    await session.flush()
    return link, True


async def decide(
    session: AsyncSession, principal: Principal, link_id: uuid.UUID, *, confirm: bool
) -> ResidentLink:
    link = await session.get(ResidentLink, link_id, with_for_update=True)
    if link is None:
        raise NotFound(Text("没有这个关联申请", "No such link request"), code="link_not_found")
    if not principal.covers_area(link.area_path):
        raise Forbidden(
            Text("该居民不在您负责的区域", "The resident is outside your areas"),
            code="out_of_scope",
        )
    wanted = LinkStatus.confirmed.value if confirm else LinkStatus.rejected.value
    if link.status == wanted:
        return link  # a retried decision
    if link.status != LinkStatus.pending.value:
        raise Conflict(Text("该申请已处理", "The request was decided already"), code="link_decided")
    link.status = wanted
    link.decided_by = principal.subject
    link.decided_at = utcnow()
    session.add(link)
    await session.flush()
    return link


async def my_resident(session: AsyncSession, principal: Principal) -> Resident:
    """The resident record of the calling resident account, once a grid worker confirmed it."""
    link = await live_link(session, account_id_of(principal))
    if link is None or link.status != LinkStatus.confirmed.value:
        raise Forbidden(
            Text(
                "账号尚未关联居民登记：请先申请关联，由网格员确认",
                "The account is not linked to a resident record yet",
            ),
            code="resident_not_linked",
        )
    resident = await session.get(Resident, link.resident_id)
    if resident is None:
        raise NotFound(Text("居民登记已不存在", "The resident record is gone"), code="not_found")
    return resident
