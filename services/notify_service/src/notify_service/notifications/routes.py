"""Notifications API (thin HTTP over notifications.service)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request

from notify_service.access import Grid, Sender, Staff
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
    "`notifications:write`.\n\n"
    "Area scope: a person (any role) may address only an account that belongs to an area at "
    "or below one of their own (403 `recipient_outside_scope`), and may not give a phone "
    "number or openid (403 `raw_recipient_not_allowed`): explicit contact points are for "
    "system clients (client-credentials tokens, role `platform`).",
    responses=problem_responses(400, 401, 403, 422),
)
async def create_notification(
    body: NotificationCreate,
    session: SessionDep,
    idem: IdempotencyDep,
    principal: Sender,
    _key: IdempotencyKeyRequired,
    now: Now,
    grid: Grid,
) -> Any:
    # before the first query: the area lookup may ask grid_service, with no transaction open
    await service.ensure_may_address(principal, grid, body.recipient)
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
    "numbers are masked.\n\n"
    "Area scope: a person reads only messages to accounts of their own areas, and their own; "
    "any other message answers 404 as an unknown id does. Messages to explicit contact "
    "points (no account) are read by system clients only.",
    responses=problem_responses(401, 403, 404),
)
async def get_notification(
    notification_id: uuid.UUID, request: Request, principal: Staff, grid: Grid
) -> NotificationRead:
    # read in a short session of its own, then check the area (grid_service, cached) with no
    # transaction open
    async with request.app.state.sessionmaker() as session:
        notification = await service.read(session, notification_id)
    await service.ensure_may_read(principal, grid, notification)
    return notification
