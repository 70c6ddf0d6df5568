"""Webhook subscriptions of platform clients and their deliveries."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel

from shared.db import utcnow


def _ts(*, nullable: bool = False) -> Any:
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable)


class WebhookSubscription(SQLModel, table=True):
    __tablename__ = "webhook_subscription"
    __table_args__ = (sa.Index("ix_webhook_subscription_client_id_active", "client_id", "active"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    client_id: str = Field(max_length=64, title="the platform client that owns it")
    url: str = Field(max_length=1000)
    event_types: list[str] = Field(
        sa_column=sa.Column(ARRAY(sa.String(64)), nullable=False),
        title="e.g. case.accepted; empty = every type",
    )
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())


class WebhookDelivery(SQLModel, table=True):
    """One event for one subscription. Its id is the delivery id the receiver de-duplicates
    on; every attempt (and a replay) sends the same id."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        sa.Index(
            "ix_webhook_delivery_due",
            "next_attempt_at",
            postgresql_where=sa.text("status = 'pending'"),
        ),
        sa.Index("ix_webhook_delivery_subscription_created", "subscription_id", "created_at", "id"),
        sa.UniqueConstraint("subscription_id", "event_id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    subscription_id: uuid.UUID = Field(foreign_key="webhook_subscription.id")
    event_id: uuid.UUID = Field(title="the outbox event")
    event_type: str = Field(max_length=64)
    case_id: uuid.UUID
    body: dict[str, Any] = Field(sa_column=sa.Column(JSONB, nullable=False))
    status: str = Field(default="pending", max_length=20, title="pending, delivered, failed")
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
    expires_at: datetime = Field(sa_column=_ts(), title="retries stop after this")
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=500)
    delivered_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts())
