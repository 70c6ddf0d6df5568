"""The dispute ledger (台账) and the mediation indicators, per area and period.

Both read the files of the disputes whose case lies in an area's subtree and whose file was
opened in a period (months in Asia/Shanghai). The indicators are counted in SQL, one row per
group (area level, dispute type or month); a test recounts them from the files.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from case_service.cases import access
from case_service.cases.models import Case
from case_service.mediation import lifecycle as lc
from case_service.mediation import service
from case_service.mediation.models import Dispute, DisputeParty, DisputeTerm
from case_service.sla import service as sla_service

LEDGER_HEADER = [
    "案件编号",
    "登记日期",
    "纠纷类型",
    "所在区域",
    "当事人",
    "涉及人数",
    "涉及金额(元)",
    "风险等级",
    "调解层级",
    "状态",
    "受理日期",
    "协议日期",
    "履行情况",
    "司法确认",
    "办结日期",
]
JUDICIAL_TITLES = {
    "none": "未申请",
    "applied": "已申请",
    "confirmed": "已确认",
    "refused": "不予确认",
}
PERFORMANCE_TITLES = {
    "pending": "待履行",
    "performed": "已履行",
    "not_performed": "未履行",
    "urged": "已督促",
}


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime


def month_period(first: date, last: date) -> Period:
    """[first day of ``first``'s month, first day after ``last``'s month) in Shanghai time."""
    tz = sla_service._hours["tz"]
    y, m = (last.year + 1, 1) if last.month == 12 else (last.year, last.month + 1)
    return Period(
        datetime.combine(first.replace(day=1), time(0), tz),
        datetime.combine(date(y, m, 1), time(0), tz),
    )


def _scope(area_path: str, period: Period) -> list[sa.ColumnElement[bool]]:
    d, c = Dispute.__table__.c, Case.__table__.c  # type: ignore[attr-defined]
    return [
        access.subtree(c.area_path, area_path),
        d.created_at >= period.start,
        d.created_at < period.end,
    ]


def _date(moment: datetime | None) -> str:
    return moment.astimezone(sla_service._hours["tz"]).strftime("%Y-%m-%d") if moment else ""


async def ledger_rows(session: AsyncSession, area_path: str, period: Period) -> list[list[Any]]:
    """The ledger's rows, in LEDGER_HEADER's columns (the XLSX)."""
    return [row for _, row in await ledger_entries(session, area_path, period)]


async def ledger_entries(
    session: AsyncSession, area_path: str, period: Period
) -> list[tuple[Any, list[Any]]]:
    """Each dispute's case id with its ledger row (the JSON ledger links to the case)."""
    d, c = Dispute.__table__.c, Case.__table__.c  # type: ignore[attr-defined]
    found = (
        await session.execute(
            sa.select(Dispute, c.case_number, c.area_name, c.area_path)
            .join(Case, c.id == d.case_id)
            .where(*_scope(area_path, period))
            .order_by(d.created_at, d.id)
        )
    ).all()
    ids = [r[0].id for r in found]
    parties: dict[Any, list[str]] = {}
    terms: dict[Any, list[str]] = {}
    if ids:
        for p in (
            await session.execute(
                sa.select(DisputeParty)
                .where(DisputeParty.__table__.c.dispute_id.in_(ids))  # type: ignore[attr-defined]
                .order_by(DisputeParty.__table__.c.ord)  # type: ignore[attr-defined]
            )
        ).scalars():
            # the ledger is read by many: parties masked, as on every read without a reveal
            parties.setdefault(p.dispute_id, []).append(
                service.party_read(p, clear=False).name or ""
            )
        for t in (
            await session.execute(
                sa.select(DisputeTerm).where(DisputeTerm.__table__.c.dispute_id.in_(ids))  # type: ignore[attr-defined]
            )
        ).scalars():
            terms.setdefault(t.dispute_id, []).append(t.performance)
    out: list[tuple[Any, list[Any]]] = []
    for dispute, number, area_name, path in found:
        performances = terms.get(dispute.id, [])
        performance = (
            "、".join(sorted({PERFORMANCE_TITLES[p] for p in performances})) if performances else ""
        )
        out.append(
            (
                dispute.case_id,
                [
                    number,
                    _date(dispute.created_at),
                    dispute.dispute_type,
                    area_name or path,
                    "、".join(parties.get(dispute.id, [])),
                    dispute.people_involved,
                    float(dispute.amount_yuan) if dispute.amount_yuan is not None else None,
                    lc.RISK_TITLES[dispute.risk_level],
                    lc.LEVEL_TITLES.get(dispute.level, dispute.level),
                    lc.STATUS_TITLES[lc.Status(dispute.status)],
                    _date(dispute.accepted_at),
                    _date(dispute.agreed_at),
                    performance,
                    JUDICIAL_TITLES[dispute.judicial_status],
                    _date(dispute.closed_at),
                ],
            )
        )
    return out


