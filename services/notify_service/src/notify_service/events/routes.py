"""Case event intake: case_service's outbox relay posts here."""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError

from notify_service.access import EventWriter
from notify_service.clock import Now
from notify_service.events import flows
from notify_service.events.schemas import (
    BATCH_LIMIT,
    EventAccepted,
    EventBatch,
    EventBatchResult,
    EventOutcome,
)
from notify_service.notifications.routes import IdempotencyKeyRequired
from shared.contracts.events import CaseEvent
from shared.db import SessionDep
from shared.i18n import Text
from shared.idempotency import (
    Idempotency,
    IdempotencyDep,
    canonical_hash,
    raw_body_hash,
)
from shared.problem import (
    AppError,
    FieldProblem,
    ValidationFailed,
    app_error_body,
    invalid_fields_detail,
    problem_responses,
    validation_problems,
)

router = APIRouter(prefix="/api/v1/events", tags=["events"])

# Both endpoints remember an event under this route and its canonical hash, so a replay
# through either is recognised (and so is a replay of a record stored, before the batch
# endpoint existed, under the raw body's hash).
EVENT_ROUTE = "POST /api/v1/events"


def _event_idempotency(base: Idempotency, event: CaseEvent, *, legacy_hash: str) -> Idempotency:
    return base.item(
        key=str(event.id),
        request_hash=canonical_hash(EVENT_ROUTE, event.model_dump(mode="json")),
        route=EVENT_ROUTE,
        also_matches=(legacy_hash,),
    )


def _legacy_hash(item: dict[str, Any]) -> str:
    """The raw-body hash the single endpoint stored for this event before (httpx's JSON)."""
    raw = json.dumps(item, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return raw_body_hash("POST", "/api/v1/events", raw.encode())


EVENT_EXAMPLE: dict[str, Any] = {
    "id": "5d3c1a7e-0d55-4b8e-9a61-8a3c0b2f7e11",
    "type": "case.accepted",
    "case_id": "0f6d2a2c-6a07-4d1d-9a3e-5b0a4f0e9b1c",
    "case_version": 2,
    "occurred_at": "2026-11-23T09:30:00Z",
    "area_path": "330100.330106.330106001",
    "payload": {
        "case_number": "XH20261123-0042",
        "title": "小区门口路灯不亮",
        "reporter_account_id": "7a4f9a52-1f7e-4d07-9a8c-0c2c54a5f1f0",
    },
}


@router.post(
    "",
    status_code=202,
    response_model=EventAccepted,
    summary="Accept a case event from case_service's outbox",
    description="Maps the event to messages — the reporter on acceptance, deadline, result and "
    "rating request; handlers on assignment and reminders; supervisors on overdue; leaders of "
    "the levels above at once on major incidents — and stores them for delivery. "
    "`Idempotency-Key` must be the event id (the outbox row id); a repeat returns the first "
    "answer and creates nothing. Needs scope `events:write`. The payload keys read are "
    "documented in `shared.contracts.events`.",
    responses=problem_responses(400, 401, 403, 422),
    openapi_extra={"requestBody": {"content": {"application/json": {"example": EVENT_EXAMPLE}}}},
)
async def accept_event(
    body: CaseEvent,
    session: SessionDep,
    idem: IdempotencyDep,
    principal: EventWriter,
    key: IdempotencyKeyRequired,
    now: Now,
) -> Any:
    if key != str(body.id):
        raise ValidationFailed(
            Text("Idempotency-Key 必须是事件 ID", "Idempotency-Key must be the event id"),
            code="idempotency_key_mismatch",
            errors=[
                FieldProblem(
                    field="header.Idempotency-Key",
                    reason=Text("必须等于 body.id", "must equal body.id"),
                )
            ],
        )
    idem = _event_idempotency(idem, body, legacy_hash=idem.request_hash)
    if (replay := await idem.replay()) is not None:
        return replay
    ids = await flows.messages_for_event(session, event=body, now=now, created_by=principal.subject)
    return await idem.respond(
        202, EventAccepted(event_id=body.id, type=body.type, notification_ids=ids)
    )


@router.post(
    "/batch",
    status_code=200,
    response_model=EventBatchResult,
    summary="Accept up to 100 case events in one call",
    description="The outbox relay's batch: each event is handled exactly as "
    "`POST /api/v1/events` with `Idempotency-Key` = its id — a repeat (through either "
    "endpoint) is `replayed` with the first answer and creates nothing; the same id with a "
    "different body is refused with 422 `idempotency_key_reused`; a malformed event is "
    f"refused alone and nothing of it is written. At most {BATCH_LIMIT} events (more: 422 on "
    "`events`). The answer lists one result per event, in order. Needs scope `events:write`.",
    responses=problem_responses(400, 401, 403, 422),
    openapi_extra={
        "requestBody": {"content": {"application/json": {"example": {"events": [EVENT_EXAMPLE]}}}}
    },
)
async def accept_events(
    body: EventBatch,
    request: Request,
    session: SessionDep,
    principal: EventWriter,
    now: Now,
) -> EventBatchResult:
    base = Idempotency(session=session, request=request, key=None, request_hash="")
    outcomes: dict[int, EventOutcome] = {}
    valid: list[tuple[int, CaseEvent, dict[str, Any]]] = []
    for index, item in enumerate(body.events):
        try:
            valid.append((index, CaseEvent.model_validate(item), item))
        except ValidationError as exc:
            problems = validation_problems(exc.errors())
            error = ValidationFailed(
                invalid_fields_detail([p.field for p in problems]), errors=problems
            )
            raw_id = item.get("id")
            outcomes[index] = _refused(request, index, None, error, raw_id=raw_id)
    # in id order: two batches sharing events (a lease run out) lock their keys in one order
    for index, event, item in sorted(valid, key=lambda v: str(v[1].id)):
        idem = _event_idempotency(base, event, legacy_hash=_legacy_hash(item))
        try:
            async with session.begin_nested():  # a refused event leaves nothing behind
                stored = await idem.stored()
                if stored is not None:
                    status, answer = stored
                    outcomes[index] = EventOutcome(
                        index=index,
                        event_id=event.id,
                        result="replayed",
                        status=status,
                        notification_ids=(answer or {}).get("notification_ids", []),
                    )
                    continue
                ids = await flows.messages_for_event(
                    session, event=event, now=now, created_by=principal.subject
                )
                await idem.respond(
                    202, EventAccepted(event_id=event.id, type=event.type, notification_ids=ids)
                )
        except AppError as exc:
            outcomes[index] = _refused(request, index, event, exc)
            continue
        outcomes[index] = EventOutcome(
            index=index, event_id=event.id, result="accepted", status=202, notification_ids=ids
        )
    return EventBatchResult(results=[outcomes[i] for i in range(len(body.events))])


def _refused(
    request: Request,
    index: int,
    event: CaseEvent | None,
    exc: AppError,
    *,
    raw_id: Any = None,
) -> EventOutcome:
    event_id = event.id if event is not None else None
    if event_id is None and isinstance(raw_id, str):
        try:
            event_id = uuid.UUID(raw_id)
        except ValueError:
            event_id = None
    return EventOutcome(
        index=index,
        event_id=event_id,
        result="refused",
        status=exc.instance_status,
        problem=app_error_body(request, exc),
    )
