"""Wiring of the time-limit machinery into the running service."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from case_service.actions import apply_action
from case_service.cases.lifecycle import Action
from case_service.cases.models import Case
from case_service.cases.schemas import CaseActionRequest
from case_service.config import Settings
from case_service.sla.timers import Escalator
from shared.auth import Principal, Role
from shared.problem import AppError

#: The actor of automatic actions (timeline ``actor_id``).
SYSTEM = Principal(subject="system:sla", roles=frozenset({Role.admin}), name="时限监控")


def escalator(settings: Settings) -> Escalator:
    """Escalate an overdue case to the level above, as the system (自动升级)."""

    async def escalate(session: AsyncSession, case: Case, reason: str, now: datetime) -> bool:
        if case.status != "in_progress":
            return False  # only a case being handled goes up; others stay under supervision
        try:
            await apply_action(
                session,
                principal=SYSTEM,
                case_id=case.id,
                action=Action.escalate,
                body=CaseActionRequest(reason=reason),
                if_match=None,
                settings=settings,
                now=now,
            )
        except AppError:
            return False  # e.g. already at the top level
        return True

    return escalate
