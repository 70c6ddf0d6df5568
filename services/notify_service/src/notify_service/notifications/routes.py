"""Notifications API (thin HTTP over notifications.service)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header

from notify_service.access import Sender, Staff
from notify_service.clock import Now
from notify_service.notifications import service
from notify_service.notifications.schemas import NotificationCreate, NotificationRead
from shared.db import SessionDep
from shared.idempotency import IdempotencyDep
from shared.problem import problem_responses

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])

IdempotencyKeyRequired = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="required: the same key and body return the first response",
    ),
]


@router.post(
    "",
    status_code=202,
    response_model=NotificationRead,
    summary="Send a message to one recipient",
    description="Stores the message and returns at once (202); delivery workers send it. The "
    "recipient is an account (resolved through grid_service to its phone, WeChat openids and "
    "channel preference) or explicit contact points. `channels` is the preference order, e.g. "
    "WeChat first and SMS as fallback. Variables are checked against the template before "
    "anything is stored. `critical` messages skip quiet hours and frequency caps. Requires "
    "`Idempotency-Key`; role admin/dispatcher/supervisor/grid_leader or scope "
    "`notifications:write`.",
    responses=problem_responses(400, 401, 403, 422),
)
async def create_notification(
    body: NotificationCreate,
    session: SessionDep,
    idem: IdempotencyDep,
    principal: Sender,
    _key: IdempotencyKeyRequired,
    now: Now,
) -> Any:
    if (replay := await idem.replay()) is not None:
        return replay
    notification = await service.create(session, data=body, created_by=principal.subject, now=now)
    return await idem.respond(202, await service.to_read(session, notification))


@router.get(
    "/{notification_id}",
    response_model=NotificationRead,
    summary="Read a message and its delivery history",
    description="Status (queued, deferred, retrying, sending, sent, unconfirmed, delivered, "
    "failed, dead), the channel and provider in use, and every step so far: deferrals (quiet "
    "hours, frequency caps, rate limits), retries, fallbacks, failovers and receipts. Phone "
    "numbers are masked.",
    responses=problem_responses(401, 403, 404),
)
async def get_notification(
    notification_id: uuid.UUID, session: SessionDep, _: Staff
) -> NotificationRead:
    return await service.read(session, notification_id)
