"""Every query on evaluations, reopen requests and return visits."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from case_service.cases.access import subtree
from case_service.evaluations.models import Evaluation, ReopenRequest, ReturnVisit
from shared.auth import Principal, Role


async def for_closure(
    session: AsyncSession, case_id: uuid.UUID, closed_at: datetime
) -> Evaluation | None:
    stmt = sa.select(Evaluation).where(
        col(Evaluation.case_id) == case_id, col(Evaluation.closed_at) == closed_at
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def of_case(session: AsyncSession, case_id: uuid.UUID) -> list[Evaluation]:
    """Uses ``uq_evaluation_case_id_closed_at``."""
    stmt = (
        sa.select(Evaluation)
        .where(col(Evaluation.case_id) == case_id)
        .order_by(col(Evaluation.closed_at))
    )
    return list((await session.execute(stmt)).scalars().all())


async def reopen_request(
    session: AsyncSession, request_id: uuid.UUID, *, lock: bool = False
) -> ReopenRequest | None:
    stmt = sa.select(ReopenRequest).where(col(ReopenRequest.id) == request_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def reopen_request_for(
    session: AsyncSession, evaluation_id: uuid.UUID
) -> ReopenRequest | None:
    stmt = sa.select(ReopenRequest).where(col(ReopenRequest.evaluation_id) == evaluation_id)
    return (await session.execute(stmt)).scalars().first()


async def return_visit(
    session: AsyncSession, visit_id: uuid.UUID, *, lock: bool = False
) -> ReturnVisit | None:
    stmt = sa.select(ReturnVisit).where(col(ReturnVisit.id) == visit_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def return_visit_for(
    session: AsyncSession, case_id: uuid.UUID, closed_at: datetime
) -> ReturnVisit | None:
    stmt = sa.select(ReturnVisit).where(
        col(ReturnVisit.case_id) == case_id, col(ReturnVisit.closed_at) == closed_at
    )
    return (await session.execute(stmt)).scalar_one_or_none()


def _area_scope(principal: Principal, column: Any) -> sa.ColumnElement[bool] | None:
    """Staff with an area see the tasks in their subtrees; admins everything."""
    if principal.has_role(Role.admin):
        return None
    conds = [subtree(column, p) for p in principal.area_paths]
    return sa.or_(*conds) if conds else sa.false()


def return_visits_statement(principal: Principal, *, status: str | None) -> sa.Select[Any]:
    """Index ``ix_return_visit_status_area_path_c`` (status, area_path, created_at, id)."""
    stmt = sa.select(ReturnVisit)
    if status is not None:
        stmt = stmt.where(col(ReturnVisit.status) == status)
    scope = _area_scope(principal, col(ReturnVisit.area_path))
    if scope is not None:
        stmt = stmt.where(scope)
    return stmt


def reopen_requests_statement(principal: Principal, *, status: str | None) -> sa.Select[Any]:
    """Index ``ix_reopen_request_status_area_path_c``."""
    stmt = sa.select(ReopenRequest)
    if status is not None:
        stmt = stmt.where(col(ReopenRequest.status) == status)
    scope = _area_scope(principal, col(ReopenRequest.area_path))
    if scope is not None:
        stmt = stmt.where(scope)
    return stmt
