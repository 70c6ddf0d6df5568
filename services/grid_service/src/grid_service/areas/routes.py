"""``/api/v1/areas``: the area tree — read by anyone, changed by admins inside their scope."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from grid_service.areas import repository, service
from grid_service.areas.schemas import (
    SQUARE,
    AreaCreate,
    AreaRead,
    AreaSummary,
    AreaUpdate,
    FeatureCollection,
    ImportResult,
)
from grid_service.scope import AdminDep, ensure_covers
from shared.contracts.grids import AreaLevel
from shared.db import SessionDep
from shared.i18n import Text
from shared.pagination import Page, PageDep, paginate
from shared.problem import NotFound, problem_responses

router = APIRouter(prefix="/api/v1/areas", tags=["areas"])

AREA_EXAMPLE = {
    "id": "8d0e8a52-1f7e-4b53-9c2b-52d8c1a0f001",
    "code": "330106001001001",
    "name": "北山第一网格",
    "level": "grid",
    "parent_id": "8d0e8a52-1f7e-4b53-9c2b-52d8c1a0f000",
    "path": "330100.330106.330106001.330106001001.330106001001001",
    "depth": 4,
    "area_m2": 1070729.8,
    "centroid": {"lat": 30.275, "lng": 120.155},
    "household_count": 1200,
    "created_at": "2026-11-23T12:00:00Z",
    "updated_at": "2026-11-23T12:00:00Z",
    "boundary": SQUARE,
    "warnings": [
        {
            "field": "household_count",
            "code": "household_count_out_of_range",
            "reason": "一般以500-1000户为一网格；本网格有 1200 户",
        }
    ],
}


def _settings(request: Request) -> Any:
    return request.app.state.settings


@router.post(
    "",
    status_code=201,
    response_model=AreaRead,
    summary="Create an area",
    description="Admins only, inside their own areas. Refused with a 422 naming the field: a "
    "code of the wrong shape for its level or not extending its parent's, a duplicate code, "
    "an invalid or self-intersecting boundary, a boundary not inside the parent, one that "
    "overlaps a sibling. A grid with a household count outside 500-1000 is created with a "
    "warning.",
    responses={
        201: {"content": {"application/json": {"example": AREA_EXAMPLE}}},
        **problem_responses(401, 403, 422),
    },
)
async def create_area(
    request: Request, session: SessionDep, principal: AdminDep, body: AreaCreate
) -> AreaRead:
    area, warnings = await service.create_area(
        session, body=body, settings=_settings(request), principal=principal
    )
    return service.to_read(area, warnings)


@router.get(
    "",
    response_model=Page[AreaSummary],
    summary="List areas",
    description="Public. Filter by parent, level, or a subtree (`under`: an area path); ordered "
    "by path, keyset-paginated. Boundaries are left out (see `GET /api/v1/areas/{id}`).",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "items": [
                            {
                                k: v
                                for k, v in AREA_EXAMPLE.items()
                                if k not in ("boundary", "warnings")
                            }
                        ],
                        "next_cursor": "WyIzMzAxMDAuMzMwMTA2IiwiOGQwZSJd",
                    }
                }
            }
        },
        **problem_responses(422),
    },
)
async def list_areas(
    session: SessionDep,
    page: PageDep,
    parent_id: Annotated[uuid.UUID | None, Query()] = None,
    level: Annotated[AreaLevel | None, Query()] = None,
    under: Annotated[
        str | None,
        Query(max_length=400, description="an area path", examples=["330100.330106"]),
    ] = None,
) -> Page[AreaSummary]:
    from grid_service.areas.models import Area

    stmt = repository.list_statement(
        parent_id=parent_id, level=level.value if level else None, under_path=under
    )
    return await paginate(
        session,
        stmt,
        order_by=[Area.__table__.c.path, Area.__table__.c.id],  # type: ignore[attr-defined]
        params=page,
        descending=False,
        to_item=service.to_summary,
    )


@router.get(
    "/export",
    summary="Export the tree (or a subtree) as GeoJSON",
    description="Public. A FeatureCollection whose features carry `code`, `name`, `level`, "
    "`parent_code`, `path` and `household_count`; it can be imported again.",
    response_class=JSONResponse,
    responses={
        200: {
            "content": {
                "application/geo+json": {"example": {"type": "FeatureCollection", "features": []}}
            }
        },
        **problem_responses(404),
    },
)
async def export_areas(
    session: SessionDep,
    under: Annotated[
        str | None, Query(max_length=400, description="an area path", examples=["330100"])
    ] = None,
) -> JSONResponse:
    body = await service.export_features(session, under_path=under)
    if under is not None and not body["features"]:
        raise NotFound(Text(f"没有区域 {under}", f"No area {under}"), code="area_not_found")
    return JSONResponse(body, media_type="application/geo+json")


@router.post(
    "/import",
    status_code=201,
    response_model=ImportResult,
    summary="Import a GeoJSON FeatureCollection",
    description="Admins only, inside their own areas. Atomic: when any feature is invalid "
    "nothing is imported and the 422 problem lists every bad feature in `errors` "
    "(`features[i].…`). Parents may be existing areas or features of the same import.",
    responses={
        201: {
            "content": {
                "application/json": {
                    "example": {
                        "imported": 1,
                        "areas": [
                            {
                                k: v
                                for k, v in AREA_EXAMPLE.items()
                                if k not in ("boundary", "warnings")
                            }
                        ],
                        "warnings": [],
                    }
                }
            }
        },
        **problem_responses(401, 403, 422),
    },
)
async def import_areas(
    request: Request, session: SessionDep, principal: AdminDep, body: FeatureCollection
) -> ImportResult:
    return await service.import_features(
        session, body=body, settings=_settings(request), principal=principal
    )


@router.get(
    "/by-code/{code}",
    response_model=AreaRead,
    summary="Get an area by its code",
    description="Public. The area with its boundary.",
    responses={
        200: {"content": {"application/json": {"example": AREA_EXAMPLE}}},
        **problem_responses(404),
    },
)
async def get_area_by_code(session: SessionDep, code: str) -> AreaRead:
    area = await repository.get_by_code(session, code)
    if area is None:
        raise NotFound(Text(f"没有区域 {code}", f"No area {code}"), code="area_not_found")
    return service.to_read(area)


@router.get(
    "/{area_id}",
    response_model=AreaRead,
    summary="Get an area",
    description="Public. The area with its boundary.",
    responses={
        200: {"content": {"application/json": {"example": AREA_EXAMPLE}}},
        **problem_responses(404),
    },
)
async def get_area(session: SessionDep, area_id: uuid.UUID) -> AreaRead:
    return service.to_read(await service.get_area(session, area_id))


@router.patch(
    "/{area_id}",
    response_model=AreaRead,
    summary="Change an area's name, boundary or household count",
    description="Admins only, inside their own areas. A new boundary must still be inside the "
    "parent, not overlap siblings and still contain every child.",
    responses={
        200: {"content": {"application/json": {"example": AREA_EXAMPLE}}},
        **problem_responses(401, 403, 404, 422),
    },
)
async def update_area(
    request: Request,
    session: SessionDep,
    principal: AdminDep,
    area_id: uuid.UUID,
    body: AreaUpdate,
) -> AreaRead:
    area = await service.get_area(session, area_id)
    ensure_covers(principal, [area.path])
    area, warnings = await service.update_area(
        session, area=area, body=body, settings=_settings(request)
    )
    return service.to_read(area, warnings)


@router.delete(
    "/{area_id}",
    status_code=204,
    summary="Delete an area",
    description="Admins only, inside their own areas. Refused (409) while it has child areas "
    "(`area_has_children`) or members (`area_has_members`).",
    responses=problem_responses(401, 403, 404, 409),
)
async def delete_area(session: SessionDep, principal: AdminDep, area_id: uuid.UUID) -> Response:
    area = await service.get_area(session, area_id)
    ensure_covers(principal, [area.path])
    await service.delete_area(session, area=area)
    return Response(status_code=204)
