"""``/api/v1/recipients``: who a message goes to (for notify_service; full phone numbers)."""

from __future__ import annotations

import uuid
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy.dialects.postgresql import ARRAY

from grid_service.accounts import repository as accounts_repository
from grid_service.accounts.models import Account, AccountKind
from grid_service.departments.models import Department
from grid_service.members.models import Member
from shared.auth import Principal, Role, require
from shared.contracts.recipients import (
    Audience,
    Channel,
    RecipientList,
    RecipientRead,
    RecipientResolveRequest,
)
from shared.db import SessionDep, utcnow
from shared.i18n import Text
from shared.pagination import PageParams, paginate
from shared.problem import FieldProblem, Forbidden, ValidationFailed, problem_responses

router = APIRouter(prefix="/api/v1/recipients", tags=["recipients"])

SCOPE = "recipients:read"
MAX_LIMIT = 1000  # broadcasts page through whole districts
EXAMPLE = {
    "items": [
        {
            "account_id": "2b1c7f2e-6b1d-4a3e-8f20-1c9d0b7e6a11",
            "name": "李娜",
            "phone": "13900000007",
            "wechat_oa_openid": None,
            "wechat_mp_openid": "o6_bmjrPTlm6_2sgVt7hMZOPfL2M",
            "channels": ["wechat_mp", "sms"],
            "timezone": "Asia/Shanghai",
            "area_path": "330100.330106.330106001.330106001001",
            "area_paths": ["330100.330106.330106001.330106001001"],
        }
    ],
    "next_cursor": None,
}


def _allowed(principal: Principal) -> None:
    if SCOPE in principal.scopes or principal.has_role(Role.admin):
        return
    raise Forbidden(
        Text(f"此调用需要权限范围 {SCOPE}", f"This call needs the scope {SCOPE}"),
        code="missing_scope",
    )


def _responsible_allowed(principal: Principal) -> None:
    if not (RESPONSIBLE_SCOPE in principal.scopes or principal.has_role(Role.admin)):
        raise Forbidden(
            Text(
                f"此调用需要权限范围 {RESPONSIBLE_SCOPE}",
                f"This call needs the scope {RESPONSIBLE_SCOPE}",
            ),
            code="missing_scope",
        )


# scope checks as route dependencies: they run before the body and the query are validated
# (403 before 422)
ReaderDep = Annotated[Principal, require(_allowed)]
ResponsibleReaderDep = Annotated[Principal, require(_responsible_allowed)]
RESPONSIBLE_SCOPE = "responsible:read"


def _recipient(account: Account) -> RecipientRead:
    channels = []
    for name in account.channels:
        try:
            channels.append(Channel(name))
        except ValueError:
            continue
    return RecipientRead(
        account_id=account.id,
        name=account.name,
        phone=account.phone,
        wechat_oa_openid=account.wechat_oa_openid,
        wechat_mp_openid=account.wechat_mp_openid,
        channels=channels,
        area_path=account.home_area_path or (account.area_paths[0] if account.area_paths else None),
        area_paths=list(
            dict.fromkeys(
                [*([account.home_area_path] if account.home_area_path else []), *account.area_paths]
            )
        ),
    )


@router.post(
    "/resolve",
    response_model=RecipientList,
    summary="Contact details of these accounts",
    description="Service-to-service: the token needs the scope `recipients:read` (or the "
    "admin role). One entry per known, enabled account; unknown ids are left out. Phones "
    "are given in full — this is the only place they are.",
    responses={
        200: {"content": {"application/json": {"example": EXAMPLE}}},
        **problem_responses(401, 403, 422),
    },
)
async def resolve(
    principal: ReaderDep, session: SessionDep, body: RecipientResolveRequest
) -> RecipientList:
    accounts = await accounts_repository.by_ids(session, list(dict.fromkeys(body.account_ids)))
    by_id = {a.id: a for a in accounts}
    return RecipientList(
        items=[_recipient(by_id[i]) for i in dict.fromkeys(body.account_ids) if i in by_id]
    )


@router.get(
    "",
    response_model=RecipientList,
    summary="Everyone of an audience in a subtree (for broadcasts)",
    description="Service-to-service, scope `recipients:read`. Residents whose home area, or "
    "staff whose primary area, lies at or under `area_path`; keyset pages ordered by "
    "account id.",
    responses={
        200: {"content": {"application/json": {"example": EXAMPLE}}},
        **problem_responses(401, 403, 422),
    },
)
async def list_recipients(
    principal: ReaderDep,
    session: SessionDep,
    area_path: Annotated[str, Query(min_length=1, max_length=400, examples=["330100.330106"])],
    audience: Annotated[Audience, Query()] = Audience.residents,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="page size, at most 1000")] = 100,
) -> RecipientList:
    page = PageParams(cursor=cursor or None, limit=limit)
    kind = AccountKind.resident if audience is Audience.residents else AccountKind.staff
    table = Account.__table__  # type: ignore[attr-defined]
    listed = await paginate(
        session,
        accounts_repository.recipients_statement(kind=kind.value, area_path=area_path),
        order_by=[table.c.id],
        params=page,
        descending=False,
        to_item=_recipient,
    )
    return RecipientList(items=listed.items, next_cursor=listed.next_cursor)


