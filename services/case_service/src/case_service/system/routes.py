"""``GET /api/v1/me``: the caller as case_service sees them (token checks for integrators)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from shared.auth import CurrentPrincipal
from shared.problem import problem_responses

router = APIRouter(prefix="/api/v1", tags=["system"])


class PrincipalRead(BaseModel):
    subject: str = Field(description="account or platform client id", examples=["4f1c…"])
    roles: list[str] = Field(examples=[["dispatcher"]])
    area_paths: list[str] = Field(examples=[["330100.330106.330106001"]])
    department_ids: list[str] = Field(default_factory=list)
    scopes: list[str] = Field(default_factory=list)
    client_id: str | None = None
    name: str | None = Field(None, examples=["王调度"])


@router.get(
    "/me",
    response_model=PrincipalRead,
    summary="Who am I: the verified token as this service reads it",
    description="Verifies the bearer token against grid_service's JWKS and returns the roles "
    "and scopes case_service will apply. Useful to check an integration's token.",
    responses=problem_responses(401, 503),
)
async def me(principal: CurrentPrincipal) -> PrincipalRead:
    return PrincipalRead(
        subject=principal.subject,
        roles=sorted(principal.roles),
        area_paths=list(principal.area_paths),
        department_ids=list(principal.department_ids),
        scopes=sorted(principal.scopes),
        client_id=principal.client_id,
        name=principal.name,
    )
