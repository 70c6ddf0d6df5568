"""``/api/v1/grids/locate``: which grid a point is in, and who answers for it right now.

Both endpoints answer from the replica's in-memory snapshot (:class:`Locator`): no database
session, no query. They are called once per case intake, so the access log keeps their
ordinary answers at DEBUG (:data:`QUIET_ROUTES`, see ``shared.middleware``)."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Query, Request, Response

from grid_service.locate.coords import to_wgs84
from grid_service.locate.index import IndexedArea, Locator, SpatialIndex
from grid_service.locate.schemas import LocateBatchItem, LocateBatchRequest, LocateBatchResponse
from grid_service.members.holders import PostHolder
from grid_service.members.service import responsible_people
from shared.contracts.grids import CoordinateSystem, LocateCompact, LocateResult, LocateView
from shared.db import utcnow
from shared.i18n import Text
from shared.middleware import QuietRoute
from shared.problem import FieldProblem, NotFound, ValidationFailed, problem_responses

router = APIRouter(prefix="/api/v1/grids", tags=["locate"])

EXAMPLE = {
    "area": {
        "id": "8d0e8a52-1f7e-4b53-9c2b-52d8c1a0f001",
        "code": "330106001001001",
        "name": "北山第一网格",
        "level": "grid",
        "path": "330100.330106.330106001.330106001001.330106001001001",
    },
    "ancestors": [
        {
            "id": "8d0e8a52-1f7e-4b53-9c2b-52d8c1a0f0aa",
            "code": "330100",
            "name": "杭州市",
            "level": "city",
            "path": "330100",
        }
    ],
    "responsible": [
        {
            "post": "grid_leader",
            "member_id": "5a4c7f2e-6b1d-4a3e-8f20-1c9d0b7e6a11",
            "account_id": None,
            "name": "陈建国",
            "phone_masked": "138****0001",
            "phone": "13800000001",
            "is_backup": False,
        }
    ],
    "lat": 30.2741,
    "lng": 120.1551,
}


COMPACT_EXAMPLE = {k: v for k, v in EXAMPLE.items() if k != "responsible"}

#: The access log of these routes (``ServiceSpec.quiet_routes``): a successful answer, or the
#: single locate's 404 ``outside_jurisdiction`` (an ordinary answer to a point outside the
#: district, the only 404 that route gives), at DEBUG; anything else, or an answer slower than
#: 250 ms, at INFO as on every route. Their metrics count every call.
QUIET_ROUTES = {
    "/api/v1/grids/locate": QuietRoute(quiet_statuses=frozenset({404})),
    "/api/v1/grids/locate/batch": QuietRoute(),
}


def _result(
    index: SpatialIndex,
    found: IndexedArea,
    people: list[tuple[PostHolder, bool]],
    lat: float,
    lng: float,
) -> LocateResult:
    return LocateResult(
        area=found.ref,
        ancestors=index.ancestors(found),
        responsible=responsible_people(people),
        lat=lat,
        lng=lng,
    )


@router.get(
    "/locate",
    response_model=LocateResult | LocateCompact,
    summary="Which grid is this point in, and who answers for it",
    description="Public (no token). Returns the lowest-level area containing the point, its "
    "ancestors from the root, and who answers for it right now (the backup when a primary "
    "is away). Phones are masked unless the member consented to publish them. `crs` is the "
    "coordinate system of the point: `wgs84` (GPS), `gcj02` (WeChat, AMap, Tencent) or "
    "`bd09` (Baidu); the answer carries the WGS84 point used. A point outside every area is "
    "a 404 `outside_jurisdiction`.\n\n"
    "`view=compact` answers `LocateCompact`: the same without `responsible`, for callers that "
    "only place something in the tree (case_service's intake); cheaper on both sides.\n\n"
    "Freshness: answered from this replica's in-memory copy of the tree and the posts. A "
    "change made through this replica is in its next answer; one made through another "
    "replica within `GRID_LOCATE_VERSION_CHECK_SECONDS` (1 s) plus the rebuild's time (1-2 s "
    "for 50,000 areas).",
    responses={
        200: {
            "content": {
                "application/json": {
                    "examples": {
                        "full": {"summary": "view=full (the default)", "value": EXAMPLE},
                        "compact": {"summary": "view=compact", "value": COMPACT_EXAMPLE},
                    }
                }
            }
        },
        **problem_responses(404, 422),
    },
)
async def locate(
    request: Request,
    lat: Annotated[float, Query(ge=-90, le=90, examples=[30.2741])],
    lng: Annotated[float, Query(ge=-180, le=180, examples=[120.1551])],
    crs: Annotated[CoordinateSystem, Query()] = CoordinateSystem.wgs84,
    view: Annotated[
        LocateView,
        Query(description="`full`: with `responsible`; `compact`: where the point is only"),
    ] = LocateView.full,
) -> Response:
    locator: Locator = request.app.state.locator
    index = await locator.current()
    w_lat, w_lng = to_wgs84(lat, lng, crs)
    found = index.locate(w_lat, w_lng)
    if found is None:
        raise NotFound(
            Text("本辖区没有包含该点的区域", "No area of this jurisdiction contains the point"),
            code="outside_jurisdiction",
        )
    answer: LocateCompact
    if view is LocateView.compact:
        answer = LocateCompact(
            area=found.ref, ancestors=index.ancestors(found), lat=w_lat, lng=w_lng
        )
    else:
        people = locator.responsible(index.chain_ids(found), utcnow())
        answer = _result(index, found, people, w_lat, w_lng)
    # Built here from the snapshot, so FastAPI's validation of the returned model against the
    # response model would only check our own work again: serialised once, straight to bytes.
    return Response(answer.model_dump_json(), media_type="application/json")


@router.post(
    "/locate/batch",
    response_model=LocateBatchResponse,
    summary="Locate many points at once",
    description="Public (no token). Each point is answered in request order; a point outside "
    "every area has `result: null` and `code: outside_jurisdiction` instead of failing the "
    "batch. At most `GRID_LOCATE_BATCH_MAX` points (default 500). Answered from the same "
    "in-memory copy as the single locate, with the same freshness.",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "items": [
                            {"index": 0, "result": EXAMPLE, "code": None},
                            {"index": 1, "result": None, "code": "outside_jurisdiction"},
                        ]
                    }
                }
            }
        },
        **problem_responses(422),
    },
)
async def locate_batch(request: Request, body: LocateBatchRequest) -> LocateBatchResponse:
    limit = request.app.state.settings.locate_batch_max
    if len(body.points) > limit:
        raise ValidationFailed(
            Text(f"每批最多 {limit} 个点", f"At most {limit} points per batch"),
            code="too_many_points",
            errors=[
                FieldProblem(
                    field="points",
                    reason=Text(f"最多 {limit} 个点", f"at most {limit} points"),
                    type="too_long",
                )
            ],
        )
    locator: Locator = request.app.state.locator
    index = await locator.current()
    converted = [to_wgs84(p.lat, p.lng, p.crs or body.crs) for p in body.points]
    lats = np.array([c[0] for c in converted])
    lngs = np.array([c[1] for c in converted])
    found = index.locate_many(lats, lngs)
    now = utcnow()
    results = {
        i: _result(index, f, locator.responsible(index.chain_ids(f), now), *converted[i])
        for i, f in enumerate(found)
        if f is not None
    }
    return LocateBatchResponse(
        items=[
            LocateBatchItem(
                index=i,
                result=results.get(i),
                code=None if i in results else "outside_jurisdiction",
            )
            for i in range(len(body.points))
        ]
    )
