"""Writing case events to the outbox, in the transaction of the change they report.

The payload carries what a notifier needs without calling back: the keys notify_service reads
(``shared.contracts.events.CaseEventPayload``) and the others case_service adds
(``shared.contracts.events.CASE_SERVICE_PAYLOAD_KEYS``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from case_service.cases import repository as case_repository
from case_service.cases.models import Case
from case_service.outbox.models import OutboxEvent
from case_service.webhooks import service as webhooks
from shared.db import new_row, utcnow


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
    merged: list[Case] | None = None,
    flush: bool = True,
) -> OutboxEvent:
    """``new_case``: the case was filed in this very transaction, so nothing can have been
    merged into it yet (saves a query on every intake). ``merged``: the cases merged into
    it, when the caller has read them (:func:`merged_into`). ``flush=False``: the event is
    written with the caller's next flush (its id and clock are set already)."""
    if merged is None:
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
    event = new_row(
        OutboxEvent,
        case_id=case.id,
        type=type,
        case_version=case.version,
        area_path=case.area_path,
        payload=payload,
    )
    session.add(event)
    if flush:
        await session.flush()
    await webhooks.fan_out(
        session, case, event_id=event.id, type=type, payload=payload, occurred_at=event.created_at
    )
    return event


@dataclass(frozen=True)
class CaseEvent:
    """One event for :func:`record_events`: what :func:`record_event` is given."""

    case: Case
    type: str
    actor_id: str | None = None
    extra: dict[str, Any] | None = None


_INSERT_EVENT = sa.insert(OutboxEvent.__table__)  # type: ignore[attr-defined]


async def record_events(session: AsyncSession, events: list[CaseEvent]) -> list[uuid.UUID]:
    """:func:`record_event` for many events (of cases filed before this transaction) in a
    constant number of statements: the merged supporters of every case in one query, the
    events in one insert, their webhook deliveries in at most two more. The rows are those
    :func:`record_event` writes: the same payload, the case's current version (read, not
    bumped) and the row's own clock for ``created_at``, so events keep their order. Returns
    the events' ids, in order."""
    if not events:
        return []
    supporters = await case_repository.supporters_of(
        session, list(dict.fromkeys(e.case.id for e in events))
    )
    rows: list[dict[str, Any]] = []
    fanned: list[webhooks.Fanned] = []
    for e in events:
        case = e.case
        payload = event_payload(
            case, actor_id=e.actor_id, extra=e.extra, supporters=supporters.get(case.id, [])
        )
        event_id, created_at = uuid.uuid4(), utcnow()
        rows.append(
            {
                "id": event_id,
                "case_id": case.id,
                "type": e.type,
                "case_version": case.version,
                "area_path": case.area_path,
                "payload": payload,
                "created_at": created_at,
                "relayed_at": None,
                "attempts": 0,
                "next_attempt_at": created_at,
                "last_error": None,
            }
        )
        fanned.append((case, event_id, e.type, payload, created_at))
    await session.execute(_INSERT_EVENT, rows)
    await webhooks.fan_out_many(session, fanned)
    return [row["id"] for row in rows]


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


async def merged_into(session: AsyncSession, master: Case) -> list[Case]:
    """The cases merged into ``master``, read only when it has any: only a merge sets
    ``merged_into_id``, and it raises the master's ``supporter_count`` in the same
    transaction (nothing un-merges)."""
    if master.supporter_count <= 0:
        return []
    return await case_repository.merged_cases(session, master.id)


async def tell_supporters(
    session: AsyncSession,
    master: Case,
    *,
    type: str,
    actor_id: str | None,
    merged: list[Case] | None = None,
    flush: bool = True,
) -> int:
    """For each case merged into ``master``, an event of the same type on that case, with the
    master's status and result, so its own reporter hears of the outcome. ``merged`` and
    ``flush`` as for :func:`record_event`."""
    if type not in SUPPORTER_EVENTS:
        return 0
    if merged is None:
        merged = await case_repository.merged_cases(session, master.id)
    for case in merged:
        session.add(
            new_row(
                OutboxEvent,
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
    if flush:
        await session.flush()
    return len(merged)
