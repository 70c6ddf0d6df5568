"""``/api/v1/patrols``: patrols (巡查) — start, batched idempotent uploads, end, findings linked
to cases, daily coverage."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from grid_service.basicinfo.service import scope_paths
from grid_service.patrols import repository, service
from grid_service.patrols.models import Patrol
from grid_service.patrols.schemas import (
    COVERAGE_EXAMPLE,
    PATROL_ID,
    Coverage,
    FindingCaseLink,
    FindingRead,
    PatrolDetail,
    PatrolEnd,
    PatrolRead,
    PatrolStart,
    PatrolUpload,
    UploadResult,
)
from grid_service.privacy.deps import SettingsDep, example_response
from grid_service.scope import ensure_covers
from shared.auth import Principal, require_roles
from shared.db import SessionDep
from shared.pagination import Page, PageDep, paginate
from shared.problem import problem_responses

FINDING_EXAMPLE = {
    "id": "6c1f0e7a-3b3e-4b8e-8a51-0d6f0b1e2a03",
    "found_at": "2026-11-23T00:50:00Z",
    "lat": 30.2741,
    "lng": 120.1303,
    "description": "井盖破损",
    "photos": ["patrol/2026/11/23/manhole.jpg"],
    "outcome": "reported",
    "resolution": None,
    "case_id": "c-2026-000123",
}


router = APIRouter(prefix="/api/v1/patrols", tags=["patrols"])

PatrollerDep = Annotated[Principal, require_roles("grid_worker", "grid_leader")]
ViewerDep = Annotated[Principal, require_roles("grid_worker", "grid_leader", "admin", "supervisor")]
PATROL_EXAMPLE = {
    "id": PATROL_ID,
    "area_id": "3e1f6a52-1f7e-4b53-9c2b-52d8c1a0f001",
    "area_path": "330100.330106.330106001.330106001001.330106001001001",
    "worker_id": "8a0c7f0e-2b1d-4d7e-9b0a-1f0e2d3c4b5a",
    "worker_name": "王芳",
    "started_at": "2026-11-23T00:30:00Z",
    "ended_at": None,
    "distance_m": 0.0,
    "track_point_count": 0,
}

DETAIL_EXAMPLE = {**PATROL_EXAMPLE, "check_in_count": 3, "findings": [FINDING_EXAMPLE]}


def _read(p: Patrol) -> PatrolRead:
    return PatrolRead.model_validate(p)


@router.post(
    "",
    status_code=201,
    response_model=PatrolRead,
    summary="Start a patrol",
    description="A grid worker or leader whose areas cover the grid. The app generates the id; "
    "sending the same start again answers 200 with the stored patrol.",
    responses=example_response(PATROL_EXAMPLE, 201) | problem_responses(401, 403, 409, 422),
)
async def start_patrol(
    session: SessionDep, principal: PatrollerDep, body: PatrolStart
) -> JSONResponse:
    patrol, new = await service.start(session, principal, body)
    return JSONResponse(_read(patrol).model_dump(mode="json"), status_code=201 if new else 200)


@router.post(
    "/{patrol_id}/uploads",
    response_model=UploadResult,
    summary="Upload a batch of track points, check-ins and findings",
    description="The patrol's own worker, during or after the patrol (a phone on a poor network "
    "uploads late). Every row carries an id the app generated; rows already stored are skipped, "
    "so a retried or overlapping batch stores nothing twice. A finding is either resolved on "
    "the spot (with `resolution`) or `reported`: the app reports it to case_service "
    "(`POST /api/v1/cases`, Idempotency-Key = the finding id) and sends the case id it got back "
    "here or later through `PUT …/findings/{id}/case`.",
    responses=example_response(
        {
            "stored": {"track_points": 3, "check_ins": 1, "findings": 0},
            "duplicates": {"track_points": 2, "check_ins": 0, "findings": 0},
            "distance_m": 1250.4,
            "track_point_count": 5,
        }
    )
    | problem_responses(401, 403, 404, 422),
)
async def upload(
    session: SessionDep, principal: PatrollerDep, patrol_id: uuid.UUID, body: PatrolUpload
) -> UploadResult:
    return await service.upload(session, principal, patrol_id, body)


@router.post(
    "/{patrol_id}/end",
    response_model=PatrolRead,
    summary="End a patrol",
    description="The patrol's own worker. Ending again with the same time is harmless; another "
    "time is a 409.",
    responses=example_response(PATROL_EXAMPLE) | problem_responses(401, 403, 404, 409, 422),
)
async def end_patrol(
    session: SessionDep, principal: PatrollerDep, patrol_id: uuid.UUID, body: PatrolEnd
) -> PatrolRead:
    return _read(await service.end(session, principal, patrol_id, body.ended_at))


@router.put(
    "/{patrol_id}/findings/{finding_id}/case",
    response_model=FindingRead,
    summary="Link a reported finding to its case in case_service",
    description="The patrol's own worker, after the app reported the finding to case_service. "
    "The same case again is harmless; another case is a 409.",
    responses=example_response(FINDING_EXAMPLE, 200) | problem_responses(401, 403, 404, 409, 422),
)
async def link_case(
    session: SessionDep,
    principal: PatrollerDep,
    patrol_id: uuid.UUID,
    finding_id: uuid.UUID,
    body: FindingCaseLink,
) -> FindingRead:
    found = await service.link_case(session, principal, patrol_id, finding_id, body.case_id)
    return FindingRead.model_validate(found)


@router.get(
    "/coverage",
    response_model=Coverage,
    summary="Daily coverage: which grids were patrolled, by whom, how far and how long",
    description="Staff whose areas cover `area_path`. Days are local (`GRID_LOCAL_TIMEZONE`). "
    "Every grid under the area is listed; `patrolled=false` marks the ones nobody patrolled.",
    responses=example_response(COVERAGE_EXAMPLE, 200) | problem_responses(401, 403, 422),
)
async def coverage(
    session: SessionDep,
    principal: ViewerDep,
    settings: SettingsDep,
    area_path: Annotated[
        str, Query(max_length=400, examples=["330100.330106.330106001.330106001001"])
    ],
    on: Annotated[date | None, Query(description="the day (default today)")] = None,
) -> Coverage:
    ensure_covers(principal, [area_path])
    day = on or datetime.now(ZoneInfo(settings.local_timezone)).date()
    return await service.coverage(session, area_path=area_path, on=day, tz=settings.local_timezone)


@router.get(
    "",
    response_model=Page[PatrolRead],
    summary="List patrols",
    description="Staff, inside their areas; newest first; filter by worker and day.",
    responses=example_response({"items": [PATROL_EXAMPLE], "next_cursor": None}, 200)
    | problem_responses(401, 403, 422),
)
async def list_patrols(
    session: SessionDep,
    principal: ViewerDep,
    settings: SettingsDep,
    page: PageDep,
    area_path: Annotated[str | None, Query(max_length=400)] = None,
    worker_id: Annotated[str | None, Query(max_length=64)] = None,
    on: Annotated[date | None, Query(description="patrols started on this local day")] = None,
) -> Page[PatrolRead]:
    start, end = service.day_bounds(on, settings.local_timezone) if on else (None, None)
    t = Patrol.__table__  # type: ignore[attr-defined]
    return await paginate(
        session,
        repository.list_statement(
            scope_paths(principal, area_path), worker_id=worker_id, start=start, end=end
        ),
        order_by=[t.c.started_at, t.c.id],
        params=page,
        descending=True,
        to_item=_read,
    )


@router.get(
    "/{patrol_id}",
    response_model=PatrolDetail,
    summary="Get a patrol with its findings",
    description="Its worker, or staff whose areas cover the grid.",
    responses=example_response(DETAIL_EXAMPLE, 200) | problem_responses(401, 403, 404),
)
async def get_patrol(
    session: SessionDep, principal: ViewerDep, patrol_id: uuid.UUID
) -> PatrolDetail:
    patrol = await service.visible_patrol(session, principal, patrol_id)
    return PatrolDetail(
        **_read(patrol).model_dump(),
        check_in_count=await repository.check_in_count(session, patrol.id),
        findings=[
            FindingRead.model_validate(f) for f in await repository.findings(session, patrol.id)
        ],
    )
