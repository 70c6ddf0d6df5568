"""``/api/v1/points``: resident points (积分制) — rules, earning, the points shop (积分超市),
redemptions, reversals, balance and ledger."""

from __future__ import annotations

import uuid
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Query
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from grid_service.basicinfo.models import Resident
from grid_service.basicinfo.repository import under_any
from grid_service.basicinfo.service import StaffDep, area_in_scope, in_scope, scope_paths
from grid_service.points import service
from grid_service.points.models import PointsEntry, PointsRule, ShopItem
from grid_service.points.schemas import (
    BalanceRead,
    Earn,
    EntryRead,
    EntryResult,
    Redeem,
    Reverse,
    RuleCreate,
    RuleRead,
    RuleUpdate,
    ShopItemCreate,
    ShopItemRead,
    ShopItemUpdate,
)
from grid_service.privacy.deps import SettingsDep, example_response
from grid_service.scope import TopAdminDep, ensure_covers
from shared.db import SessionDep
from shared.i18n import Text
from shared.pagination import Page, PageDep, paginate
from shared.problem import Conflict, FieldProblem, NotFound, ValidationFailed, problem_responses

RULE_EXAMPLE = {
    "id": "1a2b3c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d",
    "code": "volunteer_hour",
    "name": "志愿服务(每小时)",
    "points": 10,
    "daily_cap": 40,
    "active": True,
    "created_at": "2026-11-23T12:00:00Z",
}
ITEM_EXAMPLE = {
    "id": "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b",
    "area_id": "3e1f6a52-1f7e-4b53-9c2b-52d8c1a0f001",
    "area_path": "330100.330106.330106001.330106001001",
    "name": "洗衣液 2kg",
    "cost": 200,
    "stock": 30,
    "active": True,
    "created_at": "2026-11-23T12:00:00Z",
}


router = APIRouter(prefix="/api/v1/points", tags=["points"])

ENTRY_EXAMPLE = {
    "id": "4f3e2d1c-0b9a-4887-a665-544332211000",
    "resident_id": "5d1c3f0a-0c0e-4f51-8f7e-2a4c6b8d0e12",
    "kind": "earn",
    "points": 20,
    "rule_id": "1a2b3c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d",
    "item_id": None,
    "quantity": 2,
    "reference": None,
    "reverses_id": None,
    "earned_on": "2026-11-23",
    "note": "社区清洁志愿服务",
    "created_by": "8a0c7f0e-2b1d-4d7e-9b0a-1f0e2d3c4b5a",
    "created_at": "2026-11-23T07:00:00Z",
    "balance": 120,
    "capped": False,
}


@router.post(
    "/rules",
    status_code=201,
    response_model=RuleRead,
    summary="Create an earning rule",
    description="Admins of a whole tree. Points per unit and an optional daily cap per resident.",
    responses=example_response(RULE_EXAMPLE, 201) | problem_responses(401, 403, 409, 422),
)
async def create_rule(session: SessionDep, principal: TopAdminDep, body: RuleCreate) -> RuleRead:
    rule = PointsRule(**body.model_dump())
    session.add(rule)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            Text(f"规则 {body.code} 已存在", f"Rule {body.code} exists"), code="rule_exists"
        ) from exc
    return RuleRead.model_validate(rule)


@router.get(
    "/rules",
    response_model=list[RuleRead],
    summary="List earning rules",
    description="Staff.",
    responses=example_response([RULE_EXAMPLE], 200) | problem_responses(401, 403),
)
async def list_rules(session: SessionDep, principal: StaffDep) -> list[RuleRead]:
    result = await session.execute(sa.select(PointsRule).order_by(col(PointsRule.code)))
    return [RuleRead.model_validate(r) for r in result.scalars().all()]


