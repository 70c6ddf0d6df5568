"""Dispute screening (矛盾纠纷排查): every grid reports each period.

A grid's report lists the disputes found — each becomes a dispute: the case filed for it gets
its mediation file (or the file it already has is listed) — or says that nothing was found
(零报告, a zero report). The period is a month by default (``CASE_MEDIATION_SCREENING_PERIOD``:
``month`` or ``week``); its deadline is the end of the period, or the end of the N-th working
day after it (``CASE_MEDIATION_SCREENING_DEADLINE_WORKDAYS``, on the working calendar). After
the deadline the sweep lists the grids that have not reported and writes one reminder per grid
and period (a unique key: however many replicas sweep) to the grid's workers.

The grids are grid_service's areas of level ``grid``, read with no transaction open.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from case_service.cases import access
from case_service.cases.models import Case
from case_service.mediation import notices, service
from case_service.mediation.models import Dispute, ScreeningReport
from case_service.mediation.schemas import DisputeCreate
from case_service.sla import service as sla_service
from case_service.sla.calendar import WorkingCalendar
from shared.auth import Principal, Role
from shared.db import utcnow
from shared.i18n import Text
from shared.problem import Conflict, FieldProblem, Forbidden, UpstreamError, ValidationFailed

MONTH_KEY = r"^20\d{2}-(0[1-9]|1[0-2])$"
WEEK_KEY = r"^20\d{2}-W(0[1-9]|[1-4]\d|5[0-3])$"
PERIOD_KEY = r"^20\d{2}-((0[1-9]|1[0-2])|W(0[1-9]|[1-4]\d|5[0-3]))$"
FILER_ROLES = (Role.grid_worker, Role.grid_leader, Role.dispatcher, Role.admin)

_settings: dict[str, Any] = {"period": "month", "deadline_workdays": 0}


def configure(*, period: str, deadline_workdays: int) -> None:
    _settings.update(period=period, deadline_workdays=deadline_workdays)


# ------------------------------------------------------------------------------- periods


@dataclass(frozen=True)
class Period:
    key: str
    start: date
    end: date  # the last day

    @property
    def title(self) -> str:
        if "W" in self.key:
            year, week = self.key.split("-W")
            return f"{year}年第{int(week)}周"
        year, month = self.key.split("-")
        return f"{year}年{int(month)}月"


def period_of(day: date, kind: str | None = None) -> Period:
    kind = kind or _settings["period"]
    if kind == "week":
        year, week, _ = day.isocalendar()
        start = date.fromisocalendar(year, week, 1)
        return Period(f"{year}-W{week:02d}", start, start + timedelta(days=6))
    start = day.replace(day=1)
    nxt = date(start.year + 1, 1, 1) if start.month == 12 else date(start.year, start.month + 1, 1)
    return Period(f"{start.year}-{start.month:02d}", start, nxt - timedelta(days=1))


def parse_period(key: str, field: str = "period") -> Period:
    """A period key of the configured kind (``2026-12``, or ``2026-W49`` for weeks)."""
    kind = _settings["period"]
    try:
        if kind == "week":
            year, week = key.split("-W")
            return period_of(date.fromisocalendar(int(year), int(week), 1), "week")
        year, month = key.split("-")
        return period_of(date(int(year), int(month), 1), "month")
    except ValueError as exc:
        shape = "YYYY-Www" if kind == "week" else "YYYY-MM"
        raise ValidationFailed(
            Text(f"排查周期须为 {shape}", f"the screening period is {shape}"),
            code="invalid_period",
            errors=[
                FieldProblem(
                    field=field, reason=Text(f"须为 {shape}", f"must be {shape}"), type="invalid"
                )
            ],
        ) from exc


def previous(p: Period) -> Period:
    return period_of(p.start - timedelta(days=1), "week" if "W" in p.key else "month")


def deadline(cal: WorkingCalendar, p: Period) -> datetime:
    """The end of the period, or the end of the N-th working day after it."""
    n = int(_settings["deadline_workdays"])
    if n == 0:
        moment: datetime = datetime.combine(p.end + timedelta(days=1), time(0), cal.tz)
        return moment
    end: datetime = cal.end_of_nth_workday(datetime.combine(p.end, time(12), cal.tz), n)
    return end


def today(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(sla_service._hours["tz"]).date()


async def due_period(session: AsyncSession, now: datetime) -> tuple[Period, datetime]:
    """The latest period whose deadline has passed, and that deadline."""
    cal = await sla_service.calendar_for(session, None)
    p = previous(period_of(today(now)))
    while deadline(cal, p) > now:
        p = previous(p)
    return p, deadline(cal, p)


# ------------------------------------------------------------------------------- grids


@dataclass(frozen=True)
class Grid:
    id: uuid.UUID
    path: str
    name: str


class GridSource:
    """grid_service's grids (areas of level ``grid``): public reads, no token."""

    def __init__(self, http: Any) -> None:
        self.http = http

    def _failed(self, status: int) -> UpstreamError:
        return UpstreamError(
            Text(
                f"grid_service 对网格查询返回了 {status}",
                f"grid_service answered {status} to the grid lookup",
            ),
            code="grids_unavailable",
        )

    async def under(self, path: str | None) -> list[Grid]:
        """The grids under ``path`` (every grid when None)."""
        return await self.areas("grid", path)

    async def areas(self, level: str, path: str | None = None) -> list[Grid]:
        """``GET /api/v1/areas?level=…&under=…``, every page."""
        out: list[Grid] = []
        params: dict[str, Any] = {"level": level, "limit": 100}
        if path:
            params["under"] = path
        while True:
            response = await self.http.get("/api/v1/areas", params=params)
            if response.status_code != 200:
                raise self._failed(response.status_code)
            body = response.json()
            out += [Grid(uuid.UUID(a["id"]), a["path"], a["name"]) for a in body["items"]]
            if not body.get("next_cursor"):
                return out
            params["cursor"] = body["next_cursor"]

    async def area(self, path: str, level: str | None = None) -> Grid | None:
        """The area at ``path`` (``GET /api/v1/areas/by-code/{code}``), None when there is
        none, or when ``level`` is given and it is not of that level."""
        response = await self.http.get(f"/api/v1/areas/by-code/{path.rsplit('.', 1)[-1]}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._failed(response.status_code)
        a = response.json()
        if a.get("path") != path or (level is not None and a.get("level") != level):
            return None
        return Grid(uuid.UUID(a["id"]), a["path"], a["name"])


# ------------------------------------------------------------------------------- schemas


class ScreenedDispute(BaseModel):
    """A dispute found: the case filed for it, and its mediation file unless it has one."""

    model_config = ConfigDict(extra="forbid")

    case_id: uuid.UUID
    file: DisputeCreate | None = Field(
        None,
        description="the dispute's file (parties, type, people involved); needed when the "
        "case has no mediation file yet",
    )


REPORT_EXAMPLE: dict[str, Any] = {
    "grid_path": "330100.330106.330106001.330106001001.330106001001001",
    "period": "2026-12",
    "zero_report": True,
    "disputes": [],
    "note": "本月走访 120 户，未发现矛盾纠纷",
}


class ScreeningReportCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": REPORT_EXAMPLE})

    grid_path: str = Field(
        max_length=255, pattern=r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$", description="the grid"
    )
    period: str = Field(pattern=PERIOD_KEY, description="YYYY-MM (or YYYY-Www by weeks)")
    zero_report: bool = Field(False, description="零报告: nothing found this period")
    disputes: list[ScreenedDispute] = Field(default_factory=list, max_length=50)
    note: str | None = Field(None, max_length=1000)

    @model_validator(mode="after")
    def _zero_or_disputes(self) -> ScreeningReportCreate:
        from shared.validation_texts import InvalidValue

        if self.zero_report and self.disputes:
            raise InvalidValue("零报告不能列出纠纷", "a zero report lists no disputes")
        if not self.zero_report and not self.disputes:
            raise InvalidValue(
                "没有发现纠纷时请报零报告（zero_report: true）",
                "with no disputes found, file a zero report (zero_report: true)",
            )
        return self


class ScreeningReportRead(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "id": "3c7a0d5e-2b1f-4e8a-9c6d-5f4e3d2c1b0a",
                "grid_area_id": "8d0e8a52-1f7e-4b53-9c2b-52d8c1a0f001",
                "grid_path": REPORT_EXAMPLE["grid_path"],
                "grid_name": "北山第一网格",
                "period": "2026-12",
                "period_start": "2026-12-01",
                "period_end": "2026-12-31",
                "zero_report": True,
                "dispute_ids": [],
                "note": REPORT_EXAMPLE["note"],
                "late": False,
                "filed_by": "9f0e8d7c-6b5a-4c3d-2e1f-0a9b8c7d6e5f",
                "filed_at": "2026-12-28T09:00:00Z",
            }
        },
    )

    id: uuid.UUID
    grid_area_id: uuid.UUID
    grid_path: str
    grid_name: str
    period: str
    period_start: date
    period_end: date
    zero_report: bool
    dispute_ids: list[uuid.UUID]
    note: str | None
    late: bool
    filed_by: str
    filed_at: datetime


