"""Writing case events to the outbox, in the transaction of the change they report.

The payload carries what a notifier needs without calling back (keys documented in
``shared.contracts.events.CASE_EVENT_PAYLOAD_KEYS``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from case_service.cases import repository as case_repository
from case_service.cases.models import Case
from case_service.outbox.models import OutboxEvent


async def record_event(
    session: AsyncSession,
    case: Case,
    *,
    type: str,
    actor_id: str | None,
    action: str | None = None,
    previous_status: str | None = None,
    reason: str | None = None,
    extra: dict[str, Any] | None = None,
) -> OutboxEvent:
    supporters = await case_repository.merged_reporters(session, case.id)
    payload: dict[str, Any] = {
        "case_number": case.case_number,
        "title": case.title,
        "category_code": case.category_code,
        "category_name": case.category_name,
        "kind": case.kind,
        "status": case.status,
        "previous_status": previous_status,
        "action": action,
        "priority": case.priority,
        "major": case.major,
        "area_path": case.area_path,
        "handling_area_path": case.handling_area_path,
        "handling_level": case.handling_level,
        "reporter_account_id": case.reporter_account_id,
        "reporter_channel": case.channel,
        "assignee_account_ids": list(case.assignee_account_ids),
        "department_ids": list(case.department_ids),
        "supporter_account_ids": supporters,
        "reason": reason,
        "actor_id": actor_id,
        "due_at": case.due_at.isoformat() if case.due_at else None,
    }
    if extra:
        payload.update(extra)
    event = OutboxEvent(
        case_id=case.id,
        type=type,
        case_version=case.version,
        area_path=case.area_path,
        payload=payload,
    )
    session.add(event)
    await session.flush()
    return event