@router.patch(
    "/rules/{code}",
    response_model=RuleRead,
    summary="Change a rule's points, cap or activity",
    description="Admins of a whole tree. Entries already earned are not changed.",
    responses=example_response(RULE_EXAMPLE, 200) | problem_responses(401, 403, 404, 422),
)
async def update_rule(
    session: SessionDep, principal: TopAdminDep, code: str, body: RuleUpdate
) -> RuleRead:
    rule = (
        await session.execute(sa.select(PointsRule).where(col(PointsRule.code) == code))
    ).scalar_one_or_none()
    if rule is None:
        raise NotFound(Text(f"没有规则 {code}", f"No rule {code}"), code="rule_not_found")
    changes = body.model_dump(exclude_unset=True)
    for name in ("name", "points", "active"):
        if name in changes and changes[name] is None:
            raise ValidationFailed(
                Text(f"{name} 不能为空", f"{name} cannot be null"),
                errors=[FieldProblem(field=name, reason=Text("不能为空", "cannot be null"))],
            )
    for key, value in changes.items():
        setattr(rule, key, value)
    session.add(rule)
    await session.flush()
    return RuleRead.model_validate(rule)


@router.post(
    "/earnings",
    status_code=201,
    response_model=EntryResult,
    summary="Award points by rule",
    description="Staff whose areas cover the resident. The amount is the rule's points times "
    "`quantity`, cut to what the rule's daily cap leaves (`capped=true`); at the cap it is a "
    "409. A `reference` (e.g. the case a valid report became) earns once per rule.",
    responses=example_response(ENTRY_EXAMPLE, 201) | problem_responses(401, 403, 404, 409, 422),
)
async def earn(
    session: SessionDep, principal: StaffDep, settings: SettingsDep, body: Earn
) -> EntryResult:
    return await service.earn(session, settings, principal, body)


@router.post(
    "/redemptions",
    status_code=201,
    response_model=EntryResult,
    summary="Redeem points for a shop item",
    description="Staff of the points shop, inside the resident's area. The balance never goes "
    "negative and the stock never below zero: two redemptions at once are serialised on the "
    "resident's balance row, and the one that no longer fits is a 409 `insufficient_points`.",
    responses=example_response(
        {**ENTRY_EXAMPLE, "kind": "redeem", "points": -200, "rule_id": None, "quantity": 1}, 201
    )
    | problem_responses(401, 403, 404, 409, 422),
)
async def redeem(
    session: SessionDep, principal: StaffDep, settings: SettingsDep, body: Redeem
) -> EntryResult:
    return await service.redeem(session, settings, principal, body)


@router.post(
    "/entries/{entry_id}/reversal",
    status_code=201,
    response_model=EntryResult,
    summary="Reverse a ledger entry",
    description="Staff inside the resident's area. Writes a new entry with the opposite amount "
    "(a reversed redemption also restocks the item); the original is never edited. Each entry "
    "can be reversed once; reversing earned points already spent is a 409.",
    responses=example_response(
        {
            **ENTRY_EXAMPLE,
            "kind": "reversal",
            "points": -20,
            "reverses_id": "4f3e2d1c-0b9a-4887-a665-544332211000",
        },
        201,
    )
    | problem_responses(401, 403, 404, 409, 422),
)
async def reverse(
    session: SessionDep,
    principal: StaffDep,
    settings: SettingsDep,
    entry_id: uuid.UUID,
    body: Reverse,
) -> EntryResult:
    return await service.reverse(session, settings, principal, entry_id, body.reason)


@router.get(
    "/residents/{resident_id}/balance",
    response_model=BalanceRead,
    summary="A resident's balance",
    description="Staff inside the resident's area.",
    responses=example_response(
        {"resident_id": "5d1c3f0a-0c0e-4f51-8f7e-2a4c6b8d0e12", "balance": 120}
    )
    | problem_responses(401, 403, 404),
)
async def get_balance(
    session: SessionDep, principal: StaffDep, resident_id: uuid.UUID
) -> BalanceRead:
    resident = await in_scope(session, principal, Resident, resident_id, what="resident")
    return BalanceRead(resident_id=resident.id, balance=await service.balance(session, resident.id))


