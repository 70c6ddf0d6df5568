"""Writing case events to the outbox, in the transaction of the change they report.

The payload carries what a notifier needs without calling back: the keys notify_service reads
(``shared.contracts.events.CaseEventPayload``) and the others case_service adds
(``shared.contracts.events.CASE_SERVICE_PAYLOAD_KEYS``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from case_service.cases import repository as case_repository
from case_service.cases.models import Case
from case_service.outbox.models import OutboxEvent
from case_service.webhooks import service as webhooks


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
    new_case: bool = False,
) -> OutboxEvent:
    """``new_case``: the case was filed in this very transaction, so nothing can have been
    merged into it yet (saves a query on every intake)."""
    merged = [] if new_case else await case_repository.merged_cases(session, case.id)
    supporters = [
        c.reporter_account_id
        for c in merged
        if c.reporter_account_id is not None and not c.anonymous
    ]
    payload = event_payload(
        case,
        actor_id=actor_id,
        action=action,
        previous_status=previous_status,
        reason=reason,
        extra=extra,
        supporters=supporters,
    )
    event = OutboxEvent(
        case_id=case.id,
        type=type,
        case_version=case.version,
        area_path=case.area_path,
        payload=payload,
    )
    session.add(event)
    await session.flush()
    await webhooks.fan_out(
        session, case, event_id=event.id, type=type, payload=payload, occurred_at=event.created_at
    )
    return event


def event_payload(
    case: Case,
    *,
    actor_id: str | None,
    action: str | None = None,
    previous_status: str | None = None,
    reason: str | None = None,
    extra: dict[str, Any] | None = None,
    supporters: list[str] | None = None,
) -> dict[str, Any]:
    """What an outbox event of ``case`` carries, from the case as it is now."""
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
        # anonymous reports carry no reporter id outside this service (the contract's rule)
        "reporter_account_id": None if case.anonymous else case.reporter_account_id,
        "reporter_channel": case.channel,
        "assignee_account_ids": list(case.assignee_account_ids),
        "department_ids": list(case.department_ids),
        "supporter_account_ids": list(supporters or []),
        "reason": reason,
        "actor_id": actor_id,
        "due_at": case.due_at.isoformat() if case.due_at else None,
        "result": case.result[:500] if case.result else None,
        "department_id": case.department_ids[0] if case.department_ids else None,
    }
    if extra:
        payload.update(extra)
    return payload


#: Outcomes every reporter of a merged duplicate hears about, too.
SUPPORTER_EVENTS = frozenset({"case.accepted", "case.rejected", "case.resolved", "case.closed"})


async def tell_supporters(
    session: AsyncSession, master: Case, *, type: str, actor_id: str | None
) -> int:
    """For each case merged into ``master``, an event of the same type on that case, with the
    master's status and result, so its own reporter hears of the outcome."""
    if type not in SUPPORTER_EVENTS:
        return 0
    merged = await case_repository.merged_cases(session, master.id)
    for case in merged:
        session.add(
            OutboxEvent(
                case_id=case.id,
                type=type,
                case_version=case.version,
                area_path=case.area_path,
                payload={
                    "case_number": case.case_number,
                    "title": case.title,
                    "category_code": case.category_code,
                    "category_name": case.category_name,
                    "status": case.status,
                    "master_case_id": str(master.id),
                    "master_case_number": master.case_number,
                    "master_status": master.status,
                    "area_path": case.area_path,
                    "reporter_account_id": None if case.anonymous else case.reporter_account_id,
                    "reporter_channel": case.channel,
                    "assignee_account_ids": [],
                    "department_ids": [],
                    "major": master.major,
                    "reason": None,
                    "actor_id": actor_id,
                    "result": master.result[:500] if master.result else None,
                },
            )
        )
    await session.flush()
    return len(merged)
