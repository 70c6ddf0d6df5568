"""Recording visits and keeping each household's next due date. Flushes, never commits."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from grid_service.basicinfo.models import Household
from grid_service.basicinfo.repository import under_any
from grid_service.basicinfo.service import in_scope, invalid, next_visit_due
from grid_service.config import Settings
from grid_service.visits.models import Visit
from grid_service.visits.schemas import VisitCreate
from shared.auth import Principal
from shared.db import utcnow
from shared.i18n import Text
from shared.problem import Conflict


async def record(
    session: AsyncSession, settings: Settings, principal: Principal, body: VisitCreate
) -> tuple[Visit, bool]:
    """The visit and whether it is new. The household's last visit and next due date move on.
    A visit is not in the future (beyond the clock-skew allowance) and its follow-up is due on
    or after the visit's local day."""
    if body.visited_at > utcnow() + timedelta(minutes=settings.field_clock_skew_minutes):
        raise invalid("visited_at", Text("晚于当前时间", "later than now"), code="time_in_future")
    visit_day = body.visited_at.astimezone(ZoneInfo(settings.local_timezone)).date()
    if body.follow_up_due_on is not None and body.follow_up_due_on < visit_day:
        raise invalid(
            "follow_up_due_on",
            Text(f"早于走访日期 {visit_day}", f"before the day of the visit ({visit_day})"),
        )
    household = await in_scope(
        session, principal, Household, body.household_id, what="household", lock=True
    )
    table = Visit.__table__  # type: ignore[attr-defined]
    values = {
        **body.model_dump(),
        "kind": body.kind.value,
        "area_path": household.area_path,
        "visitor_id": principal.subject,
        "visitor_name": principal.name,
        "created_at": utcnow(),
    }
    inserted = await session.execute(
        insert(table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(table.c.id)
    )
    new = inserted.first() is not None
    visit = (await session.execute(sa.select(Visit).where(col(Visit.id) == body.id))).scalar_one()
    if not new:
        if visit.household_id != body.household_id or visit.visitor_id != principal.subject:
            raise Conflict(
                Text("该走访 ID 已被使用", "This visit id is taken"), code="visit_id_taken"
            )
        return visit, False
    if household.last_visited_at is None or visit.visited_at > household.last_visited_at:
        household.last_visited_at = visit.visited_at
        household.next_visit_due_at = next_visit_due(settings, household)
        session.add(household)
        await session.flush()
    return visit, True


def due_statement(paths: list[str], *, worker_id: str | None, horizon: datetime) -> sa.Select[Any]:
    stmt = sa.select(Household).where(
        under_any(col(Household.area_path), paths), col(Household.next_visit_due_at) <= horizon
    )
    if worker_id is not None:
        stmt = stmt.where(col(Household.responsible_worker_id) == worker_id)
    return stmt


def horizon(settings: Settings, now: datetime) -> datetime:
    return now + timedelta(days=settings.visit_due_window_days)
