"""HTTP of the category catalogue: read by everyone signed in, changed by admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from case_service.categories import repository, service
from case_service.categories.schemas import CaseKind, CategoryCreate, CategoryRead, CategoryUpdate
from shared.auth import CurrentPrincipal, Principal, Role, require_roles
from shared.db import SessionDep
from shared.i18n import Text
from shared.problem import NotFound, problem_responses

router = APIRouter(prefix="/api/v1/categories", tags=["categories"])

AdminDep = Annotated[Principal, require_roles(Role.admin)]


@router.get(
    "",
    response_model=list[CategoryRead],
    summary="List the category catalogue (事项目录)",
    description="The current version of every active category. `parent_code` gives the 小类 "
    "under one 大类; `top_level=true` only the 大类. Each entry carries its intake form "
    "(`attributes`, Open311 style) sorted by `order`.",
    responses=problem_responses(401),
)
async def list_categories(
    session: SessionDep,
    principal: CurrentPrincipal,
    parent_code: Annotated[str | None, Query(max_length=32, examples=["05"])] = None,
    top_level: Annotated[bool, Query(description="only 大类")] = False,
    kind: Annotated[CaseKind | None, Query()] = None,
    include_inactive: Annotated[bool, Query(description="also retired categories")] = False,
) -> list[CategoryRead]:
    rows = await repository.list_current(
        session,
        parent_code=parent_code,
        top_level=top_level,
        kind=kind.value if kind else None,
        include_inactive=include_inactive,
    )
    return [CategoryRead.model_validate(r) for r in rows]


@router.get(
    "/{code}",
    response_model=CategoryRead,
    summary="Read one category (current version)",
    description="The current definition of the category with this stable code.",
    responses=problem_responses(401, 404),
)
async def get_category(code: str, session: SessionDep, principal: CurrentPrincipal) -> CategoryRead:
    row = await repository.get_current(session, code)
    if row is None:
        raise NotFound(Text(f"没有类别 {code}", f"No category {code}"), code="category_not_found")
    return CategoryRead.model_validate(row)


@router.get(
    "/{code}/versions",
    response_model=list[CategoryRead],
    summary="Every version of one category, newest first",
    description="Cases keep the version they were filed under; this lists them all.",
    responses=problem_responses(401, 404),
)
async def list_versions(
    code: str, session: SessionDep, principal: CurrentPrincipal
) -> list[CategoryRead]:
    rows = await repository.versions(session, code)
    if not rows:
        raise NotFound(Text(f"没有类别 {code}", f"No category {code}"), code="category_not_found")
    return [CategoryRead.model_validate(r) for r in rows]


@router.post(
    "",
    status_code=201,
    response_model=CategoryRead,
    summary="Create a category (admin)",
    description="A 大类 (no `parent_code`) or a 小类 under an existing 大类. Owner routing "
    "(属主) needs `owner_department_id`.",
    responses=problem_responses(401, 403, 409, 422),
)
async def create_category(
    body: CategoryCreate, session: SessionDep, principal: AdminDep
) -> CategoryRead:
    row = await service.create_category(session, data=body, actor_id=principal.subject)
    return CategoryRead.model_validate(row)


@router.put(
    "/{code}",
    response_model=CategoryRead,
    summary="Change a category: writes a new version (admin)",
    description="The body is the whole new definition. It becomes version n+1; cases filed "
    "under earlier versions keep their definition. `active=false` retires the category.",
    responses=problem_responses(401, 403, 404, 422),
)
async def update_category(
    code: str, body: CategoryUpdate, session: SessionDep, principal: AdminDep
) -> CategoryRead:
    row = await service.update_category(session, code=code, data=body, actor_id=principal.subject)
    return CategoryRead.model_validate(row)
