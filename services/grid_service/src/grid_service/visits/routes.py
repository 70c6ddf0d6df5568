"""``/api/v1/visits``: household visits (走访) and the due and overdue visit lists."""

from __future__ import annotations

import uuid
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from sqlmodel import col

from grid_service.basicinfo.models import Household
from grid_service.basicinfo.repository import under_any
from grid_service.basicinfo.service import FieldViewerDep, StaffDep, scope_paths
from grid_service.privacy.deps import SettingsDep, example_response
from grid_service.visits import service
from grid_service.visits.models import Visit
from grid_service.visits.schemas import DueStatus, DueVisit, VisitCreate, VisitRead
from shared.db import SessionDep, utcnow
from shared.pagination import Page, PageDep, paginate
from shared.problem import problem_responses

router = APIRouter(prefix="/api/v1/visits", tags=["visits"])

VISIT_EXAMPLE = {
    "id": "1b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9",
    "household_id": "7b3e5f2c-2e2f-4173-8a9a-4c6e8d0f2a34",
    "area_path": "330100.330106.330106001.330106001001.330106001001001",
    "visitor_id": "8a0c7f0e-2b1d-4d7e-9b0a-1f0e2d3c4b5a",
    "visitor_name": "王芳",
    "visited_at": "2026-11-23T07:00:00Z",
    "kind": "home",
    "notes": "老人独居，身体尚可",
    "needs_found": ["冬季取暖补贴咨询"],
    "follow_up": "联系民政办确认补贴政策",
    "follow_up_due_on": "2026-11-30",
    "created_at": "2026-11-23T07:05:00Z",
}


@router.post(
    "",
    status_code=201,
    response_model=VisitRead,
    summary="Record a household visit",
    description="Staff whose areas cover the household. The app generates the id; sending the "
    "same visit again answers 200 with the stored one. The household's next due visit moves on "
    "by its cadence (key and hardship households monthly, every household at least four times "
    "a year; `GRID_VISIT_INTERVAL_*_DAYS`).",
    responses=example_response(VISIT_EXAMPLE, 201) | problem_responses(401, 403, 404, 409, 422),
)
async def record_visit(
    session: SessionDep, principal: StaffDep, settings: SettingsDep, body: VisitCreate
) -> JSONResponse:
    visit, new = await service.record(session, settings, principal, body)
    return JSONResponse(
        VisitRead.model_validate(visit).model_dump(mode="json"), status_code=201 if new else 200
    )


@router.get(
    "",
    response_model=Page[VisitRead],
    summary="List visits",
    description="Staff, inside their areas; newest first; filter by household or visitor.",
    responses=example_response({"items": [VISIT_EXAMPLE], "next_cursor": None}, 200)
    | problem_responses(401, 403, 422),
)
async def list_visits(
    session: SessionDep,
    principal: FieldViewerDep,
    page: PageDep,
    area_path: Annotated[str | None, Query(max_length=400)] = None,
    household_id: Annotated[uuid.UUID | None, Query()] = None,
    visitor_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[VisitRead]:
    stmt = sa.select(Visit).where(
        under_any(col(Visit.area_path), scope_paths(principal, area_path))
    )
    if household_id is not None:
        stmt = stmt.where(col(Visit.household_id) == household_id)
    if visitor_id is not None:
        stmt = stmt.where(col(Visit.visitor_id) == visitor_id)
    t = Visit.__table__  # type: ignore[attr-defined]
    return await paginate(
        session,
        stmt,
        order_by=[t.c.visited_at, t.c.id],
        params=page,
        descending=True,
        to_item=VisitRead.model_validate,
    )


@router.get(
    "/due",
    response_model=Page[DueVisit],
    summary="Households due or overdue for a visit, per grid or per worker",
    description="Staff (grid workers and leaders, and the centre's dispatchers and "
    "supervisors), inside their areas. A household is `overdue` when its next visit date "
    "has passed and `due` when it falls within `GRID_VISIT_DUE_WINDOW_DAYS`; most urgent first. "
    "`worker_id`: the households that worker is responsible for (包户).",
    responses=example_response(
        {
            "items": [
                {
                    "household_id": "7b3e5f2c-2e2f-4173-8a9a-4c6e8d0f2a34",
                    "household_no": "H-301",
                    "area_path": "330100.330106.330106001.330106001001.330106001001001",
                    "is_key": True,
                    "is_hardship": False,
                    "responsible_worker_id": "8a0c7f0e-2b1d-4d7e-9b0a-1f0e2d3c4b5a",
                    "last_visited_at": "2026-10-01T02:00:00Z",
                    "next_visit_due_at": "2026-10-31T02:00:00Z",
                    "status": "overdue",
                }
            ],
            "next_cursor": None,
        }
    )
    | problem_responses(401, 403, 422),
)
async def due_visits(
    session: SessionDep,
    principal: FieldViewerDep,
    settings: SettingsDep,
    page: PageDep,
    area_path: Annotated[str | None, Query(max_length=400, description="a grid or above")] = None,
    worker_id: Annotated[str | None, Query(max_length=64, description="responsible worker")] = None,
    status: Annotated[DueStatus | None, Query(description="only due or only overdue")] = None,
) -> Page[DueVisit]:
    now = utcnow()
    stmt = service.due_statement(
        scope_paths(principal, area_path),
        worker_id=worker_id,
        horizon=now if status is DueStatus.overdue else service.horizon(settings, now),
    )
    if status is DueStatus.due:
        stmt = stmt.where(col(Household.next_visit_due_at) >= now)

    def to_item(h: Household) -> DueVisit:
        return DueVisit(
            household_id=h.id,
            household_no=h.household_no,
            area_path=h.area_path,
            is_key=h.is_key,
            is_hardship=h.is_hardship,
            responsible_worker_id=h.responsible_worker_id,
            last_visited_at=h.last_visited_at,
            next_visit_due_at=h.next_visit_due_at,
            status=DueStatus.overdue if h.next_visit_due_at < now else DueStatus.due,
        )

    t = Household.__table__  # type: ignore[attr-defined]
    return await paginate(
        session,
        stmt,
        order_by=[t.c.next_visit_due_at, t.c.id],
        params=page,
        descending=False,
        to_item=to_item,
    )
