"""``/api/v1/departments``: functional departments (职能部门), their categories and areas."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from grid_service.accounts import repository as accounts_repository
from grid_service.accounts.routes import ACCOUNT_EXAMPLE
from grid_service.accounts.schemas import AccountRead
from grid_service.accounts.service import to_read as account_read
from grid_service.departments import repository
from grid_service.departments.models import Department
from grid_service.departments.schemas import DepartmentCreate, DepartmentRead, DepartmentUpdate
from grid_service.members import repository as members_repository
from grid_service.members import service as members_service
from grid_service.members.models import Member
from grid_service.members.schemas import MEMBER_CARD_EXAMPLE, MemberCard
from grid_service.scope import AdminDep, ensure_covers, is_resident
from shared.auth import CurrentPrincipal
from shared.db import SessionDep
from shared.i18n import Text
from shared.pagination import Page, PageDep, paginate
from shared.problem import Conflict, FieldProblem, NotFound, ValidationFailed, problem_responses

router = APIRouter(prefix="/api/v1/departments", tags=["departments"])

DEPT_EXAMPLE = {
    "id": "3e1f6a52-1f7e-4b53-9c2b-52d8c1a0f001",
    "code": "xh_urban_management",
    "name": "西湖区城市管理局",
    "categories": ["city_appearance.stall"],
    "area_paths": ["330100.330106"],
    "phone": "057112319",
    "created_at": "2026-11-23T12:00:00Z",
}
OK_DEPT = {"content": {"application/json": {"example": DEPT_EXAMPLE}}}


def _read(d: Department) -> DepartmentRead:
    return DepartmentRead.model_validate(d, from_attributes=True)


def _check_categories(categories: list[str] | None) -> None:
    import re

    from grid_service.departments.schemas import CATEGORY_PATTERN

    bad = [
        FieldProblem(
            field=f"categories.{i}",
            reason=Text(
                "类别编码由小写下划线片段以点连接组成",
                "a category code is lower_snake segments joined by dots",
            ),
            type="format",
        )
        for i, c in enumerate(categories or [])
        if not re.match(CATEGORY_PATTERN, c) or len(c) > 100
    ]
    if bad:
        raise ValidationFailed(
            Text("类别编码无效", "Invalid category codes"), code="invalid_department", errors=bad
        )


async def _get(session: SessionDep, department_id: uuid.UUID) -> Department:
    dept = await repository.get(session, department_id)
    if dept is None:
        raise NotFound(
            Text(f"没有部门 {department_id}", f"No department {department_id}"),
            code="department_not_found",
        )
    return dept


@router.post(
    "",
    status_code=201,
    response_model=DepartmentRead,
    summary="Create a department",
    description="Admins only; every area it serves must lie inside the admin's areas.",
    responses={201: OK_DEPT, **problem_responses(401, 403, 409, 422)},
)
async def create_department(
    session: SessionDep, principal: AdminDep, body: DepartmentCreate
) -> DepartmentRead:
    _check_categories(body.categories)
    ensure_covers(principal, body.area_paths, what="department's area")
    if await repository.get_by_code(session, body.code) is not None:
        raise Conflict(
            Text(f"部门 {body.code} 已存在", f"Department {body.code} already exists"),
            code="department_exists",
        )
    dept = Department(**body.model_dump())
    dept.categories = sorted(set(body.categories))
    session.add(dept)
    await session.flush()
    return _read(dept)


@router.get(
    "",
    response_model=Page[DepartmentRead],
    summary="List departments",
    description="Any signed-in caller (staff or a platform client such as case_service). "
    "`category`: departments owning that case category; `area_path`: departments serving that "
    "area (they serve it or an area above it).",
    responses={
        200: {
            "content": {
                "application/json": {"example": {"items": [DEPT_EXAMPLE], "next_cursor": None}}
            }
        },
        **problem_responses(401, 422),
    },
)
async def list_departments(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    category: Annotated[
        str | None, Query(max_length=100, examples=["city_appearance.stall"])
    ] = None,
    area_path: Annotated[str | None, Query(max_length=400, examples=["330100.330106"])] = None,
) -> Page[DepartmentRead]:
    table = Department.__table__  # type: ignore[attr-defined]
    return await paginate(
        session,
        repository.list_statement(category=category, area_path=area_path),
        order_by=[table.c.created_at, table.c.id],
        params=page,
        descending=False,
        to_item=_read,
    )


@router.get(
    "/{department_id}",
    response_model=DepartmentRead,
    summary="Get a department",
    description="Any signed-in caller.",
    responses={200: OK_DEPT, **problem_responses(401, 404)},
)
async def get_department(
    session: SessionDep, principal: CurrentPrincipal, department_id: uuid.UUID
) -> DepartmentRead:
    return _read(await _get(session, department_id))


@router.patch(
    "/{department_id}",
    response_model=DepartmentRead,
    summary="Change a department's name, categories, areas or phone",
    description="Admins whose areas cover every area the department serves (before and after).",
    responses={200: OK_DEPT, **problem_responses(401, 403, 404, 422)},
)
async def update_department(
    session: SessionDep, principal: AdminDep, department_id: uuid.UUID, body: DepartmentUpdate
) -> DepartmentRead:
    dept = await _get(session, department_id)
    changes = body.model_dump(exclude_unset=True)
    for name in ("name", "categories", "area_paths"):
        if name in changes and changes[name] is None:
            raise ValidationFailed(
                Text(f"{name} 不能为空", f"{name} cannot be null"),
                errors=[
                    FieldProblem(field=name, reason=Text("不能为空", "cannot be null"), type="null")
                ],
            )
    _check_categories(body.categories)
    ensure_covers(principal, dept.area_paths + (body.area_paths or []), what="department")
    for key, value in changes.items():
        setattr(dept, key, sorted(set(value)) if key == "categories" else value)
    session.add(dept)
    await session.flush()
    return _read(dept)


@router.get(
    "/{department_id}/handlers",
    response_model=Page[AccountRead] | Page[MemberCard],
    summary="The department's handler accounts",
    description="Staff and platform clients: the handler accounts, phones masked. Residents: "
    "only handlers who consented to the public contact card (服务联系卡: a member post of "
    "theirs with `public_consent`), as contact-card entries (post, name, duties, the "
    "published work phone) — no account ids, usernames, roles or areas; the department's "
    "own public phone is on `GET /api/v1/departments/{id}`.",
    responses={
        200: {
            "content": {
                "application/json": {
                    "examples": {
                        "staff": {
                            "summary": "staff",
                            "value": {"items": [ACCOUNT_EXAMPLE], "next_cursor": None},
                        },
                        "resident": {
                            "summary": "resident (consenting handlers, contact-card fields)",
                            "value": {"items": [MEMBER_CARD_EXAMPLE], "next_cursor": None},
                        },
                    }
                }
            }
        },
        **problem_responses(401, 404),
    },
)
async def list_handlers(
    session: SessionDep, principal: CurrentPrincipal, department_id: uuid.UUID, page: PageDep
) -> Page[AccountRead] | Page[MemberCard]:
    dept = await _get(session, department_id)
    if is_resident(principal):
        members = Member.__table__  # type: ignore[attr-defined]
        return await paginate(
            session,
            members_repository.published_of_department(str(dept.id)),
            order_by=[members.c.created_at, members.c.id],
            params=page,
            descending=False,
            to_item=members_service.to_card,
        )
    table = accounts_repository.Account.__table__  # type: ignore[attr-defined]
    return await paginate(
        session,
        accounts_repository.list_statement(department_id=str(dept.id)),
        order_by=[table.c.created_at, table.c.id],
        params=page,
        descending=False,
        to_item=account_read,
    )
