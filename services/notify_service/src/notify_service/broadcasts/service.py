"""Broadcast rules, and the fan-out that turns one broadcast into one message per recipient.

Fan-out walks grid_service's recipient list of the area subtree page by page. Each page is
one transaction that inserts the page's notifications (``dedup_key`` =
``broadcast:<id>:<account>``, so a page fetched twice after a crash adds nobody twice) and
stores the cursor of the next page. The grid_service call happens with no transaction open.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from notify_service.access import is_system_client
from notify_service.broadcasts import repository
from notify_service.broadcasts.models import Broadcast, BroadcastStatus
from notify_service.broadcasts.schemas import BroadcastCreate, BroadcastRead
from notify_service.clients.grid import GridClient
from notify_service.delivery.policy import backoff
from notify_service.notifications import repository as notifications_repo
from notify_service.notifications import service as notifications
from notify_service.templates import service as templates
from shared.auth import Principal
from shared.contracts.recipients import Audience, RecipientList
from shared.i18n import Text
from shared.logging import get_logger
from shared.problem import AppError, FieldProblem, Forbidden, NotFound, ValidationFailed

log = get_logger(__name__)


async def create(
    session: AsyncSession, *, data: BroadcastCreate, principal: Principal, now: datetime
) -> Broadcast:
    if not is_system_client(principal) and not principal.covers_area(data.area_path):
        raise Forbidden(
            Text("只能在自己的辖区内群发", "You may only broadcast inside your own areas"),
            code="area_not_allowed",
        )
    await templates.check_variables(
        session,
        key=data.template_key,
        locale=data.locale,
        channels=data.channels,
        variables=data.variables,
    )
    if "inbox" in data.channels and data.audience is Audience.residents and len(data.channels) == 1:
        raise ValidationFailed(
            Text(
                "没有 App 的居民将收不到：请加上短信或微信",
                "Residents without the app would hear nothing: add sms or WeChat",
            ),
            code="inbox_only_broadcast",
            errors=[
                FieldProblem(
                    field="channels",
                    reason=Text("仅站内信只能送达 App 用户", "inbox alone reaches app users only"),
                )
            ],
        )
    broadcast = Broadcast(
        area_path=data.area_path,
        audience=data.audience,
        template_key=data.template_key,
        locale=data.locale,
        variables=data.variables,
        priority=data.priority,
        channels=[str(c) for c in data.channels],
        created_at=now,
        updated_at=now,
        next_attempt_at=now,
        created_by=principal.subject,
    )
    session.add(broadcast)
    await session.flush()
    return broadcast


async def read(
    session: AsyncSession, broadcast_id: uuid.UUID, *, principal: Principal | None = None
) -> BroadcastRead:
    """The broadcast and its delivery counts. With ``principal``: a person reads only
    broadcasts to an area of their own (404 otherwise, as for an unknown id)."""
    broadcast = await repository.get(session, broadcast_id)
    if broadcast is None or (
        principal is not None
        and not is_system_client(principal)
        and not principal.covers_area(broadcast.area_path)
    ):
        raise NotFound(Text("没有这次群发", "No such broadcast"), code="broadcast_not_found")
    out = BroadcastRead.model_validate(broadcast)
    out.delivery = await repository.status_counts(session, broadcast_id)
    return out


async def fan_out_once(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    grid: GridClient,
    clock: Callable[[], datetime],
    page_size: int,
    lease: timedelta = timedelta(minutes=2),
    max_pages: int = 20,
    rng: random.Random | None = None,
) -> int:
    """Fan out up to ``max_pages`` pages of one due broadcast; return notifications created."""
    now = clock()
    async with sessionmaker() as session, session.begin():
        broadcast = await repository.claim_one(session, now=now)
        if broadcast is None:
            return 0
        broadcast.next_attempt_at = now + lease  # our claim; another worker skips it
        snapshot = (
            broadcast.id,
            broadcast.area_path,
            Audience(broadcast.audience),
            broadcast.cursor,
        )
    broadcast_id, area_path, audience, cursor = snapshot
    created = 0

    def fetch(after: str | None) -> asyncio.Task[RecipientList]:
        return asyncio.create_task(
            grid.list_area(area_path=area_path, audience=audience, cursor=after, limit=page_size)
        )

    # pipelined: the next page is asked for before this one is stored (the request is made
    # before the insert's transaction begins and never waited for inside it)
    pending: asyncio.Task[RecipientList] | None = fetch(cursor)
    for pages_done in range(max_pages):
        assert pending is not None
        try:
            page = await pending
        except AppError as exc:
            async with sessionmaker() as session, session.begin():
                b = await repository.get(session, broadcast_id)
                assert b is not None
                b.attempts += 1
                b.last_error_code = exc.instance_code
                delay = backoff(b.attempts, base=10, cap=600, rng=rng or random.Random())
                b.next_attempt_at = clock() + delay
            log.warning("broadcast_fan_out_failed", broadcast_id=str(broadcast_id))
            return created
        pending = None
        if page.next_cursor is not None and pages_done + 1 < max_pages:
            pending = fetch(page.next_cursor)
        try:
            created += await _store_page(sessionmaker, broadcast_id, page, clock(), lease)
        except BaseException:
            if pending is not None:
                pending.cancel()
            raise
        if page.next_cursor is None:
            return created
        cursor = page.next_cursor
    async with sessionmaker() as session, session.begin():
        b = await repository.get(session, broadcast_id)
        assert b is not None
        b.next_attempt_at = clock()  # more pages: due again at once
    return created


async def _store_page(
    sessionmaker: async_sessionmaker[AsyncSession],
    broadcast_id: uuid.UUID,
    page: RecipientList,
    stamp: datetime,
    lease: timedelta,
) -> int:
    """One transaction: the page's notifications (repeats skipped) and the next cursor."""
    async with sessionmaker() as session, session.begin():
        b = await repository.get(session, broadcast_id)
        assert b is not None
        rows = [
            notifications.new_row(
                template_key=b.template_key,
                locale=b.locale,
                variables=b.variables,
                priority=b.priority,
                channels=list(b.channels) or [str(c) for c in r.channels],
                now=stamp,
                account_id=r.account_id,
                phone=r.phone,
                wechat_oa_openid=r.wechat_oa_openid,
                wechat_mp_openid=r.wechat_mp_openid,
                timezone=r.timezone,
                resolved=True,
                broadcast_id=b.id,
                dedup_key=f"broadcast:{b.id}:{r.account_id}",
                created_by=b.created_by,
            )
            for r in page.items
        ]
        inserted = await notifications_repo.insert_many(session, rows)
        b.recipient_count += len(inserted)
        b.cursor = page.next_cursor
        b.updated_at = stamp
        b.attempts = 0
        if page.next_cursor is None:
            b.status = BroadcastStatus.fanned_out
            b.next_attempt_at = stamp
        else:
            b.next_attempt_at = stamp + lease
        return len(inserted)
