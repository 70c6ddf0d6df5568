"""HTTP of dispute screening (排查) and the monthly information report (信息报告)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated
from urllib.parse import quote

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from case_service.cases import access
from case_service.mediation import monthly, screening
from case_service.mediation.models import MonthlyReport
from case_service.mediation.routes import MONTH, AreaQuery, ReportersDep, check_covers
from case_service.sla import service as sla_service
from case_service.stats.exports import XLSX
from shared.auth import Principal, Role, require_roles
from shared.db import SessionDep, utcnow
from shared.i18n import Text
from shared.problem import FieldProblem, NotFound, ValidationFailed, problem_responses

router = APIRouter(prefix="/api/v1/mediation", tags=["mediation"])

AdminDep = Annotated[Principal, require_roles(Role.admin)]
# the roles are checked before the body (authorization first); the grid is checked after
FilerDep = Annotated[Principal, require_roles(*screening.FILER_ROLES)]
PeriodQuery = Annotated[
    str,
    Query(
        pattern=screening.PERIOD_KEY,
        description="the period, YYYY-MM (or YYYY-Www when screening is weekly)",
        examples=["2026-11"],
    ),
]


def _source(request: Request) -> screening.GridSource:
    source: screening.GridSource = request.app.state.grid_source
    return source


@router.post(
    "/screening/reports",
    response_model=screening.ScreeningReportRead,
    status_code=201,
    summary="File a grid's screening report (排查报告) for a period",
    description="The disputes found in the grid this period — each listed case gets its "
    "mediation file (`file`, unless it has one) — or a zero report (零报告: `zero_report: "
    "true`, no disputes). One report per grid and period (409 `screening_report_exists`); a "
    "period not begun is 422 `period_in_future`; a report after the period's deadline is "
    "stored with `late: true`. For the grid's workers and leader and the dispatchers over it "
    "(403 `screening_not_permitted`); the grid is grid_service's area of level `grid` (422 "
    "`unknown_grid`). The report, the files and their events are written together or not "
    "at all.",
    responses=problem_responses(401, 403, 409, 422, 502, 503, 504),
)
async def file_report(
    request: Request, body: screening.ScreeningReportCreate, principal: FilerDep
) -> screening.ScreeningReportRead:
    screening.check_filer(principal, body.grid_path)
    period = screening.parse_period(body.period, "period")
    grid = await _source(request).area(body.grid_path, "grid")  # no transaction open
    if grid is None:
        raise ValidationFailed(
            Text("没有这个网格", "No such grid"),
            code="unknown_grid",
            errors=[FieldProblem(field="grid_path", reason=Text("不是网格", "not a grid area"))],
        )
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with maker() as session, session.begin():
        report = await screening.file_report(
            session,
            principal=principal,
            grid=grid,
            data=body.model_copy(update={"period": period.key}),
        )
        return screening.ScreeningReportRead.model_validate(report)


@router.get(
    "/screening/reports",
    response_model=list[screening.ScreeningReportRead],
    summary="The screening reports of an area for a period",
    description="Every grid's report in the area's subtree for the period, by grid. For "
    "admins and the dispatchers, supervisors and grid leaders over the area.",
    responses=problem_responses(401, 403, 422),
)
async def list_reports(
    session: SessionDep, principal: ReportersDep, area_path: AreaQuery, period: PeriodQuery
) -> list[screening.ScreeningReportRead]:
    check_covers(principal, area_path)
    p = screening.parse_period(period, "query.period")
    rows = await screening.reports_of(session, area_path, p.key)
    return [
        screening.ScreeningReportRead.model_validate(r)
        for r in sorted(rows, key=lambda r: r.grid_path)
    ]


@router.get(
    "/screening/missing",
    response_model=screening.MissingGrids,
    summary="The grids of an area that have not reported (未报送)",
    description="For a period: the area's grids (grid_service), how many reported and how "
    "many of them with a zero report, and the grids with no report — with the deadline and "
    "whether it has passed (after it, their workers are reminded once per grid and period).",
    responses=problem_responses(401, 403, 422, 502, 503, 504),
)
async def missing(
    request: Request, principal: ReportersDep, area_path: AreaQuery, period: PeriodQuery
) -> screening.MissingGrids:
    check_covers(principal, area_path)
    p = screening.parse_period(period, "query.period")
    grids = await _source(request).under(area_path)  # no transaction open
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with maker() as session:
        filed = await screening.reports_of(session, area_path, p.key)
        cal = await sla_service.calendar_for(session, area_path)
    due = screening.deadline(cal, p)
    paths = {g.path for g in grids}
    mine = [r for r in filed if r.grid_path in paths]
    return screening.MissingGrids(
        area_path=area_path,
        period=p.key,
        deadline=due,
        deadline_passed=utcnow() > due,
        grids=len(grids),
        reported=len(mine),
        zero_reports=sum(1 for r in mine if r.zero_report),
        missing=[
            screening.MissingGrid(grid_area_id=g.id, grid_path=g.path, grid_name=g.name)
            for g in screening.missing_of(grids, mine)
        ],
    )


@router.get(
    "/screening/summary",
    summary="Screening counted by area and months",
    description="Reports filed, zero reports (零报告) and disputes found by the grids in the "
    "area's subtree for the periods that start in the months given, counted in SQL.",
    responses={
        200: {
            "content": {
                "application/json": {"example": {"reports": 11, "zero_reports": 7, "disputes": 6}}
            }
        },
        **problem_responses(401, 403, 422),
    },
)
async def summary(
    session: SessionDep,
    principal: ReportersDep,
    area_path: AreaQuery,
    from_month: Annotated[str, Query(pattern=MONTH, examples=["2026-11"])],
    to_month: Annotated[str | None, Query(pattern=MONTH, examples=["2026-12"])] = None,
) -> dict[str, int]:
    check_covers(principal, area_path)
    first = date.fromisoformat(from_month + "-01")
    last = screening.period_of(date.fromisoformat((to_month or from_month) + "-01"), "month")
    return await screening.counts(session, area_path, first, last.end)


@router.post(
    "/monthly-reports",
    response_model=monthly.MonthlyReportRead,
    status_code=201,
    summary="Generate an area's monthly information report now (admins)",
    description="The report (信息报告) is generated by itself on the first working day of each "
    "month for the areas of the reporting levels; this generates (or regenerates) one area's "
    "report for a month, and tells the committee above when it is new.",
    responses=problem_responses(401, 403, 422, 502, 503, 504),
)
async def generate_report(
    request: Request,
    principal: AdminDep,
    area_path: AreaQuery,
    month: Annotated[str, Query(pattern=MONTH, examples=["2026-11"])],
) -> monthly.MonthlyReportRead:
    source = _source(request)
    area = await source.area(area_path)
    if area is None:
        raise ValidationFailed(
            Text("没有这个区域", "No such area"),
            code="unknown_area",
            errors=[FieldProblem(field="query.area_path", reason=Text("不存在", "unknown"))],
        )
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    row = await monthly.generate(
        maker, source, area_path=area.path, area_name=area.name, month=month, replace=True
    )
    assert row is not None  # replace: stored whether or not one was there
    return monthly.MonthlyReportRead.model_validate(row)


@router.get(
    "/monthly-reports",
    response_model=list[monthly.MonthlyReportRead],
    summary="The monthly information reports of an area's subtree",
    description="Newest month first, with the figures each states; the XLSX at "
    "`…/monthly-reports/{id}.xlsx`.",
    responses=problem_responses(401, 403, 422),
)
async def list_monthly(
    session: SessionDep,
    principal: ReportersDep,
    area_path: AreaQuery,
    month: Annotated[str | None, Query(pattern=MONTH, examples=["2026-11"])] = None,
) -> list[monthly.MonthlyReportRead]:
    check_covers(principal, area_path)
    table = MonthlyReport.__table__  # type: ignore[attr-defined]
    stmt = sa.select(MonthlyReport).where(access.subtree(table.c.area_path, area_path))
    if month:
        stmt = stmt.where(table.c.month == month)
    rows = (await session.execute(stmt.order_by(table.c.month.desc(), table.c.area_path))).scalars()
    return [monthly.MonthlyReportRead.model_validate(r) for r in rows]


@router.get(
    "/monthly-reports/{report_id}.xlsx",
    response_class=Response,
    summary="One monthly information report as XLSX",
    description="The sheet 信息报告 (the figures) and 矛盾纠纷台账 (the month's ledger).",
    responses={
        200: {"content": {XLSX: {}}, "description": "the report"},
        **problem_responses(401, 403, 404),
    },
)
async def download_monthly(
    session: SessionDep,
    principal: ReportersDep,
    report_id: Annotated[uuid.UUID, Path(description="report id")],
) -> Response:
    row = await session.get(MonthlyReport, report_id)
    if row is None or not (principal.has_role(Role.admin) or principal.covers_area(row.area_path)):
        raise NotFound(Text("没有这份信息报告", "No such report"), code="report_not_found")
    name = f"信息报告-{row.area_name}-{row.month}.xlsx"
    return Response(
        row.content,
        media_type=XLSX,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"},
    )