@router.get(
    "/residents/{resident_id}/ledger",
    response_model=Page[EntryRead],
    summary="A resident's ledger",
    description="Staff inside the resident's area; newest first.",
    responses=example_response(
        {
            "items": [{k: v for k, v in ENTRY_EXAMPLE.items() if k not in ("balance", "capped")}],
            "next_cursor": None,
        },
        200,
    )
    | problem_responses(401, 403, 404, 422),
)
async def ledger(
    session: SessionDep, principal: StaffDep, resident_id: uuid.UUID, page: PageDep
) -> Page[EntryRead]:
    resident = await in_scope(session, principal, Resident, resident_id, what="resident")
    t = PointsEntry.__table__  # type: ignore[attr-defined]
    return await paginate(
        session,
        sa.select(PointsEntry).where(col(PointsEntry.resident_id) == resident.id),
        order_by=[t.c.created_at, t.c.id],
        params=page,
        descending=True,
        to_item=EntryRead.model_validate,
    )


@router.post(
    "/shop-items",
    status_code=201,
    response_model=ShopItemRead,
    summary="Offer an item in a community's points shop",
    description="Staff whose areas cover the area (usually a community).",
    responses=example_response(ITEM_EXAMPLE, 201) | problem_responses(401, 403, 422),
)
async def create_item(
    session: SessionDep, principal: StaffDep, body: ShopItemCreate
) -> ShopItemRead:
    area = await area_in_scope(session, principal, body.area_id)
    item = ShopItem(**body.model_dump(), area_path=area.path)
    session.add(item)
    await session.flush()
    return ShopItemRead.model_validate(item)


@router.get(
    "/shop-items",
    response_model=Page[ShopItemRead],
    summary="List shop items",
    description="Staff: the items of the shops inside their areas and of the areas above them "
    "(a grid worker sees the community's shop too).",
    responses=example_response({"items": [ITEM_EXAMPLE], "next_cursor": None}, 200)
    | problem_responses(401, 403, 422),
)
async def list_items(
    session: SessionDep,
    principal: StaffDep,
    page: PageDep,
    area_path: Annotated[str | None, Query(max_length=400)] = None,
) -> Page[ShopItemRead]:
    t = ShopItem.__table__  # type: ignore[attr-defined]
    paths = scope_paths(principal, area_path)
    above = {".".join(p.split(".")[: i + 1]) for p in paths for i in range(p.count("."))}
    return await paginate(
        session,
        sa.select(ShopItem).where(
            sa.or_(under_any(col(ShopItem.area_path), paths), col(ShopItem.area_path).in_(above))
        ),
        order_by=[t.c.created_at, t.c.id],
        params=page,
        descending=False,
        to_item=ShopItemRead.model_validate,
    )


@router.patch(
    "/shop-items/{item_id}",
    response_model=ShopItemRead,
    summary="Restock, re-price or withdraw a shop item",
    description="Staff whose areas cover the shop's area (the community). `restock` adds to "
    "the stock (a negative number takes items out, never below zero); `active: false` "
    "withdraws the item from the shop (redemptions of it are refused), `true` offers it again.",
    responses=example_response(ITEM_EXAMPLE, 200) | problem_responses(401, 403, 404, 409, 422),
)
async def update_item(
    session: SessionDep, principal: StaffDep, item_id: uuid.UUID, body: ShopItemUpdate
) -> ShopItemRead:
    item = await session.get(ShopItem, item_id, with_for_update=True)
    if item is None:
        raise NotFound(Text("积分超市没有这个商品", "No such shop item"), code="item_not_found")
    ensure_covers(principal, [item.area_path], what="shop item")
    if body.restock is not None:
        if item.stock + body.restock < 0:
            raise Conflict(
                Text(f"库存只有 {item.stock} 件", f"Only {item.stock} in stock"),
                code="stock_too_low",
            )
        item.stock += body.restock
    if body.cost is not None:
        item.cost = body.cost
    if body.active is not None:
        item.active = body.active
    session.add(item)
    await session.flush()
    return ShopItemRead.model_validate(item)
