"""``/api/v1/patrols``: patrols (巡查) — start, batched idempotent uploads, end, findings linked
to cases, daily coverage."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from grid_service.basicinfo.service import scope_paths
from grid_service.patrols import repository, service
from grid_service.patrols.models import Patrol, PatrolFinding
from grid_service.patrols.schemas import (
    COVERAGE_EXAMPLE,
    PATROL_ID,
    Coverage,
    FindingCaseLink,
    FindingRead,
    FindingWithoutCase,
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
from shared.i18n import Text
from shared.pagination import Page, PageDep, paginate
from shared.problem import FieldProblem, ValidationFailed, problem_responses

FINDING_EXAMPLE = {
    "id": "6c1f0e7a-3b3e-4b8e-8a51-0d6f0b1e2a03",
    "found_at": "2026-11-23T00:50:00Z",
    "lat": 30.2741,
    "lng": 120.1303,
    "description": "井盖破损",
    "photos": ["patrol/2026/11/23/manhole.jpg"],
    "outcome": "reported",
    "resolution": None,
    "case_id": "5b0e3c1a-7d2f-4e8a-9c61-2f4b8d0a1e37",
}


router = APIRouter(prefix="/api/v1/patrols", tags=["patrols"])

PatrollerDep = Annotated[Principal, require_roles("grid_worker", "grid_leader")]
ViewerDep = Annotated[
    Principal,
    require_roles("grid_worker", "grid_leader", "dispatcher", "supervisor", "admin"),
]
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


async def check_cases(request: Request, fields: list[tuple[str, uuid.UUID]]) -> None:
    """Every case id names a case the caller may see in case_service (one call per hundred
    ids, before any database work: no transaction is held across it). 422 ``case_not_found``
    names each field whose case does not exist there."""
    if not fields:
        return
    found = await request.app.state.cases.visible(
        (str(case_id) for _, case_id in fields),
        authorization=request.headers.get("authorization", ""),
    )
    missing = [
        FieldProblem(field=field, reason=Text("案件库中没有该案件", "no such case in case_service"))
        for field, case_id in fields
        if str(case_id) not in found
    ]
    if missing:
        raise ValidationFailed(
            Text("案件编号不存在", "Unknown case ids"), code="case_not_found", errors=missing
        )


@router.post(
    "",
    status_code=201,
    response_model=PatrolRead,
    summary="Start a patrol",
    description="A grid worker or leader whose areas cover the grid. The app generates the id; "
    "sending the same start again answers 200 with the stored patrol; the same id with another "
    "`started_at` is a 409 `idempotency_conflict`. `started_at` may not be in the future (beyond "
    "`GRID_FIELD_CLOCK_SKEW_MINUTES`). One open patrol per worker: while one is open, starting "
    "another is a 409 `patrol_open` whose `open_patrol_id` names it — end it first.",
    responses=example_response(PATROL_EXAMPLE, 201) | problem_responses(401, 403, 409, 422),
)
async def start_patrol(
    session: SessionDep, principal: PatrollerDep, settings: SettingsDep, body: PatrolStart
) -> JSONResponse:
    patrol, new = await service.start(session, settings, principal, body)
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
    "here or later through `PUT …/findings/{id}/case`; every case id is checked with "
    "case_service (422 `case_not_found`). Stored ids sent again with other values are a 409 "
    "`idempotency_conflict`. Times before the start, after the end or in the future (beyond "
    "the clock-skew allowance) are a 422 `outside_patrol_window` listing each field. A track "
    "point outside the grid's district (plus `GRID_PATROL_DISTRICT_MARGIN_M`) or reached "
    "faster than `GRID_PATROL_MAX_SPEED_KMH` is stored as an outlier and left out of the "
    "distance and coverage.",
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
    request: Request,
    session: SessionDep,
    principal: PatrollerDep,
    settings: SettingsDep,
    patrol_id: uuid.UUID,
    body: PatrolUpload,
) -> UploadResult:
    await check_cases(
        request,
        [(f"findings.{i}.case_id", f.case_id) for i, f in enumerate(body.findings) if f.case_id],
    )
    return await service.upload(session, settings, principal, patrol_id, body)


@router.post(
    "/{patrol_id}/end",
    response_model=PatrolRead,
    summary="End a patrol",
    description="The patrol's own worker. Ending again with the same time is harmless; another "
    "time is a 409. The end may not be in the future nor before the last uploaded point.",
    responses=example_response(PATROL_EXAMPLE) | problem_responses(401, 403, 404, 409, 422),
)
async def end_patrol(
    session: SessionDep,
    principal: PatrollerDep,
    settings: SettingsDep,
    patrol_id: uuid.UUID,
    body: PatrolEnd,
) -> PatrolRead:
    return _read(await service.end(session, settings, principal, patrol_id, body.ended_at))


@router.put(
    "/{patrol_id}/findings/{finding_id}/case",
    response_model=FindingRead,
    summary="Link a reported finding to its case in case_service",
    description="The patrol's own worker, after the app reported the finding to case_service. "
    "The case is checked there (422 `case_not_found` if it is not a case the worker may see). "
    "The same case again is harmless; another case is a 409.",
    responses=example_response(FINDING_EXAMPLE, 200) | problem_responses(401, 403, 404, 409, 422),
)
async def link_case(
    request: Request,
    session: SessionDep,
    principal: PatrollerDep,
    patrol_id: uuid.UUID,
    finding_id: uuid.UUID,
    body: FindingCaseLink,
) -> FindingRead:
    await check_cases(request, [("case_id", body.case_id)])
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
    "/findings-without-case",
    response_model=Page[FindingWithoutCase],
    summary="Reported findings still without a case (上报未立案)",
    description="Staff, inside their areas (a worker sees the findings of their own grids): "
    "findings marked `reported` whose case id never reached grid_service — the app lost it, "
    "or the report to case_service failed. Oldest first, so the longest waiting come first.",
    responses=example_response(
        {
            "items": [
                {
                    **FINDING_EXAMPLE,
                    "case_id": None,
                    "patrol_id": PATROL_ID,
                    "area_path": PATROL_EXAMPLE["area_path"],
                    "worker_id": PATROL_EXAMPLE["worker_id"],
                    "worker_name": "王芳",
                }
            ],
            "next_cursor": None,
        },
        200,
    )
    | problem_responses(401, 403, 422),
)
async def findings_without_case(
    session: SessionDep,
    principal: ViewerDep,
    page: PageDep,
    area_path: Annotated[str | None, Query(max_length=400)] = None,
) -> Page[FindingWithoutCase]:
    f = PatrolFinding.__table__  # type: ignore[attr-defined]
    return await paginate(
        session,
        repository.findings_without_case_statement(scope_paths(principal, area_path)),
        order_by=[f.c.found_at, f.c.id],
        params=page,
        descending=False,
        scalars=False,
        to_item=lambda row: FindingWithoutCase.model_validate(dict(row._mapping)),
    )


@router.get(
    "/{patrol_id}/track",
    summary="The patrol's track as GeoJSON (track replay)",
    description="Its worker, or staff whose areas cover the grid. A FeatureCollection: one "
    "LineString of the plausible points in time order (what the distance measures), then one "
    "Point per track point with `recorded_at`, `accuracy_m` and `outlier`, in time order.",
    responses=example_response(
        {
            "type": "FeatureCollection",
            "properties": {"patrol_id": PATROL_ID, "distance_m": 111.2, "outliers": 1},
            "features": [
                {
                    "type": "Feature",
                    "geometry": {
                        "type": "LineString",
                        "coordinates": [[120.12, 30.25], [120.12, 30.251]],
                    },
                    "properties": {"kind": "track"},
                },
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [120.12, 30.25]},
                    "properties": {
                        "kind": "point",
                        "id": "6c1f0e7a-3b3e-4b8e-8a51-0d6f0b1e2a01",
                        "recorded_at": "2026-11-23T00:31:00Z",
                        "accuracy_m": 8,
                        "outlier": False,
                    },
                },
            ],
        },
        200,
    )
    | problem_responses(401, 403, 404),
)
async def get_track(
    session: SessionDep, principal: ViewerDep, patrol_id: uuid.UUID
) -> dict[str, Any]:
    patrol = await service.visible_patrol(session, principal, patrol_id)
    points = await repository.track_points(session, patrol.id)
    line = [[p.lng, p.lat] for p in points if not p.outlier]
    return {
        "type": "FeatureCollection",
        "properties": {
            "patrol_id": str(patrol.id),
            "distance_m": patrol.distance_m,
            "outliers": sum(1 for p in points if p.outlier),
        },
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": line},
                "properties": {"kind": "track"},
            },
            *(
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [p.lng, p.lat]},
                    "properties": {
                        "kind": "point",
                        "id": str(p.id),
                        "recorded_at": p.recorded_at.isoformat(),
                        "accuracy_m": p.accuracy_m,
                        "outlier": p.outlier,
                    },
                }
                for p in points
            ),
        ],
    }


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
        outlier_count=await repository.outlier_count(session, patrol.id),
        findings=[
            FindingRead.model_validate(f) for f in await repository.findings(session, patrol.id)
        ],
    )
