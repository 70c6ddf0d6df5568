"""The case lists of open cases walk ``ix_case_open_created_at_id`` in the keyset order: the
overdue and subtree conditions are index conditions (checked on the index entries, not on
fetched rows) and there is no sort. Checked with EXPLAIN on the statement the API builds
(``list_statement`` + ``scope_clause`` + ``paginate``'s order and cursor), first page and a
later one. bench/case_list_bench.py prints the plans and timings at 1,000,000 cases."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import ADMIN, DISTRICT, Person

from case_service.cases import access, repository
from case_service.cases.models import Case
from case_service.cases.repository import CaseFilters
from shared.auth import Principal

INDEX = "ix_case_open_created_at_id"
NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
SUPERVISOR = Person("sup-d", ("supervisor",), (DISTRICT,))


def principal(p: Person) -> Principal:
    return Principal(
        subject=p.sub, roles=frozenset(p.roles), area_paths=p.areas, department_ids=p.depts
    )


def ordered(p: Person, filters: CaseFilters, *, later_page: bool) -> sa.Select[Any]:
    c = Case.__table__.c  # type: ignore[attr-defined]
    stmt = repository.list_statement(filters, scope=access.scope_clause(principal(p)), now=NOW)
    if later_page:  # what paginate() adds for a cursor
        stmt = stmt.where(sa.tuple_(c.created_at, c.id) < sa.tuple_(NOW, uuid.uuid4()))
    return stmt.order_by(c.created_at.desc(), c.id.desc()).limit(21)


QUERIES = {
    "district supervisor: overdue": (SUPERVISOR, CaseFilters(overdue=True)),
    "admin: overdue": (ADMIN, CaseFilters(overdue=True)),
    "admin: overdue in an area subtree": (ADMIN, CaseFilters(overdue=True, area_path=DISTRICT)),
}


@pytest.mark.parametrize("later_page", [False, True], ids=["first page", "later page"])
@pytest.mark.parametrize("name", list(QUERIES))
async def test_overdue_lists_walk_the_open_case_index(
    app: Any, name: str, later_page: bool
) -> None:
    person, filters = QUERIES[name]
    stmt = ordered(person, filters, later_page=later_page)
    async with app.state.engine.connect() as conn:
        # On the test's nearly empty table any plan is cheap and the choice follows whatever
        # rows earlier tests left; price out the plans that read the whole table or sort it,
        # so what is checked is that an ordered walk with these index conditions exists and is
        # the cheapest of the ordered ones. The bench measures the choice at 1,000,000 cases.
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            await conn.execute(sa.text(f"SET {setting} = off"))
        compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
        params = tuple(compiled.params[k] for k in compiled.positiontup or [])
        raw = await conn.exec_driver_sql("EXPLAIN " + str(compiled), params)
        plan = "\n".join(row[0] for row in raw.all())
    assert f"Index Scan Backward using {INDEX}" in plan, plan
    assert "Sort" not in plan, plan
    conds = "\n".join(line for line in plan.splitlines() if "Index Cond" in line)
    assert "due_at <" in conds, plan  # checked on the index entries, not on fetched rows
    if person is SUPERVISOR or filters.area_path:
        assert f"(area_path)::text >= '{DISTRICT}'" in conds, plan
        assert f"(area_path)::text < '{DISTRICT}/'" in conds, plan
