"""``/api/v1/grids/locate``: which grid a point is in, and who answers for it right now; and
``/api/v1/grids/index-snapshot``, the index they answer from, for case_service to locate in
process.

The locate endpoints answer from the replica's in-memory snapshot (:class:`Locator`): no database
session, no query. They are called once per case intake, so the access log keeps their
ordinary answers at DEBUG (:data:`QUIET_ROUTES`, see ``shared.middleware``)."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse

from grid_service.locate.index import IndexedArea, Locator, SpatialIndex
from grid_service.locate.schemas import LocateBatchItem, LocateBatchRequest, LocateBatchResponse
from grid_service.members.holders import PostHolder
from grid_service.members.service import responsible_people
from grid_service.scope import ensure_scope
from shared.auth import Principal, require
from shared.contracts.grids import CoordinateSystem, LocateCompact, LocateResult, LocateView
from shared.db import utcnow
from shared.geo.areaindex import locate_compact
from shared.geo.coords import to_wgs84
from shared.geo.snapshot import FORMAT, MEDIA_TYPE, encode_snapshot, snapshot_etag
from shared.i18n import Text
from shared.middleware import QuietRoute
from shared.problem import AppError, FieldProblem, NotFound, ValidationFailed, problem_responses

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
    answer: LocateCompact | None
    if view is LocateView.compact:  # the same function case_service answers from in process
        answer = locate_compact(index, lat, lng, crs)
    else:
        w_lat, w_lng = to_wgs84(lat, lng, crs)
        found = index.locate(w_lat, w_lng)
        answer = None
        if found is not None:
            people = locator.responsible(index.chain_ids(found), utcnow())
            answer = _result(index, found, people, w_lat, w_lng)
    if answer is None:
        raise NotFound(
            Text("本辖区没有包含该点的区域", "No area of this jurisdiction contains the point"),
            code="outside_jurisdiction",
        )
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


#: the scope of a service that locates points itself from the snapshot (case_service)
SNAPSHOT_SCOPE = "areas:snapshot"

SNAPSHOT_EXAMPLE = (
    f'{{"format": "{FORMAT}", "version": 12, "areas": 33317}}\n'
    '["8d0e8a52-1f7e-4b53-9c2b-52d8c1a0f0aa","330100","杭州市","city","330100",0,'
    '"AQMAAAABAAAABQAAAA…"]\n'
    '["8d0e8a52-1f7e-4b53-9c2b-52d8c1a0f001","330106001001001","北山第一网格","grid",'
    '"330100.330106.330106001.330106001001.330106001001001",4,"AQMAAAABAAAABQAAAA…"]\n'
)


def _snapshot_reader(principal: Principal) -> None:
    ensure_scope(principal, SNAPSHOT_SCOPE)


#: a service with the scope, checked before anything else (403 for a person's token)
SnapshotReaderDep = Annotated[Principal, require(_snapshot_reader)]


@router.get(
    "/index-snapshot",
    response_class=StreamingResponse,
    summary="The area index point location answers from (service-to-service)",
    description="Service-to-service: the token needs the scope `areas:snapshot` "
    "(case_service's platform client, which locates a case's point in process from it). "
    "The areas of this replica's in-memory index, as newline-delimited JSON: a header line "
    f'`{{"format": "{FORMAT}", "version": …, "areas": …}}`, then one line per area '
    "`[id, code, name, level, path, depth, boundary]` with the boundary as base64 of its WKB "
    "(the exact polygon this replica's locate uses). Written a chunk of areas at a time "
    "(about 9 MB for a 30,000-grid city).\n\n"
    'Versioned by the area tree\'s version: the `ETag` is `"area-tree-<version>"`; send it '
    "back in `If-None-Match` and the answer is 304 (no body) until the tree changes. Fresh "
    "as the locate answers of this replica (`GRID_LOCATE_VERSION_CHECK_SECONDS` plus the "
    "rebuild's time). 503 `locate_index_not_ready` while the replica has not built its index "
    "yet (database not migrated).",
    responses={
        200: {
            "description": "the snapshot",
            "headers": {
                "ETag": {"description": '`"area-tree-<version>"`', "schema": {"type": "string"}}
            },
            "content": {MEDIA_TYPE: {"schema": {"type": "string"}, "example": SNAPSHOT_EXAMPLE}},
        },
        304: {
            "description": "Not Modified — the tree is still at the version of If-None-Match",
            "headers": {"ETag": {"schema": {"type": "string"}}},
        },
        **problem_responses(401, 403, 503),
    },
)
async def index_snapshot(
    request: Request,
    principal: SnapshotReaderDep,
    if_none_match: Annotated[
        str | None,
        Header(
            description="the ETag of the snapshot the caller holds", examples=['"area-tree-12"']
        ),
    ] = None,
) -> Response:
    locator: Locator = request.app.state.locator
    index = await locator.current()
    if index.version < 0:
        raise AppError(
            Text(
                "本副本尚未建立区域索引，请稍后再试",
                "This replica has not built its area index yet; try again shortly",
            ),
            code="locate_index_not_ready",
            status=503,
            title=Text("区域索引尚未就绪", "The area index is not ready"),
            headers={"Retry-After": "1"},
        )
    etag = snapshot_etag(index.version)
    if if_none_match is not None and etag in {t.strip() for t in if_none_match.split(",")}:
        return Response(status_code=304, headers={"ETag": etag})
    # a plain generator over the immutable index: Starlette runs it in its thread pool, a
    # chunk of areas at a time, so encoding 30,000 polygons never blocks the event loop
    return StreamingResponse(
        encode_snapshot(index),
        media_type=MEDIA_TYPE,
        headers={"ETag": etag, "Cache-Control": "no-cache"},
    )
