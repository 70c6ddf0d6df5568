"""Every list query of basic information, patrols, visits, points and the audit trail can be
answered from an index (checked with EXPLAIN while sequential scans are priced out)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from basicinfo_helpers import GRID1

from grid_service.basicinfo import repository as basicinfo_repository
from grid_service.basicinfo.models import Household, Resident, SpecialGroupTag, StandardAddress
from grid_service.patrols import repository as patrols_repository
from grid_service.patrols.models import PatrolFinding
from grid_service.points.models import PointsEntry, ShopItem
from grid_service.privacy import repository as privacy_repository
from grid_service.visits import service as visits_service
from grid_service.visits.models import Visit

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def statements() -> dict[str, tuple[sa.Select[Any], list[Any]]]:
    def t(model: Any) -> Any:
        return model.__table__

    return {
        "residents by area": (
            basicinfo_repository.list_statement(Resident, [GRID1]),
            [t(Resident).c.created_at, t(Resident).c.id],
        ),
        "addresses by area": (
            basicinfo_repository.list_statement(StandardAddress, [GRID1]),
            [t(StandardAddress).c.created_at, t(StandardAddress).c.id],
        ),
        "special group": (
            basicinfo_repository.tagged_statement(["drug_user"], [GRID1]),
            [t(SpecialGroupTag).c.area_path, t(SpecialGroupTag).c.id],
        ),
        "special-group follow-ups due": (
            basicinfo_repository.tagged_statement(
                ["drug_user", "low_income"], [GRID1], due_by=NOW.date()
            ),
            [t(SpecialGroupTag).c.next_follow_up_on, t(SpecialGroupTag).c.id],
        ),
        "patrol findings without a case": (
            patrols_repository.findings_without_case_statement([GRID1]),
            [t(PatrolFinding).c.found_at, t(PatrolFinding).c.id],
        ),
        "visits due by worker": (
            visits_service.due_statement([GRID1], worker_id="w1", horizon=NOW),
            [t(Household).c.next_visit_due_at, t(Household).c.id],
        ),
        "visits of a household": (
            sa.select(Visit).where(Visit.household_id == uuid.uuid4()),  # type: ignore[arg-type]
            [t(Visit).c.visited_at, t(Visit).c.id],
        ),
        "patrols by worker": (
            patrols_repository.list_statement(
                [GRID1], worker_id="w1", start=NOW, end=NOW + timedelta(days=1)
            ),
            [sa.column("started_at"), sa.column("id")],
        ),
        "ledger": (
            sa.select(PointsEntry).where(PointsEntry.resident_id == uuid.uuid4()),  # type: ignore[arg-type]
            [t(PointsEntry).c.created_at, t(PointsEntry).c.id],
        ),
        "shop items": (
            basicinfo_repository.list_statement(ShopItem, [GRID1]),
            [t(ShopItem).c.created_at, t(ShopItem).c.id],
        ),
        "audit by actor": (
            privacy_repository.audit_statement(actor_id="a1", action=None, subject_id=None),
            [sa.column("occurred_at"), sa.column("id")],
        ),
    }


@pytest.mark.parametrize("name", list(statements()))
async def test_list_query_uses_an_index(app: Any, name: str) -> None:
    stmt, order = statements()[name]
    stmt = stmt.order_by(*order).limit(21)
    async with app.state.engine.connect() as conn:
        await conn.execute(sa.text("SET enable_seqscan = off"))
        compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
        params = tuple(compiled.params[k] for k in compiled.positiontup or [])
        raw = await conn.exec_driver_sql("EXPLAIN " + str(compiled), params)
        plan = "\n".join(row[0] for row in raw.all())
    assert "Index" in plan, plan
    assert "Seq Scan" not in plan, plan
