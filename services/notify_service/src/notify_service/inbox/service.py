"""Inbox rules: only the owner reads or marks an item; marking read twice changes nothing."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from notify_service.inbox import repository
from notify_service.inbox.models import InboxItem
from shared.auth import Principal
from shared.i18n import Text
from shared.problem import FieldProblem, NotFound, ValidationFailed


def account_of(principal: Principal) -> uuid.UUID:
    try:
        return uuid.UUID(principal.subject)
    except ValueError as exc:
        raise ValidationFailed(
            Text("只有账号才有站内信", "Only accounts have an inbox"),
            code="no_inbox",
            errors=[
                FieldProblem(
                    field="header.Authorization",
                    reason=Text("不是账号令牌", "not an account token"),
                )
            ],
        ) from exc


async def mark_read(
    session: AsyncSession, *, principal: Principal, item_id: uuid.UUID, now: datetime
) -> InboxItem:
    item = await repository.get_for_update(session, item_id)
    if item is None or item.account_id != account_of(principal):
        raise NotFound(Text("没有这条站内信", "No such inbox item"), code="inbox_item_not_found")
    if item.read_at is None:
        item.read_at = now
        await session.flush()
    return item
