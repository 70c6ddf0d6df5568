"""Inbox API for app and mini-program users (their own messages only)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from notify_service.clock import Now
from notify_service.inbox import repository, service
from notify_service.inbox.models import InboxItem
from notify_service.inbox.schemas import InboxItemRead, InboxSummary
from shared.auth import CurrentPrincipal
from shared.db import SessionDep
from shared.pagination import Page, PageDep, paginate
from shared.problem import problem_responses

router = APIRouter(prefix="/api/v1/inbox", tags=["inbox"])


@router.get(
    "",
    response_model=Page[InboxItemRead],
    summary="List my inbox",
    description="The caller's in-app messages, newest first (keyset pages). "
    "`unread_only=true` lists unread ones.",
    responses=problem_responses(401, 422),
)
async def list_inbox(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    unread_only: Annotated[bool, Query(description="only messages not yet read")] = False,
) -> Page[InboxItemRead]:
    account_id = service.account_of(principal)
    table = InboxItem.__table__  # type: ignore[attr-defined]
    return await paginate(
        session,
        repository.list_stmt(account_id=account_id, unread_only=unread_only),
        order_by=[table.c.created_at, table.c.id],
        params=page,
        to_item=InboxItemRead.model_validate,
    )


@router.get(
    "/summary",
    response_model=InboxSummary,
    summary="Count my unread messages",
    description="For the badge on the app's message tab.",
    responses=problem_responses(401, 422),
)
async def inbox_summary(session: SessionDep, principal: CurrentPrincipal) -> InboxSummary:
    account_id = service.account_of(principal)
    return InboxSummary(unread=await repository.unread_count(session, account_id))


@router.post(
    "/{item_id}/read",
    response_model=InboxItemRead,
    summary="Mark one message read",
    description="Idempotent: marking an already read message keeps its first `read_at`. "
    "Another user's item answers 404.",
    responses=problem_responses(401, 404, 422),
)
async def mark_read(
    item_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, now: Now
) -> InboxItemRead:
    item = await service.mark_read(session, principal=principal, item_id=item_id, now=now)
    return InboxItemRead.model_validate(item)
