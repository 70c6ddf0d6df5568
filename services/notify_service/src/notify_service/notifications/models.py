"""Notifications: one message to one recipient, and its delivery history."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from shared.db import jsonb_column, utcnow


class Priority(StrEnum):
    normal = "normal"
    critical = "critical"  # emergencies, major incidents: no quiet hours, no frequency caps


class NotificationStatus(StrEnum):
    queued = "queued"  # stored, due now
    deferred = "deferred"  # due later: quiet hours, frequency cap, provider rate limit
    retrying = "retrying"  # a transient failure; due again after backoff
    sending = "sending"  # claimed by a worker, provider call in flight
    sent = "sent"  # accepted by the provider, waiting for the delivery receipt
    unconfirmed = "unconfirmed"  # ambiguous (timeout): waiting for a receipt, never re-sent
    delivered = "delivered"  # the receipt says delivered (inbox: stored)
    failed = "failed"  # a permanent failure on every channel
    dead = "dead"  # dead-lettered: retries exhausted or no receipt for an ambiguous send


#: Statuses a worker picks up when ``next_attempt_at`` has come.
DUE_STATUSES = (
    NotificationStatus.queued,
    NotificationStatus.deferred,
    NotificationStatus.retrying,
    NotificationStatus.unconfirmed,
)
FINAL_STATUSES = frozenset(
    {NotificationStatus.delivered, NotificationStatus.failed, NotificationStatus.dead}
)


def _ts(nullable: bool = False, **kw: Any) -> Any:
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable, **kw)


class Notification(SQLModel, table=True):
    """One message to one recipient (通知), stored before it is delivered."""

    __tablename__ = "notification"
    __table_args__ = (
        sa.Index(
            "ix_notification_due",
            "priority",
            "next_attempt_at",
            postgresql_where=sa.text("status IN ('queued', 'deferred', 'retrying', 'unconfirmed')"),
        ),
        sa.Index(
            "ix_notification_stale_claim",
            "claimed_until",
            postgresql_where=sa.text("status = 'sending'"),
        ),
        sa.Index(
            "ix_notification_sms_cap",
            "phone",
            "sent_at",
            postgresql_where=sa.text("channel = 'sms' AND sent_at IS NOT NULL"),
        ),
        sa.Index("ix_notification_provider_ref", "provider", "provider_message_id"),
        sa.Index("ix_notification_broadcast", "broadcast_id", "created_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    template_key: str = Field(max_length=100)
    locale: str = Field(default="zh-CN", max_length=10)
    variables: dict[str, str] = Field(default_factory=dict, sa_column=jsonb_column(nullable=False))
    priority: str = Field(default=Priority.normal, max_length=10)
    status: str = Field(default=NotificationStatus.queued, max_length=20)
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    claimed_until: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    attempts: int = 0
    channels: list[str] = Field(default_factory=list, sa_column=jsonb_column(nullable=False))
    channel_index: int = 0
    channel: str | None = Field(default=None, max_length=20)
    provider: str | None = Field(default=None, max_length=20)
    provider_index: int = 0
    recipient_account_id: uuid.UUID | None = None
    recipient_resolved: bool = False
    phone: str | None = Field(default=None, max_length=20)
    wechat_oa_openid: str | None = Field(default=None, max_length=64)
    wechat_mp_openid: str | None = Field(default=None, max_length=64)
    timezone: str = Field(default="Asia/Shanghai", max_length=64)
    provider_message_id: str | None = Field(default=None, max_length=100)
    sent_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    delivered_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    last_error_code: str | None = Field(default=None, max_length=100)
    last_error_detail: str | None = Field(default=None, max_length=500)
    broadcast_id: uuid.UUID | None = Field(default=None, foreign_key="broadcast.id")
    source_event_id: uuid.UUID | None = None
    dedup_key: str | None = Field(default=None, max_length=200, unique=True)
    created_by: str | None = Field(default=None, max_length=100)


class NotificationEvent(SQLModel, table=True):
    """One step of a notification's delivery history."""

    __tablename__ = "notification_event"
    __table_args__ = (sa.Index("ix_notification_event_notification", "notification_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    notification_id: uuid.UUID = Field(foreign_key="notification.id", ondelete="CASCADE")
    at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    status: str = Field(max_length=20)
    channel: str | None = Field(default=None, max_length=20)
    provider: str | None = Field(default=None, max_length=20)
    code: str | None = Field(default=None, max_length=100)
    detail: str | None = Field(default=None, max_length=500)


class DeliveryReceipt(SQLModel, table=True):
    """A delivery report from a provider, kept even when it arrives before the send result.

    Receipts arrive in batches, out of order and more than once: the unique key drops
    repeats, and a receipt whose message is not yet known waits (``applied`` false) until the
    send result names the provider's message id.
    """

    __tablename__ = "delivery_receipt"
    __table_args__ = (
        sa.UniqueConstraint("provider", "provider_message_id", "outcome", "code"),
        sa.Index(
            "ix_delivery_receipt_pending",
            "provider",
            "provider_message_id",
            postgresql_where=sa.text("NOT applied"),
        ),
        sa.Index(
            "ix_delivery_receipt_pending_notification",
            "notification_id",
            postgresql_where=sa.text("NOT applied"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=20)
    provider_message_id: str = Field(max_length=100)
    notification_id: uuid.UUID | None = None
    outcome: str = Field(max_length=20)  # delivered | failed
    code: str = Field(default="", max_length=100)
    detail: str | None = Field(default=None, max_length=500)
    reported_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    received_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    applied: bool = False
