"""Case event intake: case_service's outbox relay posts here."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from notify_service.access import EventWriter
from notify_service.clock import Now
from notify_service.events import flows
from notify_service.events.schemas import EventAccepted
from notify_service.notifications.routes import IdempotencyKeyRequired
from shared.contracts.events import CaseEvent
from shared.db import SessionDep
from shared.i18n import Text
from shared.idempotency import IdempotencyDep
from shared.problem import FieldProblem, ValidationFailed, problem_responses

router = APIRouter(prefix="/api/v1/events", tags=["events"])


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
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {
                    "example": {
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
                }
            }
        }
    },
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
    if (replay := await idem.replay()) is not None:
        return replay
    ids = await flows.messages_for_event(session, event=body, now=now, created_by=principal.subject)
    return await idem.respond(
        202, EventAccepted(event_id=body.id, type=body.type, notification_ids=ids)
    )
