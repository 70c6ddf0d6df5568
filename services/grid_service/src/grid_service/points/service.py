"""Points: earning by rule with daily caps, redeeming at the shop, reversals — all through the
resident's balance row, changed only by conditional UPDATEs (the row lock serialises two
changes at once, and ``balance >= cost`` is re-checked on the locked row, so two redemptions
cannot overspend). The ledger is append-only. Flushes, never commits."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from grid_service.basicinfo.models import Resident
from grid_service.basicinfo.service import in_scope, invalid
from grid_service.config import Settings
from grid_service.points.models import (
    EntryKind,
    PointsBalance,
    PointsEntry,
    PointsRule,
    ShopItem,
)
from grid_service.points.schemas import Earn, EntryRead, EntryResult, Redeem
from shared.auth import Principal
from shared.db import utcnow
from shared.i18n import Text
from shared.problem import Conflict, NotFound


def local_day(settings: Settings, at: datetime | None = None) -> date:
    return (at or utcnow()).astimezone(ZoneInfo(settings.local_timezone)).date()


def _balances() -> Any:
    return PointsBalance.__table__  # type: ignore[attr-defined]


async def _change_balance(session: AsyncSession, resident_id: uuid.UUID, delta: int) -> int | None:
    """Add ``delta``; None (and nothing changed) when the balance would go negative."""
    t = _balances()
    if delta >= 0:
        result = await session.execute(
            insert(t)
            .values(resident_id=resident_id, balance=delta, updated_at=utcnow())
            .on_conflict_do_update(
                index_elements=["resident_id"],
                set_={"balance": t.c.balance + delta, "updated_at": utcnow()},
            )
            .returning(t.c.balance)
        )
        return int(result.scalar_one())
    result = await session.execute(
        sa.update(t)
        .where(t.c.resident_id == resident_id, t.c.balance + delta >= 0)
        .values(balance=t.c.balance + delta, updated_at=utcnow())
        .returning(t.c.balance)
    )
    row = result.first()
    return None if row is None else int(row[0])


async def _lock_balance(session: AsyncSession, resident_id: uuid.UUID) -> int:
    """Create the row if needed and lock it for this transaction (serialises earnings, so two
    at once cannot both squeeze under a daily cap)."""
    t = _balances()
    await session.execute(
        insert(t)
        .values(resident_id=resident_id, balance=0, updated_at=utcnow())
        .on_conflict_do_nothing()
    )
    result = await session.execute(
        sa.select(t.c.balance).where(t.c.resident_id == resident_id).with_for_update()
    )
    return int(result.scalar_one())


async def balance(session: AsyncSession, resident_id: uuid.UUID) -> int:
    t = _balances()
    result = await session.execute(sa.select(t.c.balance).where(t.c.resident_id == resident_id))
    return int(result.scalar_one_or_none() or 0)


def _result(entry: PointsEntry, new_balance: int, *, capped: bool = False) -> EntryResult:
    return EntryResult(
        **EntryRead.model_validate(entry).model_dump(), balance=new_balance, capped=capped
    )


async def earn(
    session: AsyncSession, settings: Settings, principal: Principal, body: Earn
) -> EntryResult:
    resident = await in_scope(session, principal, Resident, body.resident_id, what="resident")
    rule = (
        await session.execute(sa.select(PointsRule).where(col(PointsRule.code) == body.rule_code))
    ).scalar_one_or_none()
    if rule is None or not rule.active:
        raise invalid(
            "rule_code",
            Text("没有使用这个编码的有效规则", "no active rule with this code"),
            code="rule_not_found",
        )
    await _lock_balance(session, resident.id)
    today = local_day(settings)
    amount = rule.points * body.quantity
    capped = False
    if rule.daily_cap is not None:
        earned = (
            await session.execute(
                sa.select(sa.func.coalesce(sa.func.sum(col(PointsEntry.points)), 0)).where(
                    col(PointsEntry.resident_id) == resident.id,
                    col(PointsEntry.rule_id) == rule.id,
                    col(PointsEntry.earned_on) == today,
                    col(PointsEntry.kind) == EntryKind.earn.value,
                )
            )
        ).scalar_one()
        room = rule.daily_cap - int(earned)
        if room <= 0:
            raise Conflict(
                Text(
                    f"该规则每日上限 {rule.daily_cap} 分已达到",
                    f"The daily cap of {rule.daily_cap} points for this rule is reached",
                ),
                code="daily_cap_reached",
            )
        if amount > room:
            amount, capped = room, True
    if body.reference is not None:
        taken = await session.execute(
            sa.select(col(PointsEntry.id)).where(
                col(PointsEntry.rule_id) == rule.id,
                col(PointsEntry.resident_id) == resident.id,
                col(PointsEntry.reference) == body.reference,
            )
        )
        if taken.first() is not None:
            raise Conflict(
                Text("此项已获得过积分", "Points were already earned for this"),
                code="already_earned",
            )
    entry = PointsEntry(
        resident_id=resident.id,
        kind=EntryKind.earn.value,
        points=amount,
        rule_id=rule.id,
        quantity=body.quantity,
        reference=body.reference,
        earned_on=today,
        note=body.note,
        created_by=principal.subject,
    )
    session.add(entry)
    await session.flush()
    new_balance = await _change_balance(session, resident.id, amount)
    assert new_balance is not None
    return _result(entry, new_balance, capped=capped)


async def redeem(
    session: AsyncSession, settings: Settings, principal: Principal, body: Redeem
) -> EntryResult:
    resident = await in_scope(session, principal, Resident, body.resident_id, what="resident")
    return await redeem_for(
        session, settings, resident, item_id=body.item_id, quantity=body.quantity, by=principal
    )


async def redeem_for(
    session: AsyncSession,
    settings: Settings,
    resident: Resident,
    *,
    item_id: uuid.UUID,
    quantity: int,
    by: Principal,
) -> EntryResult:
    """Redeem ``quantity`` of an item of the shops of the resident's grid and community (staff
    at the shop, or the resident in the app)."""
    item = await session.get(ShopItem, item_id)
    if item is None or not item.active:
        raise invalid(
            "item_id",
            Text("积分超市没有这个商品", "no such item in the shop"),
            code="item_not_found",
        )
    if not (
        resident.area_path == item.area_path or resident.area_path.startswith(item.area_path + ".")
    ):
        raise invalid(
            "item_id",
            Text("居民所在地不提供该商品", "this item is not offered where the resident lives"),
        )
    cost = item.cost * quantity
    new_balance = await _change_balance(session, resident.id, -cost)
    if new_balance is None:
        raise Conflict(
            Text(f"积分不足：需要 {cost} 分", f"Not enough points: this costs {cost}"),
            code="insufficient_points",
        )
    items = ShopItem.__table__  # type: ignore[attr-defined]
    stocked = await session.execute(
        sa.update(items)
        .where(items.c.id == item.id, items.c.stock >= quantity)
        .values(stock=items.c.stock - quantity)
        .returning(items.c.stock)
    )
    if stocked.first() is None:
        raise Conflict(
            Text("已无库存", "Out of stock"), code="out_of_stock"
        )  # the whole request rolls back
    entry = PointsEntry(
        resident_id=resident.id,
        kind=EntryKind.redeem.value,
        points=-cost,
        item_id=item.id,
        quantity=quantity,
        earned_on=local_day(settings),
        created_by=by.subject,
    )
    session.add(entry)
    await session.flush()
    return _result(entry, new_balance)


async def reverse(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    entry_id: uuid.UUID,
    reason: str,
) -> EntryResult:
    original = await session.get(PointsEntry, entry_id)
    if original is None:
        raise NotFound(
            Text(f"没有积分流水 {entry_id}", f"No ledger entry {entry_id}"), code="entry_not_found"
        )
    await in_scope(session, principal, Resident, original.resident_id, what="resident")
    if original.kind == EntryKind.reversal.value:
        raise Conflict(
            Text("冲正记录不能再冲正", "A reversal cannot be reversed"), code="reversal_of_reversal"
        )
    await _lock_balance(session, original.resident_id)
    done = await session.execute(
        sa.select(col(PointsEntry.id)).where(col(PointsEntry.reverses_id) == original.id)
    )
    if done.first() is not None:
        raise Conflict(
            Text("该记录已冲正", "This entry was already reversed"), code="already_reversed"
        )
    new_balance = await _change_balance(session, original.resident_id, -original.points)
    if new_balance is None:
        raise Conflict(
            Text(
                "积分已被使用，余额不能为负",
                "The points were already spent; the balance cannot go negative",
            ),
            code="insufficient_points",
        )
    if original.kind == EntryKind.redeem.value and original.item_id is not None:
        items = ShopItem.__table__  # type: ignore[attr-defined]
        await session.execute(
            sa.update(items)
            .where(items.c.id == original.item_id)
            .values(stock=items.c.stock + original.quantity)
        )
    entry = PointsEntry(
        resident_id=original.resident_id,
        kind=EntryKind.reversal.value,
        points=-original.points,
        rule_id=original.rule_id,
        item_id=original.item_id,
        quantity=original.quantity,
        reverses_id=original.id,
        earned_on=local_day(settings),
        note=reason,
        created_by=principal.subject,
    )
    session.add(entry)
    await session.flush()
    return _result(entry, new_balance)