class MissingGrid(BaseModel):
    grid_area_id: uuid.UUID
    grid_path: str
    grid_name: str


class MissingGrids(BaseModel):
    """The grids of an area that have not reported for a period (未报送)."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "area_path": "330100.330106.330106001",
                "period": "2026-11",
                "deadline": "2026-12-01T00:00:00+08:00",
                "deadline_passed": True,
                "grids": 12,
                "reported": 11,
                "zero_reports": 7,
                "missing": [
                    {
                        "grid_area_id": "8d0e8a52-1f7e-4b53-9c2b-52d8c1a0f001",
                        "grid_path": "330100.330106.330106001.330106001001.330106001001002",
                        "grid_name": "北山第二网格",
                    }
                ],
            }
        }
    )

    area_path: str
    period: str
    deadline: datetime
    deadline_passed: bool
    grids: int = Field(description="grids in the area (grid_service)")
    reported: int = Field(description="of them, reports filed")
    zero_reports: int = Field(description="of them, zero reports (零报告)")
    missing: list[MissingGrid]


# ------------------------------------------------------------------------------- rules


def check_filer(principal: Principal, grid_path: str) -> None:
    if not principal.has_role(*FILER_ROLES) or not (
        principal.has_role(Role.admin) or access.covers(principal, grid_path)
    ):
        raise Forbidden(
            Text(
                "只有本网格的网格员、网格长或所辖区域的调度员可以报送排查情况",
                "Only the grid's workers and leader, or the dispatchers over it, file its "
                "screening report",
            ),
            code="screening_not_permitted",
        )


def _dispute_problem(
    index: int, reason: Text, detail: Text, code: str, sub: str = "case_id"
) -> ValidationFailed:
    return ValidationFailed(
        detail, code=code, errors=[FieldProblem(field=f"disputes[{index}].{sub}", reason=reason)]
    )


async def file_report(
    session: AsyncSession,
    *,
    principal: Principal,
    grid: Grid,
    data: ScreeningReportCreate,
    now: datetime | None = None,
) -> ScreeningReport:
    """Write the report; each dispute listed gets (or keeps) its mediation file."""
    now = now or utcnow()
    p = parse_period(data.period)
    if p.start > today(now):
        raise ValidationFailed(
            Text("排查周期尚未开始", "That screening period has not begun"),
            code="period_in_future",
            errors=[FieldProblem(field="period", reason=Text("尚未开始", "not begun yet"))],
        )
    table = ScreeningReport.__table__  # type: ignore[attr-defined]
    exists = await session.execute(
        sa.select(table.c.id).where(table.c.grid_path == grid.path, table.c.period == p.key)
    )
    if exists.first() is not None:
        raise Conflict(
            Text(f"{grid.name}已报送{p.title}的排查情况", f"{grid.name} has reported for {p.key}"),
            code="screening_report_exists",
        )
    ids = [d.case_id for d in data.disputes]
    if len(set(ids)) != len(ids):
        raise ValidationFailed(
            Text("同一案件列了两次", "A case is listed twice"),
            code="duplicate_case",
            errors=[FieldProblem(field="disputes", reason=Text("案件重复", "a case twice"))],
        )
    cases = (
        {
            c.id: c
            for c in (
                await session.execute(
                    sa.select(Case).where(Case.__table__.c.id.in_(ids)).with_for_update()  # type: ignore[attr-defined]
                )
            ).scalars()
        }
        if ids
        else {}
    )
    files = (
        {
            d.case_id: d
            for d in (
                await session.execute(
                    sa.select(Dispute).where(Dispute.__table__.c.case_id.in_(ids))  # type: ignore[attr-defined]
                )
            ).scalars()
        }
        if ids
        else {}
    )
    dispute_ids: list[uuid.UUID] = []
    for i, item in enumerate(data.disputes):
        case = cases.get(item.case_id)
        if case is None or not access.can_see(principal, case):
            raise _dispute_problem(
                i,
                Text("没有这个案件", "no such case"),
                Text("没有这个案件", "No such case"),
                "unknown_case",
            )
        if not (case.area_path == grid.path or (case.area_path or "").startswith(grid.path + ".")):
            raise _dispute_problem(
                i,
                Text("不在本网格", "not in this grid"),
                Text("只能报送本网格内的纠纷", "Only disputes in this grid can be reported"),
                "case_outside_grid",
            )
        found = files.get(case.id)
        if found is None:
            if item.file is None:
                raise _dispute_problem(
                    i,
                    Text("此案件还没有调解档案，请填写纠纷信息", "the case has no file: give it"),
                    Text("请填写纠纷的当事人和情况", "Give the dispute's parties and facts"),
                    "file_required",
                    "file",
                )
            found = await service.create(
                session, principal=principal, case=case, data=item.file, screened=True
            )
        dispute_ids.append(found.id)
    cal = await sla_service.calendar_for(session, grid.path)
    report = ScreeningReport(
        grid_area_id=grid.id,
        grid_path=grid.path,
        grid_name=grid.name[:100],
        period=p.key,
        period_start=p.start,
        period_end=p.end,
        zero_report=data.zero_report,
        dispute_ids=dispute_ids,
        note=data.note,
        late=now > deadline(cal, p),
        filed_by=principal.subject,
        filed_at=now,
    )
    session.add(report)
    await session.flush()
    return report


async def reports_of(session: AsyncSession, area_path: str, period: str) -> list[ScreeningReport]:
    table = ScreeningReport.__table__  # type: ignore[attr-defined]
    rows = await session.execute(
        sa.select(ScreeningReport).where(
            table.c.period == period, access.subtree(table.c.grid_path, area_path)
        )
    )
    return list(rows.scalars().all())


def missing_of(grids: list[Grid], filed: list[ScreeningReport]) -> list[Grid]:
    have = {r.grid_path for r in filed}
    return [g for g in grids if g.path not in have]


async def remind(session: AsyncSession, p: Period, due: datetime, missing: list[Grid]) -> int:
    """One reminder per grid and period (``dedup_key``): True only for the first writer."""
    written = 0
    local = due.astimezone(sla_service._hours["tz"]).strftime("%Y-%m-%d %H:%M")
    for g in missing:
        written += await notices.write(
            session,
            kind="screening_reminder",
            dedup_key=f"screening_reminder:{p.key}:{g.path}",
            template_key="mediation_screening_reminder",
            variables={"grid_name": g.name, "period": p.title, "deadline": local},
            recipients={"grid": {"area_id": str(g.id), "path": g.path, "period": p.key}},
        )
    return written


async def sweep(
    maker: async_sessionmaker[AsyncSession],
    grids: GridSource,
    *,
    now: datetime | None = None,
    done: set[str] | None = None,
) -> int:
    """After the deadline of the latest period: remind the grids that did not report.
    Returns the reminders written by this call (0 when another replica wrote them).
    ``done``: the periods this process has swept already — each is swept once, so the
    every-grid read of grid_service is not repeated every poll."""
    now = now or utcnow()
    async with maker() as session:
        p, due = await due_period(session, now)
    if done is not None and p.key in done:
        return 0
    every = await grids.under(None)  # no transaction open
    async with maker() as session, session.begin():
        table = ScreeningReport.__table__  # type: ignore[attr-defined]
        filed = set(
            (await session.execute(sa.select(table.c.grid_path).where(table.c.period == p.key)))
            .scalars()
            .all()
        )
        written = await remind(session, p, due, [g for g in every if g.path not in filed])
    if done is not None:
        done.add(p.key)
    return written


async def counts(session: AsyncSession, area_path: str, start: date, end: date) -> dict[str, int]:
    """Screening in the area for periods starting in [start, end]: reports, zero reports and
    disputes found (counted in SQL)."""
    table = ScreeningReport.__table__  # type: ignore[attr-defined]
    row = (
        await session.execute(
            sa.select(
                sa.func.count(),
                sa.func.count().filter(table.c.zero_report.is_(True)),
                sa.func.coalesce(sa.func.sum(sa.func.cardinality(table.c.dispute_ids)), 0),
            ).where(
                access.subtree(table.c.grid_path, area_path),
                table.c.period_start >= start,
                table.c.period_start <= end,
            )
        )
    ).one()
    return {"reports": int(row[0]), "zero_reports": int(row[1]), "disputes": int(row[2])}
