"""``/api/v1/members``: staff posts per area (AB岗), and the public contact card of an area."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from grid_service.areas import service as areas_service
from grid_service.members import repository, service
from grid_service.members.models import Member
from grid_service.members.schemas import (
    MEMBER_CARD_EXAMPLE,
    ContactCard,
    MemberAway,
    MemberCard,
    MemberCreate,
    MemberRead,
    MemberUpdate,
)
from grid_service.scope import AdminDep, ensure_covers, is_resident
from shared.auth import CurrentPrincipal, Principal, Role
from shared.db import SessionDep, utcnow
from shared.i18n import Text
from shared.pagination import Page, PageDep, paginate
from shared.problem import FieldProblem, Forbidden, ValidationFailed, problem_responses

router = APIRouter(prefix="/api/v1", tags=["members"])

MEMBER_EXAMPLE = {
    "id": "5a4c7f2e-6b1d-4a3e-8f20-1c9d0b7e6a11",
    "area_id": "8d0e8a52-1f7e-4b53-9c2b-52d8c1a0f001",
    "area_path": "330100.330106.330106001.330106001001.330106001001001",
    "post": "full_time_worker",
    "name": "王芳",
    "phone_masked": "138****5678",
    "duties": "巡查走访、信息采集、矛盾排查",
    "account_id": None,
    "public_consent": True,
    "backup_for_id": None,
    "away": False,
    "away_since": None,
    "away_until": None,
    "away_reason": None,
    "created_at": "2026-11-23T12:00:00Z",
}
OK_MEMBER = {"content": {"application/json": {"example": MEMBER_EXAMPLE}}}


def _may_manage(principal: Principal, member: Member) -> None:
    if principal.has_role(Role.admin):
        ensure_covers(principal, [member.area_path], what="member")
        return
    if member.account_id is not None and str(member.account_id) == principal.subject:
        return
    raise Forbidden(
        Text(
            "只有本区域的管理员或成员本人可以这样做",
            "Only an admin of this area or the member may do this",
        ),
        code="forbidden",
    )


@router.post(
    "/members",
    status_code=201,
    response_model=MemberRead,
    summary="Appoint a member to a post",
    description="Admins only, inside their own areas. Set `backup_for_id` to make this member "
    "the backup (B岗) of a primary holding the same post in the same area.",
    responses={201: OK_MEMBER, **problem_responses(401, 403, 422)},
)
async def create_member(session: SessionDep, principal: AdminDep, body: MemberCreate) -> MemberRead:
    area = await areas_service.get_area_or_none(session, body.area_id)
    if area is None:
        raise ValidationFailed(
            Text("该区域不存在", "The area does not exist"),
            code="area_not_found",
            errors=[
                FieldProblem(
                    field="area_id", reason=Text("没有这个区域", "no such area"), type="not_found"
                )
            ],
        )
    ensure_covers(principal, [area.path], what="member's area")
    member = await service.create_member(session, body=body, area=area)
    return service.to_read(member)


@router.get(
    "/members",
    response_model=Page[MemberRead],
    summary="List members",
    description="Any signed-in staff. Filter by area; oldest first; phones are masked.",
    responses={
        200: {
            "content": {
                "application/json": {"example": {"items": [MEMBER_EXAMPLE], "next_cursor": None}}
            }
        },
        **problem_responses(401, 403, 422),
    },
)
async def list_members(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    area_id: Annotated[uuid.UUID | None, Query()] = None,
) -> Page[MemberRead]:
    if is_resident(principal):
        raise Forbidden(
            Text("群众请查看公开的服务联系卡", "Residents see the public contact card instead"),
            code="forbidden",
        )
    now = utcnow()
    table = Member.__table__  # type: ignore[attr-defined]
    return await paginate(
        session,
        repository.list_statement(area_id=area_id),
        order_by=[table.c.created_at, table.c.id],
        params=page,
        descending=False,
        to_item=lambda m: service.to_read(m, now),
    )


@router.get(
    "/members/{member_id}",
    response_model=MemberRead | MemberCard,
    summary="Get a member",
    description="Staff and platform clients: the member, phone masked. Residents: only a "
    "member who consented to the public contact card (服务联系卡), and only its fields (post, "
    "name, duties, the published work phone) — any other member answers 404 "
    "`member_not_found`, as an unknown id does.",
    responses={
        200: {
            "content": {
                "application/json": {
                    "examples": {
                        "staff": {"summary": "staff", "value": MEMBER_EXAMPLE},
                        "resident": {
                            "summary": "resident (contact-card fields)",
                            "value": MEMBER_CARD_EXAMPLE,
                        },
                    }
                }
            }
        },
        **problem_responses(401, 404),
    },
)
async def get_member(
    session: SessionDep, principal: CurrentPrincipal, member_id: uuid.UUID
) -> MemberRead | MemberCard:
    if is_resident(principal):
        return service.to_card(await service.get_published_member(session, member_id))
    return service.to_read(await service.get_member(session, member_id))


@router.patch(
    "/members/{member_id}",
    response_model=MemberRead,
    summary="Change a member",
    description="Admins of the area, or the member's own account (e.g. to give or withdraw "
    "consent to publish the phone).",
    responses={200: OK_MEMBER, **problem_responses(401, 403, 404, 422)},
)
async def update_member(
    session: SessionDep, principal: CurrentPrincipal, member_id: uuid.UUID, body: MemberUpdate
) -> MemberRead:
    member = await service.get_member(session, member_id)
    _may_manage(principal, member)
    if not principal.has_role(Role.admin):
        others = set(body.model_dump(exclude_unset=True)) - {"public_consent"}
        if others:
            raise Forbidden(
                Text(
                    f"成员只能修改本人的公示同意，不能修改 {'、'.join(sorted(others))}",
                    f"A member may change only their consent, not {', '.join(sorted(others))}",
                ),
                code="forbidden",
            )
    return service.to_read(await service.update_member(session, member=member, body=body))


@router.post(
    "/members/{member_id}/away",
    response_model=MemberRead,
    summary="Mark a member away (leave, training)",
    description="Admins of the area or the member. While away, the backup answers for the "
    "post (locate, contact card).",
    responses={200: OK_MEMBER, **problem_responses(401, 403, 404, 422)},
)
async def mark_away(
    session: SessionDep, principal: CurrentPrincipal, member_id: uuid.UUID, body: MemberAway
) -> MemberRead:
    member = await service.get_member(session, member_id)
    _may_manage(principal, member)
    return service.to_read(await service.mark_away(session, member=member, body=body))


@router.delete(
    "/members/{member_id}/away",
    response_model=MemberRead,
    summary="Mark a member back",
    description="Admins of the area or the member.",
    responses={200: OK_MEMBER, **problem_responses(401, 403, 404)},
)
async def mark_back(
    session: SessionDep, principal: CurrentPrincipal, member_id: uuid.UUID
) -> MemberRead:
    member = await service.get_member(session, member_id)
    _may_manage(principal, member)
    return service.to_read(await service.mark_back(session, member=member))


@router.delete(
    "/members/{member_id}",
    status_code=204,
    summary="Remove a member from their post",
    description="Admins of the area. Refused (409 `member_has_backup`) while a backup points "
    "at this member.",
    responses=problem_responses(401, 403, 404, 409),
)
async def delete_member(session: SessionDep, principal: AdminDep, member_id: uuid.UUID) -> Response:
    member = await service.get_member(session, member_id)
    ensure_covers(principal, [member.area_path], what="member")
    await service.delete_member(session, member=member)
    return Response(status_code=204)


@router.get(
    "/areas/{area_id}/contact-card",
    response_model=ContactCard,
    summary="Public contact card of an area (服务联系卡)",
    description="Public. Who answers for each post of the area right now (the backup when the "
    "primary is away): name, post, duties and phone — the full phone only for members who "
    "consented, a masked one otherwise.",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "area": {
                            "id": "8d0e8a52-1f7e-4b53-9c2b-52d8c1a0f001",
                            "code": "330106001001001",
                            "name": "北山第一网格",
                            "level": "grid",
                            "path": "330100.330106.330106001.330106001001.330106001001001",
                        },
                        "entries": [
                            {
                                "post": "grid_leader",
                                "post_title": "网格长",
                                "name": "陈建国",
                                "duties": "统筹网格工作",
                                "phone": "13800000001",
                                "phone_is_masked": False,
                                "is_backup": False,
                            }
                        ],
                    }
                }
            }
        },
        **problem_responses(404),
    },
)
async def contact_card(session: SessionDep, area_id: uuid.UUID) -> ContactCard:
    area = await areas_service.get_area(session, area_id)
    (pairs,) = await service.responsible_by_area(session, [[area.id]], utcnow())
    return ContactCard(area=areas_service.to_ref(area), entries=service.card_entries(pairs))
