"""``GET /api/v1/cases/{case_id}/reporter-reveals``: the reveal audit of a case (PIPL)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from case_service.cases import service as case_service
from case_service.privacy.models import ReporterReveal
from shared.auth import Principal, Role, require_roles
from shared.db import SessionDep
from shared.pagination import Page, PageDep, paginate
from shared.problem import problem_responses

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])

AuditorDep = Annotated[Principal, require_roles(Role.admin, Role.supervisor)]


class ReporterRevealRead(BaseModel):
    """Who saw a case's reporter in full, when and why (append-only: never changed)."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "id": "0d3c1c7e-58a2-4a0e-9a3e-6f1d2b7c9e10",
                "case_id": "5b7b4a1e-2f0c-4d8e-9c1a-3e2f1d0c9b8a",
                "actor_id": "9f0e8d7c-6b5a-4c3d-2e1f-0a9b8c7d6e5f",
                "actor_roles": ["department_handler"],
                "fields": ["name", "phone"],
                "reason": "回电核实处理情况",
                "request_id": "5f0c1e0e9d8b4b7c",
                "created_at": "2026-12-06T14:30:00Z",
            }
        },
    )

    id: uuid.UUID
    case_id: uuid.UUID
    actor_id: str
    actor_roles: list[str]
    fields: list[str] = Field(description="what was shown in full: name, phone")
    reason: str
    request_id: str | None
    created_at: datetime


@router.get(
    "/{case_id}/reporter-reveals",
    response_model=Page[ReporterRevealRead],
    summary="Who saw the reporter in full (reveal audit)",
    description="Every `?reveal=true&reason=` answer for this case, newest first: who, their "
    "roles, which fields, why, and the request id. For admins and the supervisors whose scope "
    "covers the case (督查); others 403 `missing_role`, a case outside the caller's scope 404.",
    responses=problem_responses(401, 403, 404),
)
async def list_reveals(
    case_id: Annotated[uuid.UUID, Path(description="the case id")],
    session: SessionDep,
    principal: AuditorDep,
    page: PageDep,
) -> Page[ReporterRevealRead]:
    case = await case_service.get_visible(session, principal, case_id)
    table = ReporterReveal.__table__  # type: ignore[attr-defined]
    return await paginate(
        session,
        sa.select(ReporterReveal).where(table.c.case_id == case.id),
        order_by=[table.c.created_at, table.c.id],
        params=page,
        descending=True,
        to_item=ReporterRevealRead.model_validate,
    )
