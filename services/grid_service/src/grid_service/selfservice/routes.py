"""``/api/v1/me/…`` (a resident's own side: record, points, shop) and ``/api/v1/resident-links``
(the grid worker confirms that a resident account is that resident)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import col

from grid_service.basicinfo import service as basicinfo
from grid_service.basicinfo.repository import under_any
from grid_service.basicinfo.schemas import ID_NUMBER_PATTERN, ResidentRead
from grid_service.basicinfo.service import StaffDep, scope_paths
from grid_service.points import service as points
from grid_service.points.models import PointsEntry, PointsRule, ShopItem
from grid_service.points.schemas import BalanceRead, EntryRead, EntryResult, RuleRead, ShopItemRead
from grid_service.privacy.deps import CipherDep, SettingsDep, example_response
from grid_service.selfservice import service
from grid_service.selfservice.models import LinkStatus, ResidentLink
from shared.auth import Principal, require_roles
from shared.db import SessionDep
from shared.i18n import Text
from shared.pagination import Page, PageDep, paginate
from shared.problem import NotFound, problem_responses

me_router = APIRouter(prefix="/api/v1/me", tags=["residents' own side"])
links_router = APIRouter(prefix="/api/v1/resident-links", tags=["residents' own side"])
ResidentDep = Annotated[Principal, require_roles("resident")]


class LinkRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"id_number": "11010519491231002X"}, {}]}
    )

    id_number: str | None = Field(
        None,
        pattern=ID_NUMBER_PATTERN,
        description="the resident's ID number; without it the account's verified phone is used",
    )


class LinkRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    account_id: uuid.UUID
    resident_id: uuid.UUID
    area_path: str
    matched_by: str
    status: LinkStatus
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None


class Redemption(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"item_id": "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"}]},
    )

    item_id: uuid.UUID
    quantity: int = Field(1, ge=1, le=100)


LINK_EXAMPLE = {
    "id": "1f2e3d4c-5b6a-4798-8a7b-6c5d4e3f2a1b",
    "account_id": "2b1c7f2e-6b1d-4a3e-8f20-1c9d0b7e6a11",
    "resident_id": "5d1c3f0a-0c0e-4f51-8f7e-2a4c6b8d0e12",
    "area_path": "330100.330106.330106001.330106001001.330106001001001",
    "matched_by": "phone",
    "status": "pending",
    "requested_at": "2026-12-06T02:00:00Z",
    "decided_by": None,
    "decided_at": None,
}


@me_router.post(
    "/resident-link",
    status_code=201,
    response_model=LinkRead,
    summary="Ask to link my account to my resident record",
    description="A resident account. Matched by the ID number given, else by the account's "
    "verified phone; the grid worker of the resident's grid confirms it "
    "(`POST /api/v1/resident-links/{id}/confirm`). Asking again returns the same request "
    "(200). No match: 404 `resident_not_found`; several residents share the phone: 409 "
    "`resident_ambiguous` (give the ID number); the record is another account's: 409.",
    responses=example_response(LINK_EXAMPLE, 201) | problem_responses(401, 403, 404, 409, 422),
)
async def request_link(
    session: SessionDep, principal: ResidentDep, cipher: CipherDep, body: LinkRequest
) -> JSONResponse:
    link, new = await service.request_link(session, cipher, principal, body.id_number)
    return JSONResponse(
        LinkRead.model_validate(link).model_dump(mode="json"), status_code=201 if new else 200
    )


@me_router.get(
    "/resident-link",
    response_model=LinkRead,
    summary="My link request and its state",
    responses=example_response(LINK_EXAMPLE, 200) | problem_responses(401, 403, 404),
)
async def get_link(session: SessionDep, principal: ResidentDep) -> LinkRead:
    link = await service.live_link(session, service.account_id_of(principal))
    if link is None:
        raise NotFound(Text("尚未申请关联", "No link was asked for"), code="link_not_found")
    return LinkRead.model_validate(link)


@me_router.get(
    "/resident",
    response_model=ResidentRead,
    summary="My resident record (masked)",
    description="A resident account linked to its record: the record with ID and phone masked.",
    responses=problem_responses(401, 403),
)
async def my_record(session: SessionDep, principal: ResidentDep, cipher: CipherDep) -> ResidentRead:
    resident = await service.my_resident(session, principal)
    return basicinfo.resident_read(resident, cipher, reveal=False, tags=[])


@me_router.get(
    "/points",
    response_model=BalanceRead,
    summary="My points balance",
    responses=example_response(
        {"resident_id": "5d1c3f0a-0c0e-4f51-8f7e-2a4c6b8d0e12", "balance": 120}
    )
    | problem_responses(401, 403),
)
async def my_balance(session: SessionDep, principal: ResidentDep) -> BalanceRead:
    resident = await service.my_resident(session, principal)
    return BalanceRead(resident_id=resident.id, balance=await points.balance(session, resident.id))


@me_router.get(
    "/points/ledger",
    response_model=Page[EntryRead],
    summary="My points ledger, newest first",
    responses=problem_responses(401, 403, 422),
)
async def my_ledger(session: SessionDep, principal: ResidentDep, page: PageDep) -> Page[EntryRead]:
    resident = await service.my_resident(session, principal)
    t = PointsEntry.__table__  # type: ignore[attr-defined]
    return await paginate(
        session,
        sa.select(PointsEntry).where(col(PointsEntry.resident_id) == resident.id),
        order_by=[t.c.created_at, t.c.id],
        params=page,
        descending=True,
        to_item=EntryRead.model_validate,
    )


@me_router.get(
    "/points/rules",
    response_model=list[RuleRead],
    summary="How points are earned (the active rules)",
    responses=problem_responses(401, 403),
)
async def my_rules(session: SessionDep, principal: ResidentDep) -> list[RuleRead]:
    await service.my_resident(session, principal)
    rules = await session.execute(
        sa.select(PointsRule).where(col(PointsRule.active)).order_by(col(PointsRule.code))
    )
    return [RuleRead.model_validate(r) for r in rules.scalars()]


@me_router.get(
    "/shop-items",
    response_model=list[ShopItemRead],
    summary="The points shop of my community and grid",
    description="Active items in stock offered by any area above or at the resident's grid "
    "(the community's shop and the grid's), cheapest first.",
    responses=problem_responses(401, 403),
)
async def my_shop(session: SessionDep, principal: ResidentDep) -> list[ShopItemRead]:
    resident = await service.my_resident(session, principal)
    parts = resident.area_path.split(".")
    above = [".".join(parts[: i + 1]) for i in range(len(parts))]
    items = await session.execute(
        sa.select(ShopItem)
        .where(col(ShopItem.area_path).in_(above), col(ShopItem.active), col(ShopItem.stock) > 0)
        .order_by(col(ShopItem.cost), col(ShopItem.id))
        .limit(200)
    )
    return [ShopItemRead.model_validate(i) for i in items.scalars()]


@me_router.post(
    "/redemptions",
    status_code=201,
    response_model=EntryResult,
    summary="Redeem my points for a shop item",
    description="The same rules as at the shop counter: the balance never goes negative (409 "
    "`insufficient_points`), the stock never below zero (409 `out_of_stock`), only items of "
    "the resident's community and grid.",
    responses=problem_responses(401, 403, 409, 422),
)
async def my_redemption(
    session: SessionDep, principal: ResidentDep, settings: SettingsDep, body: Redemption
) -> EntryResult:
    resident = await service.my_resident(session, principal)
    return await points.redeem_for(
        session, settings, resident, item_id=body.item_id, quantity=body.quantity, by=principal
    )


@links_router.get(
    "",
    response_model=Page[LinkRead],
    summary="Link requests waiting for confirmation in my areas",
    description="Grid workers, leaders and admins: residents' requests to link their account "
    "to their record, oldest first.",
    responses=example_response({"items": [LINK_EXAMPLE], "next_cursor": None}, 200)
    | problem_responses(401, 403, 422),
)
async def pending_links(
    session: SessionDep,
    principal: StaffDep,
    page: PageDep,
    area_path: Annotated[str | None, Query(max_length=400)] = None,
) -> Page[LinkRead]:
    t = ResidentLink.__table__  # type: ignore[attr-defined]
    return await paginate(
        session,
        sa.select(ResidentLink).where(
            col(ResidentLink.status) == LinkStatus.pending.value,
            under_any(col(ResidentLink.area_path), scope_paths(principal, area_path)),
        ),
        order_by=[t.c.area_path, t.c.requested_at, t.c.id],
        params=page,
        descending=False,
        to_item=LinkRead.model_validate,
    )


@links_router.post(
    "/{link_id}/confirm",
    response_model=LinkRead,
    summary="Confirm that this account is this resident",
    description="A grid worker, leader or admin whose areas cover the resident's grid.",
    responses=example_response({**LINK_EXAMPLE, "status": "confirmed"}, 200)
    | problem_responses(401, 403, 404, 409),
)
async def confirm_link(session: SessionDep, principal: StaffDep, link_id: uuid.UUID) -> LinkRead:
    return LinkRead.model_validate(await service.decide(session, principal, link_id, confirm=True))


@links_router.post(
    "/{link_id}/reject",
    response_model=LinkRead,
    summary="Refuse a link request",
    responses=example_response({**LINK_EXAMPLE, "status": "rejected"}, 200)
    | problem_responses(401, 403, 404, 409),
)
async def reject_link(session: SessionDep, principal: StaffDep, link_id: uuid.UUID) -> LinkRead:
    return LinkRead.model_validate(await service.decide(session, principal, link_id, confirm=False))
