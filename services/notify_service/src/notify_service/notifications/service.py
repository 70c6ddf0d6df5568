"""Notification rules: what is stored when a message is asked for, how receipts land."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from notify_service.access import covers_any, is_system_client
from notify_service.clients.grid import GridClient
from notify_service.notifications import repository
from notify_service.notifications.models import (
    FINAL_STATUSES,
    DeliveryReceipt,
    Notification,
    NotificationStatus,
)
from notify_service.notifications.schemas import (
    NotificationCreate,
    NotificationEventRead,
    NotificationRead,
    RecipientSpec,
)
from notify_service.providers.base import mask_phone
from notify_service.templates import service as templates
from shared.auth import Principal
from shared.i18n import Text
from shared.problem import FieldProblem, Forbidden, NotFound

NOT_FOUND = Text("没有这条消息", "No such notification")


def new_row(
    *,
    template_key: str,
    locale: str,
    variables: dict[str, str],
    priority: str,
    channels: list[str],
    now: datetime,
    account_id: uuid.UUID | None = None,
    phone: str | None = None,
    wechat_oa_openid: str | None = None,
    wechat_mp_openid: str | None = None,
    timezone: str = "Asia/Shanghai",
    resolved: bool = False,
    broadcast_id: uuid.UUID | None = None,
    source_event_id: uuid.UUID | None = None,
    dedup_key: str | None = None,
    created_by: str | None = None,
) -> dict[str, Any]:
    """Column values of a new notification (for bulk inserts)."""
    return {
        "id": uuid.uuid4(),
        "created_at": now,
        "updated_at": now,
        "template_key": template_key,
        "locale": locale,
        "variables": variables,
        "priority": priority,
        "status": NotificationStatus.queued.value,
        "next_attempt_at": now,
        "claimed_until": None,
        "attempts": 0,
        "channels": [str(c) for c in channels],
        "channel_index": 0,
        "channel": None,
        "provider": None,
        "provider_index": 0,
        "recipient_account_id": account_id,
        "recipient_resolved": resolved or account_id is None,
        "phone": phone,
        "wechat_oa_openid": wechat_oa_openid,
        "wechat_mp_openid": wechat_mp_openid,
        "timezone": timezone,
        "provider_message_id": None,
        "sent_at": None,
        "delivered_at": None,
        "last_error_code": None,
        "last_error_detail": None,
        "broadcast_id": broadcast_id,
        "source_event_id": source_event_id,
        "dedup_key": dedup_key,
        "created_by": created_by,
    }


async def create(
    session: AsyncSession, *, data: NotificationCreate, created_by: str, now: datetime
) -> Notification:
    await templates.check_variables(
        session,
        key=data.template_key,
        locale=data.locale,
        channels=data.channels,
        variables=data.variables,
    )
    r = data.recipient
    row = new_row(
        template_key=data.template_key,
        locale=data.locale,
        variables=data.variables,
        priority=data.priority,
        channels=list(data.channels),
        now=now,
        account_id=r.account_id,
        phone=r.phone,
        wechat_oa_openid=r.wechat_oa_openid,
        wechat_mp_openid=r.wechat_mp_openid,
        timezone=r.timezone,
        created_by=created_by,
    )
    await repository.insert_many(session, [row])
    notification = await repository.get(session, row["id"])
    assert notification is not None
    return notification


async def ensure_may_address(
    principal: Principal, grid: GridClient, recipient: RecipientSpec
) -> None:
    """A person addresses accounts of their own areas only, and never raw contact points.

    Call it before the request touches the database: it may ask grid_service (cached)."""
    if is_system_client(principal):
        return
    if recipient.account_id is None:
        field = next(
            f
            for f in ("phone", "wechat_oa_openid", "wechat_mp_openid")
            if getattr(recipient, f) is not None
        )
        raise Forbidden(
            Text(
                "只有系统客户端可以直接发往手机号或 openid；请指定收件人账号 account_id",
                "Only system clients may send to a phone number or openid; address an "
                "account (account_id) instead",
            ),
            code="raw_recipient_not_allowed",
            errors=[
                FieldProblem(
                    field=f"recipient.{field}",
                    reason=Text("仅限系统客户端", "for system clients only"),
                    type="forbidden",
                )
            ],
        )
    if str(recipient.account_id) == principal.subject:
        return
    areas = (await grid.areas_of([recipient.account_id])).get(recipient.account_id, ())
    if not covers_any(principal, areas):
        raise Forbidden(
            Text("收件人不在您的辖区内", "The recipient is outside your areas"),
            code="recipient_outside_scope",
            errors=[
                FieldProblem(
                    field="recipient.account_id",
                    reason=Text("不在您的辖区内", "outside your areas"),
                    type="forbidden",
                )
            ],
        )


async def read(session: AsyncSession, notification_id: uuid.UUID) -> NotificationRead:
    notification = await repository.get(session, notification_id)
    if notification is None:
        raise NotFound(NOT_FOUND, code="notification_not_found")
    return await to_read(session, notification)


async def ensure_may_read(
    principal: Principal, grid: GridClient, notification: NotificationRead
) -> None:
    """A person reads the messages of accounts in their own areas (and their own messages);
    everything else answers 404, as an unknown id does. Call it with no transaction open."""
    if is_system_client(principal):
        return
    account_id = notification.recipient_account_id
    if account_id is not None:
        if str(account_id) == principal.subject:
            return
        if covers_any(principal, (await grid.areas_of([account_id])).get(account_id, ())):
            return
    raise NotFound(NOT_FOUND, code="notification_not_found")


async def to_read(session: AsyncSession, n: Notification) -> NotificationRead:
    events = await repository.history(session, n.id)
    history = [NotificationEventRead(at=n.created_at, status=NotificationStatus.queued)]
    history += [NotificationEventRead.model_validate(e) for e in events]
    out = NotificationRead.model_validate(n)
    out.phone_masked = mask_phone(n.phone) or None
    out.history = history
    return out


def event(
    notification_id: uuid.UUID,
    status: str,
    at: datetime,
    *,
    channel: str | None = None,
    provider: str | None = None,
    code: str | None = None,
    detail: str | None = None,
) -> dict[str, Any]:
    return {
        "notification_id": notification_id,
        "at": at,
        "status": str(status),
        "channel": channel,
        "provider": provider,
        "code": code,
        "detail": (detail or None) and detail[:500],
    }


def land_receipt(n: Notification, receipt: DeliveryReceipt, now: datetime) -> list[dict[str, Any]]:
    """Apply a receipt to its (locked) notification; return the history rows it adds.

    Receipts arrive out of order and more than once: the first final answer wins; a receipt
    for a message still being sent waits (the send result applies it).
    """
    if n.status in FINAL_STATUSES:
        receipt.applied = True
        return []
    if n.status not in (NotificationStatus.sent, NotificationStatus.unconfirmed):
        return []  # still in flight or not yet sent: keep it for later
    receipt.applied = True
    n.updated_at = now
    if receipt.outcome == "delivered":
        n.status = NotificationStatus.delivered
        n.delivered_at = receipt.reported_at or now
        return [
            event(n.id, n.status, now, channel=n.channel, provider=n.provider, code=receipt.code)
        ]
    n.last_error_code = receipt.code or "receipt_failed"
    n.last_error_detail = receipt.detail
    if n.channel_index + 1 < len(n.channels):
        n.channel_index += 1
        n.provider_index = 0
        n.status = NotificationStatus.queued
        n.next_attempt_at = now
        status = "fallback"
    else:
        n.status = NotificationStatus.failed
        status = NotificationStatus.failed
    return [
        event(
            n.id,
            status,
            now,
            channel=n.channel,
            provider=n.provider,
            code=receipt.code,
            detail=receipt.detail,
        )
    ]


async def record_receipt(
    session: AsyncSession,
    *,
    provider: str,
    provider_message_id: str,
    outcome: str,
    code: str,
    detail: str | None = None,
    notification_id: uuid.UUID | None = None,
    reported_at: datetime | None = None,
    now: datetime,
) -> bool:
    """Store one receipt and land it when its message is known. False for a repeat."""
    notification: Notification | None = None
    if notification_id is not None:
        notification = await repository.get_for_update(session, notification_id)
    if notification is None:
        notification = await repository.find_by_provider_ref_for_update(
            session, provider, provider_message_id
        )
    receipt_id = await repository.insert_receipt(
        session,
        {
            "provider": provider,
            "provider_message_id": provider_message_id,
            "notification_id": notification.id if notification else notification_id,
            "outcome": outcome,
            "code": code,
            "detail": detail,
            "reported_at": reported_at,
            "received_at": now,
            "applied": False,
        },
    )
    if receipt_id is None:
        return False
    if notification is not None:
        receipt = await session.get(DeliveryReceipt, receipt_id)
        assert receipt is not None
        await repository.add_events(session, land_receipt(notification, receipt, now))
    await session.flush()
    return True


async def land_pending_receipts(
    session: AsyncSession, pairs: list[tuple[int, uuid.UUID]], now: datetime
) -> None:
    for receipt_id, notification_id in pairs:
        notification = await repository.get_for_update(session, notification_id)
        receipt = await session.get(DeliveryReceipt, receipt_id, with_for_update=True)
        if notification is None or receipt is None or receipt.applied:
            continue
        if notification.status in FINAL_STATUSES:
            receipt.applied = True
            continue
        await session.refresh(notification)
        await repository.add_events(session, land_receipt(notification, receipt, now))
    await session.flush()
