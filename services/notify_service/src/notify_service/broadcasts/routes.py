"""Broadcasts API: one message to everyone in an area subtree (e.g. an emergency warning)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter

from notify_service.access import Broadcaster, Staff
from notify_service.broadcasts import service
from notify_service.broadcasts.schemas import BroadcastCreate, BroadcastRead
from notify_service.clock import Now
from notify_service.notifications.routes import IdempotencyKeyRequired
from shared.db import SessionDep
from shared.idempotency import IdempotencyDep
from shared.problem import problem_responses

router = APIRouter(prefix="/api/v1/broadcasts", tags=["broadcasts"])


@router.post(
    "",
    status_code=202,
    response_model=BroadcastRead,
    summary="Broadcast a message to an area subtree",
    description="Stores the broadcast and returns at once (202). Workers list the residents "
    "or staff of the area and everything below it from grid_service, page by page, and create "
    "one notification per recipient — each recipient exactly once, even when a page is "
    "listed twice. `critical` broadcasts (emergencies) skip quiet hours and frequency caps. "
    "Requires `Idempotency-Key`; role admin/supervisor/grid_leader whose areas cover "
    "`area_path` (403 `area_not_allowed` otherwise), or scope `notifications:write`.",
    responses=problem_responses(400, 401, 403, 422),
)
async def create_broadcast(
    body: BroadcastCreate,
    session: SessionDep,
    idem: IdempotencyDep,
    principal: Broadcaster,
    _key: IdempotencyKeyRequired,
    now: Now,
) -> Any:
    if (replay := await idem.replay()) is not None:
        return replay
    broadcast = await service.create(session, data=body, principal=principal, now=now)
    return await idem.respond(202, await service.read(session, broadcast.id))


@router.get(
    "/{broadcast_id}",
    response_model=BroadcastRead,
    summary="Read a broadcast and its delivery counts",
    description="Fan-out progress (`recipient_count`, `status`) and how many of its "
    "notifications are in each delivery status. A person reads only broadcasts to an area at "
    "or below one of their own; others answer 404 as an unknown id does.",
    responses=problem_responses(401, 403, 404),
)
async def get_broadcast(
    broadcast_id: uuid.UUID, session: SessionDep, principal: Staff
) -> BroadcastRead:
    return await service.read(session, broadcast_id, principal=principal)