#: the JSON ledger's keys, in LEDGER_HEADER's order
LEDGER_KEYS = (
    "case_number",
    "filed_on",
    "dispute_type",
    "area",
    "parties",
    "people_involved",
    "amount_yuan",
    "risk",
    "level",
    "status",
    "accepted_on",
    "agreed_on",
    "performance",
    "judicial",
    "closed_on",
)


class LedgerEntry(BaseModel):
    """One row of the dispute ledger (台账), as the XLSX has it; parties masked."""

    case_id: str
    case_number: str
    filed_on: str = Field(description="登记日期, YYYY-MM-DD (Asia/Shanghai)")
    dispute_type: str
    area: str
    parties: str = Field(description="当事人, masked, joined by 、")
    people_involved: int
    amount_yuan: float | None
    risk: str = Field(description="风险等级 (一般/较大/重大)")
    level: str = Field(description="调解层级")
    status: str = Field(description="状态")
    accepted_on: str
    agreed_on: str
    performance: str = Field(description="履行情况")
    judicial: str = Field(description="司法确认")
    closed_on: str


class LedgerTable(BaseModel):
    area_path: str
    from_month: str
    to_month: str
    items: list[LedgerEntry]


def ledger_entry(case_id: Any, row: list[Any]) -> LedgerEntry:
    return LedgerEntry(case_id=str(case_id), **dict(zip(LEDGER_KEYS, row, strict=True)))


class MediationFigure(BaseModel):
    numerator: int
    denominator: int | None = None
    rate: float | None = Field(None, description="numerator / denominator, 4 decimals; null on 0")


class IndicatorGroup(BaseModel):
    key: str = Field(description="the dispute type, the month (YYYY-MM) or the level handling it")
    registered: int = Field(description="disputes filed (排查/登记)")
    accepted: int = Field(description="accepted for mediation (受理)")
    mediated_successfully: MediationFigure = Field(description="agreements / accepted (调解成功率)")
    performed: MediationFigure = Field(description="performed / agreements (履行率)")
    judicially_confirmed: int = Field(description="司法确认")
    major: int = Field(description="重大 disputes")
    group_disputes: int = Field(description="群体性: people involved ≥ the 重大 threshold")
    average_days: float | None = Field(description="acceptance to agreement or close, days")


class MediationIndicatorTable(BaseModel):
    area_path: str
    from_month: str
    to_month: str
    by: str
    groups: list[IndicatorGroup]
    total: IndicatorGroup


def _rate(n: int, d: int) -> MediationFigure:
    return MediationFigure(numerator=n, denominator=d, rate=round(n / d, 4) if d else None)


async def indicators(
    session: AsyncSession, area_path: str, period: Period, by: str
) -> tuple[list[IndicatorGroup], IndicatorGroup]:
    d, c = Dispute.__table__.c, Case.__table__.c  # type: ignore[attr-defined]
    tz = str(sla_service._hours["tz"])
    keys = {
        "type": d.dispute_type,
        "month": sa.func.to_char(sa.func.timezone(tz, d.created_at), "YYYY-MM"),
        "level": d.level,
    }
    key = keys[by].label("key")
    agreed = d.agreed_at.is_not(None)
    concluded_at = sa.func.coalesce(d.agreed_at, d.closed_at)
    days = sa.extract("epoch", concluded_at - d.accepted_at) / 86400.0

    def count(cond: Any) -> Any:
        return sa.func.count().filter(cond)

    figures = [
        sa.func.count().label("registered"),
        count(d.accepted_at.is_not(None)).label("accepted"),
        count(agreed).label("agreed"),
        count(d.status == lc.Status.performed.value).label("performed"),
        count(d.judicial_status == lc.Judicial.confirmed.value).label("confirmed"),
        count(d.risk_level == "major").label("major"),
        count(d.people_involved >= service._settings["major_people"]).label("group"),
        sa.func.avg(days)
        .filter(d.accepted_at.is_not(None), concluded_at.is_not(None))
        .label("days"),
    ]
    base = (
        sa.select(*figures)
        .select_from(Dispute)
        .join(Case, c.id == d.case_id)
        .where(*_scope(area_path, period))
    )

    def group(k: str, r: Any) -> IndicatorGroup:
        return IndicatorGroup(
            key=k,
            registered=r.registered,
            accepted=r.accepted,
            mediated_successfully=_rate(r.agreed, r.accepted),
            performed=_rate(r.performed, r.agreed),
            judicially_confirmed=r.confirmed,
            major=r.major,
            group_disputes=r.group,
            average_days=round(float(r.days), 2) if r.days is not None else None,
        )

    rows = (await session.execute(base.add_columns(key).group_by(key).order_by(key))).all()
    total = (await session.execute(base)).one()
    return [group(str(r.key), r) for r in rows], group("total", total)