class ResponsibleIds(BaseModel):
    account_ids: list[uuid.UUID] = Field(
        description="staff accounts holding one of the roles for the area(s)",
        examples=[["5e8f29a2-2940-4a94-a32c-b138e3085841"]],
    )


@router.get(
    "/responsible",
    response_model=ResponsibleIds,
    summary="Who answers for an area, by role (ids only)",
    description="For case_service's outbox relay: the staff who must hear of a case event. "
    "`match=covering` (default): accounts with one of `roles` whose scope covers `area_path` "
    "(the area itself or any area above it) — e.g. the grid leader and supervisors of an "
    "overdue case. `match=exact`: accounts scoped exactly to one of the given `area_path`s — "
    "e.g. the dispatchers of each level above a major incident. `match=department`: the "
    "on-duty accounts with one of `roles` in one of the departments `department_id` — e.g. "
    "the handlers of the lead and co-handling departments a case was dispatched to (by "
    "department code, as cases and tokens name them, or id); on duty "
    "means enabled and not away (离岗) on a post at this moment. Needs scope "
    f"`{RESPONSIBLE_SCOPE}` (or admin). Only ids are returned; contact details stay here.",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {"account_ids": ["5e8f29a2-2940-4a94-a32c-b138e3085841"]}
                }
            }
        },
        **problem_responses(403, 422),
    },
)
async def responsible(
    principal: ResponsibleReaderDep,
    session: SessionDep,
    roles: Annotated[list[str], Query(min_length=1, max_length=10)],
    area_path: Annotated[
        list[str], Query(max_length=20, description="with match=covering or exact")
    ] = [],  # noqa: B006 — FastAPI copies the default
    department_id: Annotated[
        list[str],
        Query(max_length=20, description="with match=department", examples=["dept-urban"]),
    ] = [],  # noqa: B006
    match: Annotated[str, Query(pattern="^(covering|exact|department)$")] = "covering",
) -> ResponsibleIds:
    wanted, field = (
        (department_id, "department_id")
        if match == "department"
        else (
            area_path,
            "area_path",
        )
    )
    if not wanted:
        raise ValidationFailed(
            Text(f"match={match} 需要 {field}", f"match={match} needs {field}"),
            errors=[
                FieldProblem(
                    field=f"query.{field}",
                    reason=Text(f"match={match} 时必填", f"required with match={match}"),
                    type="missing",
                )
            ],
        )
    table = Account.__table__  # type: ignore[attr-defined]
    paths = sa.func.unnest(table.c.area_paths).table_valued("p").render_derived(name="scope_path")
    if match == "department":
        member = Member.__table__  # type: ignore[attr-defined]
        now = utcnow()
        away = sa.exists(
            sa.select(1).where(
                member.c.account_id == table.c.id,
                member.c.away_since.is_not(None),
                member.c.away_since <= now,
                sa.or_(member.c.away_until.is_(None), member.c.away_until > now),
            )
        )
        # cases name a department by its code (as tokens do); accounts hold department ids
        depts = Department.__table__  # type: ignore[attr-defined]
        ids = (
            (
                await session.execute(
                    sa.select(sa.cast(depts.c.id, sa.String)).where(
                        sa.or_(
                            depts.c.code.in_(department_id),
                            sa.cast(depts.c.id, sa.String).in_(department_id),
                        )
                    )
                )
            )
            .scalars()
            .all()
        )
        where = sa.and_(table.c.department_ids.overlap(sa.cast(list(ids), ARRAY(sa.String))), ~away)
    elif match == "exact":
        where = table.c.area_paths.overlap(sa.cast(area_path, ARRAY(sa.String)))
    else:
        covers = sa.or_(
            *[sa.or_(paths.c.p == p, sa.literal(p).like(paths.c.p + ".%")) for p in area_path]
        )
        where = sa.exists(sa.select(1).select_from(paths).where(covers))
    rows = await session.execute(
        sa.select(table.c.id)
        .where(
            table.c.kind == AccountKind.staff.value,
            table.c.disabled.is_(False),
            table.c.roles.overlap(sa.cast(roles, ARRAY(sa.String))),
            where,
        )
        .order_by(table.c.id)
        .limit(500)
    )
    return ResponsibleIds(account_ids=list(rows.scalars().all()))
