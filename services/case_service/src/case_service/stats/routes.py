"""HTTP of statistics: indicators, series, rankings, the negative list, the heat map and
exports (``GET /api/v1/stats/...``)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from case_service.cases import access
from case_service.cases.lifecycle import Status
from case_service.sla.calendar import SHANGHAI
from case_service.stats import exports, rollup, service
from case_service.stats.schemas import (
    BY_NAME,
    INDICATORS,
    RATE_INDICATORS,
    Format,
    GroupBy,
    IndicatorTable,
    Interval,
    NegativeList,
    Ranking,
)
from case_service.stats.service import StatsFilter, invalid
from shared.auth import CurrentPrincipal, Principal
from shared.db import SessionDep
from shared.i18n import Text
from shared.problem import NotFound, UpstreamError, problem_responses

router = APIRouter(prefix="/api/v1/stats", tags=["statistics"])

PATH_PATTERN = r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$"
DEFINITIONS = {
    i.name: {"title": i.title, "numerator": i.numerator, "denominator": i.denominator}
    for i in INDICATORS
}
TABLE_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "text/csv": {"example": "key,received,accepted,accepted_denominator,..."},
            exports.XLSX: {},
        },
        "description": "JSON, or with `format=csv|xlsx` the same table as a streamed file",
    },
    **problem_responses(401, 403, 422),
}


def _today() -> date:
    return datetime.now(SHANGHAI).date()


def stats_filter(
    principal: CurrentPrincipal,
    date_from: Annotated[
        date | None,
        Query(
            alias="from",
            description="first day (Asia/Shanghai) the cases were reported; default: 29 days "
            "before `to`",
            examples=["2026-10-01"],
        ),
    ] = None,
    date_to: Annotated[
        date | None,
        Query(
            alias="to", description="last day, inclusive; default today", examples=["2026-10-31"]
        ),
    ] = None,
    area_path: Annotated[
        str | None,
        Query(
            max_length=255,
            pattern=PATH_PATTERN,
            description="an area subtree (default: the caller's area)",
            examples=["330100.330106.330106001"],
        ),
    ] = None,
    department_id: Annotated[
        str | None, Query(max_length=64, description="lead department", examples=["dept-urban"])
    ] = None,
    category_code: Annotated[
        str | None,
        Query(
            max_length=32,
            pattern=r"^[0-9A-Za-z]+$",
            description="a 小类 code, or a 2-digit 大类 code for all its 小类",
            examples=["0802"],
        ),
    ] = None,
) -> StatsFilter:
    to = date_to or _today()
    since = date_from or to - timedelta(days=29)
    service.check_period(since, to)
    return StatsFilter(
        date_from=since,
        date_to=to,
        area_path=service.base_area(principal, area_path),
        department_id=department_id,
        category_code=category_code,
    )


FilterDep = Annotated[StatsFilter, Depends(stats_filter)]
FormatQuery = Annotated[
    Format, Query(description="json, or a streamed csv / xlsx file", examples=["csv"])
]


async def fresh(request: Request) -> None:
    """Bring the facts up to date with every committed change (see ``stats.rollup``)."""
    settings = request.app.state.settings
    await rollup.refresh_now(
        request.app.state.sessionmaker, settings, limit=settings.stats_refresh_limit
    )


def _table(rows: list[Any], fmt: Format, name: str) -> StreamingResponse:
    return exports.table_response(
        exports.indicator_header(), [exports.indicator_cells(r) for r in rows], fmt, name
    )


@router.get(
    "/indicators",
    response_model=IndicatorTable,
    summary="Indicators for an area, department, category and period",
    description="Every indicator the centres are judged by, each as numerator, denominator "
    "and rate: received (受理量), accepted, on-time acceptance, dispatched, resolved, on-time "
    "resolution (按期办结率), resolved ahead of time, overdue (open and closed), self-handled "
    "(自行处置率), resolved on the spot, escalated, returned, rework, reopened, rating rate "
    "(评议率), satisfaction rate (满意率), and average and p90 handling time in working hours. "
    "`group_by` splits by child area, lead department or category. Cases count by the day they "
    "were reported. Scope applies: a street dispatcher sees their street only.",
    responses=TABLE_ANSWERS,
)
async def get_indicators(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    f: FilterDep,
    group_by: Annotated[
        GroupBy, Query(description="none, area, department or category", examples=["area"])
    ] = GroupBy.none,
    format: FormatQuery = Format.json,
) -> Any:
    await fresh(request)
    rows = await service.indicators(
        session, principal, f, group_by=group_by, settings=request.app.state.settings
    )
    if format is not Format.json:
        return _table(rows, format, f"indicators-{group_by.value}")
    return IndicatorTable(
        area_path=f.area_path,
        date_from=f.date_from.isoformat(),
        date_to=f.date_to.isoformat(),
        group_by=group_by.value,
        rows=rows,
        definitions=DEFINITIONS,
    )


@router.get(
    "/series",
    response_model=IndicatorTable,
    summary="Indicators as a time series by day, week or month",
    description="One row per period of the range (key: the period's first day; weeks start on "
    "Monday), empty periods included with zero counts. Same filters and scope as "
    "`/indicators`.",
    responses=TABLE_ANSWERS,
)
async def get_series(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    f: FilterDep,
    interval: Annotated[Interval, Query(examples=["week"])] = Interval.day,
    format: FormatQuery = Format.json,
) -> Any:
    await fresh(request)
    rows = await service.series(
        session, principal, f, interval=interval, settings=request.app.state.settings
    )
    if format is not Format.json:
        return _table(rows, format, f"series-{interval.value}")
    return IndicatorTable(
        area_path=f.area_path,
        date_from=f.date_from.isoformat(),
        date_to=f.date_to.isoformat(),
        group_by=interval.value,
        rows=rows,
        definitions=DEFINITIONS,
    )


RANK_HEADER = ["rank", "key", "numerator", "denominator", "rate", "list"]


@router.get(
    "/ranking",
    response_model=Ranking,
    summary="Ranking of areas or departments with red and yellow lists",
    description="Child areas of the area asked (`by=area`) or lead departments "
    "(`by=department`) ranked by one rate, best first. A rate below `CASE_STATS_RED_THRESHOLD` "
    "(default 0.8) is on the red list, below `CASE_STATS_YELLOW_THRESHOLD` (0.9) on the "
    "yellow list; for rates where higher is worse (overdue, rework, returned, escalated, "
    "reopened) 1 − rate is compared. Units with nothing to judge (0/0) rank last, on no list.",
    responses=TABLE_ANSWERS,
)
async def get_ranking(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    f: FilterDep,
    by: Annotated[GroupBy, Query(description="area or department", examples=["area"])] = (
        GroupBy.area
    ),
    indicator: Annotated[
        str,
        Query(description=f"one of {', '.join(RATE_INDICATORS)}", examples=["on_time_resolution"]),
    ] = "on_time_resolution",
    format: FormatQuery = Format.json,
) -> Any:
    if by not in {GroupBy.area, GroupBy.department}:
        raise invalid(
            "query.by",
            Text("按区域（area）或部门（department）", "area or department"),
            "invalid_ranking",
        )
    if indicator not in RATE_INDICATORS:
        raise invalid(
            "query.indicator",
            Text(
                f"应为以下之一：{'、'.join(RATE_INDICATORS)}",
                f"one of {', '.join(RATE_INDICATORS)}",
            ),
            "unknown_indicator",
        )
    await fresh(request)
    result = await service.ranking(
        session,
        principal,
        f,
        by=by,
        indicator=BY_NAME[indicator].name,
        settings=request.app.state.settings,
    )
    if format is not Format.json:
        cells = [[getattr(r, h) for h in RANK_HEADER] for r in result.rows]
        return exports.table_response(RANK_HEADER, cells, format, f"ranking-{by.value}-{indicator}")
    return result


NEGATIVE_HEADER = [
    "handler_id",
    "cases",
    "overdue",
    "dissatisfied",
    "overdue_case_ids",
    "dissatisfied_case_ids",
]


@router.get(
    "/negative-list",
    response_model=NegativeList,
    summary="The year-end negative list (负面清单) per handler",
    description="For each lead handler (department, or the grid worker for cases without one) "
    "the cases reported in `year` that ran overdue or were rated dissatisfied, worst first. "
    "Only handlers with at least one such case are listed. Scope applies.",
    responses=TABLE_ANSWERS,
)
async def get_negative_list(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    year: Annotated[int, Query(ge=2000, le=2100, examples=[2026])],
    area_path: Annotated[str | None, Query(max_length=255, pattern=PATH_PATTERN)] = None,
    format: FormatQuery = Format.json,
) -> Any:
    f = StatsFilter(
        date_from=date(year, 1, 1),
        date_to=date(year, 12, 31),
        area_path=service.base_area(principal, area_path),
    )
    await fresh(request)
    rows = await service.negative_list(session, principal, f, settings=request.app.state.settings)
    if format is not Format.json:
        cells = [[getattr(r, h) for h in NEGATIVE_HEADER] for r in rows]
        return exports.table_response(NEGATIVE_HEADER, cells, format, f"negative-list-{year}")
    return NegativeList(year=year, rows=rows)


async def _grid_features(request: Request, under: str | None) -> list[dict[str, Any]]:
    params = {"under": under} if under else {}
    response = await request.app.state.grid_client.http.get("/api/v1/areas/export", params=params)
    if response.status_code == 404:
        raise NotFound(Text("没有这个区域", "No such area"), code="area_not_found")
    if response.status_code != 200:
        raise UpstreamError(
            Text(
                f"grid_service 对区域导出返回了 {response.status_code}",
                f"grid_service answered {response.status_code} to the area export",
            )
        )
    features = response.json().get("features", [])
    return [f for f in features if isinstance(f, dict)]


@router.get(
    "/heatmap",
    summary="Heat map: cases per grid as GeoJSON",
    description="A FeatureCollection of the lowest-level areas (grids) under the area asked, "
    "each with its polygon from grid_service and `properties.count`, the cases reported there "
    "in the period (filter by category). The polygons are fetched before any database work.",
    response_class=JSONResponse,
    responses={
        200: {
            "content": {
                "application/geo+json": {
                    "example": {
                        "type": "FeatureCollection",
                        "features": [
                            {
                                "type": "Feature",
                                "geometry": {"type": "Polygon", "coordinates": []},
                                "properties": {"path": "330100.330106", "count": 12},
                            }
                        ],
                    }
                }
            }
        },
        **problem_responses(401, 403, 404, 422, 502),
    },
)
async def get_heatmap(
    request: Request, session: SessionDep, principal: CurrentPrincipal, f: FilterDep
) -> JSONResponse:
    features = await _grid_features(request, f.area_path)  # before the transaction reads
    await fresh(request)
    counts = await service.grid_counts(session, principal, f, settings=request.app.state.settings)
    paths = [str(feat.get("properties", {}).get("path", "")) for feat in features]
    parents = {p.rsplit(".", 1)[0] for p in paths if "." in p}
    out = []
    for feat, path in zip(features, paths, strict=True):
        if path in parents:
            continue  # not a grid: has areas below it
        props = dict(feat.get("properties", {}))
        props["count"] = counts.get(path, 0)
        out.append(
            {
                "type": "Feature",
                "id": feat.get("id"),
                "geometry": feat.get("geometry"),
                "properties": props,
            }
        )
    return JSONResponse(
        {"type": "FeatureCollection", "features": out}, media_type="application/geo+json"
    )


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), SHANGHAI)


@router.get(
    "/cases/export",
    summary="Export the cases behind the figures (CSV or XLSX, streamed)",
    description="The cases in the caller's scope reported in the period, filtered like the "
    "indicators (area subtree, category; `status` optional), oldest first. Streamed from a "
    "server-side cursor; XLSX through a write-only workbook on disk. No reporter identity.",
    response_class=StreamingResponse,
    responses=TABLE_ANSWERS,
)
async def export_cases(
    request: Request,
    principal: CurrentPrincipal,
    f: FilterDep,
    format: Annotated[Format, Query(description="csv or xlsx", examples=["csv"])] = Format.csv,
    status: Annotated[list[Status] | None, Query(description="any of these statuses")] = None,
) -> StreamingResponse:
    if format is Format.json:
        raise invalid("query.format", Text("csv 或 xlsx", "csv or xlsx"), "invalid_format")
    stmt = _cases_statement(principal, f, status)
    return exports.cases_response(request.app.state.sessionmaker, stmt, format)


def _cases_statement(
    principal: Principal, f: StatsFilter, status: list[Status] | None
) -> sa.Select[Any]:
    t = access.Case.__table__.c  # type: ignore[attr-defined]
    service.scope_clause(principal)  # residents and platforms: 403
    stmt = sa.select(*exports.case_columns()).where(
        t.created_at >= _day_start(f.date_from),
        t.created_at < _day_start(f.date_to + timedelta(days=1)),
    )
    scope = access.scope_clause(principal)
    if scope is not None:
        stmt = stmt.where(scope)
    if f.area_path is not None:
        stmt = stmt.where(access.subtree(t.area_path, f.area_path))
    if f.department_id is not None:
        stmt = stmt.where(t.department_ids.contains([f.department_id]))
    if f.category_code is not None:
        stmt = stmt.where(service.category_match(t.category_code, f.category_code))
    if status:
        stmt = stmt.where(t.status.in_([s.value for s in status]))
    return stmt.order_by(t.created_at, t.id)
