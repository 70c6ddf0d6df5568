"""Every list query of evaluations and every statistics query can be answered from an index
(checked with EXPLAIN while sequential scans are priced out). On these nearly empty tables the
planner may prefer the period index for the fact queries; with a million facts it takes the
area, department or category index (bench/stats_bench.py prints the plans)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import DISPATCHER_S1, STREET1, URBAN, Person

from case_service.evaluations import repository
from case_service.evaluations.models import Evaluation, ReopenRequest, ReturnVisit
from case_service.stats import service
from case_service.stats.models import fact_columns
from case_service.stats.service import StatsFilter
from shared.auth import Principal


def principal(p: Person) -> Principal:
    return Principal(
        subject=p.sub, roles=frozenset(p.roles), area_paths=p.areas, department_ids=p.depts
    )


YEAR = StatsFilter(date_from=date(2026, 1, 1), date_to=date(2026, 12, 31))


def facts(p: Person, **filters: Any) -> sa.Select[Any]:
    f = StatsFilter(date_from=YEAR.date_from, date_to=YEAR.date_to, **filters)
    c = fact_columns()
    return (
        sa.select(c.flags, sa.func.count()).where(*service.where(principal(p), f)).group_by(c.flags)
    )


def statements() -> dict[str, tuple[sa.Select[Any], list[Any], str]]:
    visits = ReturnVisit.__table__.c  # type: ignore[attr-defined]
    requests = ReopenRequest.__table__.c  # type: ignore[attr-defined]
    evaluations = Evaluation.__table__.c  # type: ignore[attr-defined]
    return {
        "pending return visits of a street": (
            repository.return_visits_statement(principal(DISPATCHER_S1), status="pending"),
            [visits.created_at, visits.id],
            "ix_return_visit_status_area_path_c",
        ),
        "pending reopen requests of a street": (
            repository.reopen_requests_statement(principal(DISPATCHER_S1), status="pending"),
            [requests.created_at, requests.id],
            "ix_reopen_request_status_area_path_c|uq_reopen_request_pending",
        ),
        "evaluations of a case": (
            sa.select(Evaluation).where(evaluations.case_id == uuid.uuid4()),
            [evaluations.closed_at],
            "uq_evaluation_case_id_closed_at",
        ),
        "facts of a street and a year": (
            facts(DISPATCHER_S1, area_path=STREET1),
            [],
            "ix_case_fact_area_path_c_received_on|ix_case_fact_received_on",
        ),
        "facts of a department": (
            facts(Person("a", ("admin",)), department_id="dept-urban"),
            [],
            "ix_case_fact_department_id_received_on|ix_case_fact_received_on",
        ),
        "facts of a category": (
            facts(Person("a", ("admin",)), category_code="0802"),
            [],
            "ix_case_fact_category_code_received_on|ix_case_fact_received_on",
        ),
        "facts in a department handler's scope": (
            facts(URBAN),
            [],
            "ix_case_fact_department_ids|ix_case_fact_received_on",
        ),
    }


@pytest.mark.parametrize("name", list(statements()))
async def test_query_uses_an_index(app: Any, name: str) -> None:
    stmt, order, index = statements()[name]
    if order:
        stmt = stmt.order_by(*order).limit(21)
    async with app.state.engine.connect() as conn:
        await conn.execute(sa.text("SET enable_seqscan = off"))
        compiled = stmt.compile(dialect=conn.dialect)
        params = tuple(compiled.params[k] for k in compiled.positiontup or [])
        raw = await conn.exec_driver_sql("EXPLAIN " + str(compiled), params)
        plan = "\n".join(row[0] for row in raw.all())
    assert any(name in plan for name in index.split("|")), plan
    assert "Seq Scan" not in plan, plan
