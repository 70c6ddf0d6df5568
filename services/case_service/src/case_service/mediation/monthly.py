"""The monthly information report (信息报告制度, 000:L245) of an area to the committee above.

On the first working day of a month (the working calendar) each area of the reporting levels
(``CASE_MEDIATION_REPORT_LEVELS``, street and district by default) gets its report of the month
before: the screening (grids, reports, zero reports, grids that did not report), the disputes
registered, accepted, mediated successfully, performed, judicially confirmed, 重大 and group
disputes, and the ledger of the month. It is an XLSX stored once per area and month (a unique
key, however many replicas generate it) and announced to the dispatchers and supervisors of
the level above through notify_service (a mediation notice). Generated again on demand by an
admin (``POST /api/v1/mediation/monthly-reports``), it replaces the stored one.
"""

from __future__ import annotations

import asyncio
import io
import uuid
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from openpyxl import Workbook
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from case_service.mediation import notices, reports, screening
from case_service.mediation.models import MonthlyReport
from case_service.sla import service as sla_service
from shared.db import utcnow

_settings: dict[str, Any] = {"levels": ("street", "district")}


def configure(*, levels: tuple[str, ...]) -> None:
    _settings["levels"] = levels


class MonthlyReportRead(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "id": "6f1d2b7c-9e10-4a0e-9a3e-0d3c1c7e58a2",
                "area_path": "330100.330106.330106001",
                "area_name": "北山街道",
                "month": "2026-11",
                "summary": {"grids": 12, "reports": 11, "zero_reports": 7, "registered": 5},
                "generated_at": "2026-12-01T01:00:00Z",
            }
        },
    )

    id: uuid.UUID
    area_path: str
    area_name: str
    month: str
    summary: dict[str, Any] = Field(description="the figures the report states")
    generated_at: datetime


def first_workday(cal: Any, month_start: date) -> datetime:
    """The start of the first working day of the month (the report is due then)."""
    day = month_start
    while not cal.is_workday(day):
        day += timedelta(days=1)
    return datetime.combine(day, time(0), cal.tz)


def _xlsx(title: str, summary: list[tuple[str, Any]], ledger: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "信息报告"
    sheet.append([title])
    sheet.append([])
    sheet.append(["项目", "数值"])
    for name, value in summary:
        sheet.append([name, value])
    ledger_sheet = book.create_sheet("矛盾纠纷台账")
    ledger_sheet.append(reports.LEDGER_HEADER)
    for row in ledger:
        ledger_sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _rate(figure: reports.MediationFigure) -> str:
    return "—" if figure.rate is None else f"{figure.rate * 100:.1f}%"


async def build(
    session: AsyncSession,
    *,
    area_path: str,
    area_name: str,
    month: str,
    grids: list[screening.Grid],
) -> tuple[bytes, dict[str, Any]]:
    """The report's XLSX and its figures (grids: the area's grids, read before)."""
    first = date.fromisoformat(month + "-01")
    period = reports.month_period(first, first)
    _, total = await reports.indicators(session, area_path, period, "type")
    filed = await screening.reports_of(session, area_path, screening.period_of(first).key)
    missing = screening.missing_of(grids, filed)
    ledger = await reports.ledger_rows(session, area_path, period)
    summary: dict[str, Any] = {
        "grids": len(grids),
        "reports": len(filed),
        "zero_reports": sum(1 for r in filed if r.zero_report),
        "missing_grids": [g.name for g in missing],
        "registered": total.registered,
        "accepted": total.accepted,
        "agreed": total.mediated_successfully.numerator,
        "success_rate": total.mediated_successfully.rate,
        "performed": total.performed.numerator,
        "performance_rate": total.performed.rate,
        "judicially_confirmed": total.judicially_confirmed,
        "major": total.major,
        "group_disputes": total.group_disputes,
        "average_days": total.average_days,
    }
    y, m = month.split("-")
    title = f"{area_name}{y}年{int(m)}月矛盾纠纷排查调处信息报告"
    lines = [
        ("网格数", len(grids)),
        ("已报送排查的网格", len(filed)),
        ("其中零报告", summary["zero_reports"]),
        ("未报送的网格", "、".join(summary["missing_grids"]) or "无"),
        ("排查登记纠纷", total.registered),
        ("受理调解", total.accepted),
        ("调解成功", total.mediated_successfully.numerator),
        ("调解成功率", _rate(total.mediated_successfully)),
        ("协议履行", total.performed.numerator),
        ("履行率", _rate(total.performed)),
        ("司法确认", total.judicially_confirmed),
        ("重大纠纷", total.major),
        ("群体性纠纷", total.group_disputes),
        ("平均调处天数", total.average_days if total.average_days is not None else "—"),
    ]
    content = await asyncio.to_thread(_xlsx, title, lines, ledger)
    return content, summary


def parent_path(path: str) -> str | None:
    return path.rsplit(".", 1)[0] if "." in path else None


async def store(
    session: AsyncSession,
    *,
    area_path: str,
    area_name: str,
    month: str,
    content: bytes,
    summary: dict[str, Any],
    replace: bool,
) -> MonthlyReport | None:
    """Write the report (once per area and month unless ``replace``) and, when it is new, the
    notice to the committee above. None when another replica stored it first."""
    table = MonthlyReport.__table__  # type: ignore[attr-defined]
    values = {
        "id": uuid.uuid4(),
        "area_path": area_path,
        "area_name": area_name[:100],
        "month": month,
        "content": content,
        "summary": summary,
        "generated_at": utcnow(),
    }
    stmt = insert(table).values(**values)
    if replace:
        stmt = stmt.on_conflict_do_update(
            constraint="uq_mediation_monthly_report_area_month",
            set_={k: stmt.excluded[k] for k in ("content", "summary", "generated_at")},
        )
    else:
        stmt = stmt.on_conflict_do_nothing(constraint="uq_mediation_monthly_report_area_month")
    row = (await session.execute(stmt.returning(table.c.id))).first()
    if row is None:
        return None
    report = await session.get(MonthlyReport, row[0])
    above = parent_path(area_path)
    y, m = month.split("-")
    await notices.write(
        session,
        kind="monthly_report",
        dedup_key=f"monthly_report:{area_path}:{month}",
        template_key="mediation_monthly_report",
        variables={"area_name": area_name, "month": f"{y}年{int(m)}月"},
        recipients={
            "responsible": [
                {
                    "paths": [above or area_path],
                    "roles": ["dispatcher", "supervisor"],
                    "match": "exact",
                }
            ]
        },
    )
    return report


async def generate(
    maker: async_sessionmaker[AsyncSession],
    source: screening.GridSource,
    *,
    area_path: str,
    area_name: str,
    month: str,
    replace: bool = False,
) -> MonthlyReport | None:
    grids = await source.under(area_path)  # no transaction open
    async with maker() as session, session.begin():
        content, summary = await build(
            session, area_path=area_path, area_name=area_name, month=month, grids=grids
        )
        return await store(
            session,
            area_path=area_path,
            area_name=area_name,
            month=month,
            content=content,
            summary=summary,
            replace=replace,
        )


async def due_reports(
    maker: async_sessionmaker[AsyncSession],
    source: screening.GridSource,
    *,
    now: datetime | None = None,
    done: set[str] | None = None,
) -> int:
    """On or after the first working day of this month: last month's report of every area of
    the reporting levels that has none yet. Returns how many this call stored. ``done``: the
    months this process has reported already (each is looked at once)."""
    now = now or utcnow()
    async with maker() as session:
        cal = await sla_service.calendar_for(session, None)
        today = now.astimezone(cal.tz).date()
        this_month = today.replace(day=1)
        if now < first_workday(cal, this_month):
            return 0
        last = (this_month - timedelta(days=1)).replace(day=1)
        month = f"{last.year}-{last.month:02d}"
        if done is not None and month in done:
            return 0
        table = MonthlyReport.__table__  # type: ignore[attr-defined]
        have = set(
            (await session.execute(sa.select(table.c.area_path).where(table.c.month == month)))
            .scalars()
            .all()
        )
    stored = 0
    for level in _settings["levels"]:
        for area in await source.areas(level):
            if area.path in have:
                continue
            if await generate(maker, source, area_path=area.path, area_name=area.name, month=month):
                stored += 1
    if done is not None:
        done.add(month)
    return stored
