"""Webhook subscriptions of platform clients (their own cases' events)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field
from sqlmodel import col

from case_service.webhooks import service
from case_service.webhooks.models import WebhookDelivery, WebhookSubscription
from shared.auth import CurrentPrincipal, Principal, Role, require
from shared.contracts.events import CASE_EVENT_TYPES
from shared.db import SessionDep, utcnow
from shared.i18n import Text
from shared.pagination import Page, PageDep, paginate
from shared.problem import (
    Conflict,
    FieldProblem,
    Forbidden,
    NotFound,
    ValidationFailed,
    problem_responses,
)

router = APIRouter(
    prefix="/api/v1/webhooks",
    tags=["webhooks"],
    # platform clients only, checked before the body is validated (403 before 422)
    dependencies=[require(lambda principal: _client(principal))],
    responses=problem_responses(401, 403),
)
_DELIVERY: sa.Table = WebhookDelivery.__table__  # type: ignore[attr-defined]


class SubscriptionCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "url": "https://12345.example.gov.cn/hooks/gridgov",
                "event_types": ["case.accepted", "case.resolved", "case.closed"],
            }
        }
    )

    url: AnyHttpUrl
    event_types: list[str] = Field(
        default_factory=list, max_length=50, description="empty: every event type"
    )


class SubscriptionRead(BaseModel):
    id: uuid.UUID
    url: str
    event_types: list[str]
    active: bool
    created_at: datetime


class SubscriptionCreated(SubscriptionRead):
    secret: str = Field(description="HMAC key of X-Gridgov-Signature; shown only now")


class DeliveryRead(BaseModel):
    id: uuid.UUID = Field(description="the delivery id (X-Gridgov-Delivery)")
    event_id: uuid.UUID
    event_type: str
    case_id: uuid.UUID
    status: str = Field(description="pending, delivered or failed")
    attempts: int
    next_attempt_at: datetime
    expires_at: datetime
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime


def _client(principal: Principal) -> str:
    if not principal.has_role(Role.platform) or not principal.client_id:
        raise Forbidden(
            Text("Webhook 仅供平台客户端使用", "Webhooks are for platform clients"),
            code="missing_role",
        )
    return principal.client_id


async def _own(session: SessionDep, principal: Principal, sub_id: uuid.UUID) -> WebhookSubscription:
    sub = await session.get(WebhookSubscription, sub_id)
    if sub is None or sub.client_id != _client(principal):
        raise NotFound(Text("没有这个 Webhook", "No such webhook"), code="webhook_not_found")
    return sub


@router.post(
    "",
    response_model=SubscriptionCreated,
    status_code=201,
    summary="Subscribe to the events of your cases",
    description="Every event of a case your platform pushed in (its `source`) is POSTed to "
    "`url`, signed: see docs/integration.md for the verification recipe.",
    responses=problem_responses(403, 422),
)
async def subscribe(
    body: SubscriptionCreate, request: Request, session: SessionDep, principal: CurrentPrincipal
) -> SubscriptionCreated:
    client_id = _client(principal)
    unknown = sorted(set(body.event_types) - set(CASE_EVENT_TYPES))
    if unknown:
        raise ValidationFailed(
            Text("未知的事件类型", "Unknown event types"),
            code="unknown_event_type",
            errors=[
                FieldProblem(
                    field="event_types",
                    reason=Text(f"未知：{'、'.join(unknown)}", f"unknown: {', '.join(unknown)}"),
                )
            ],
        )
    sub = WebhookSubscription(
        client_id=client_id, url=str(body.url), event_types=sorted(set(body.event_types))
    )
    session.add(sub)
    await session.flush()
    secret = service.subscription_secret(
        request.app.state.settings.webhook_signing_key.get_secret_value(), sub.id
    )
    return SubscriptionCreated(**sub.model_dump(), secret=secret)


@router.get("", response_model=list[SubscriptionRead], summary="Your webhooks")
async def list_subscriptions(
    session: SessionDep, principal: CurrentPrincipal
) -> list[SubscriptionRead]:
    rows = (
        (
            await session.execute(
                sa.select(WebhookSubscription)
                .where(col(WebhookSubscription.client_id) == _client(principal))
                .order_by(col(WebhookSubscription.created_at))
            )
        )
        .scalars()
        .all()
    )
    return [SubscriptionRead.model_validate(r, from_attributes=True) for r in rows]


@router.delete(
    "/{subscription_id}",
    status_code=204,
    summary="Stop a webhook",
    responses=problem_responses(404),
)
async def unsubscribe(
    subscription_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> None:
    sub = await _own(session, principal, subscription_id)
    sub.active = False
    session.add(sub)


@router.get(
    "/{subscription_id}/deliveries",
    response_model=Page[DeliveryRead],
    summary="Deliveries of a webhook, newest first",
    responses=problem_responses(404),
)
async def list_deliveries(
    subscription_id: uuid.UUID,
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    status: Annotated[str | None, Query(pattern="^(pending|delivered|failed)$")] = None,
) -> Page[DeliveryRead]:
    await _own(session, principal, subscription_id)
    stmt = sa.select(WebhookDelivery).where(col(WebhookDelivery.subscription_id) == subscription_id)
    if status:
        stmt = stmt.where(col(WebhookDelivery.status) == status)
    return await paginate(
        session,
        stmt,
        order_by=[_DELIVERY.c.created_at, _DELIVERY.c.id],
        params=page,
        to_item=lambda d: DeliveryRead.model_validate(d, from_attributes=True),
    )


@router.post(
    "/{subscription_id}/deliveries/{delivery_id}/replay",
    response_model=DeliveryRead,
    status_code=202,
    summary="Send a delivery again",
    description="Puts a delivery (failed or delivered) back in the queue with a fresh 24-hour "
    "window. The receiver sees the same delivery id.",
    responses=problem_responses(404, 409),
)
async def replay(
    subscription_id: uuid.UUID,
    delivery_id: uuid.UUID,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> DeliveryRead:
    await _own(session, principal, subscription_id)
    row = await session.get(WebhookDelivery, delivery_id, with_for_update=True)
    if row is None or row.subscription_id != subscription_id:
        raise NotFound(Text("没有这次投递", "No such delivery"), code="delivery_not_found")
    if row.status == "pending":
        raise Conflict(
            Text("这次投递仍在尝试中", "The delivery is still being tried"), code="delivery_pending"
        )
    now = utcnow()
    row.status, row.next_attempt_at, row.expires_at = "pending", now, now + service.RETRY_WINDOW
    session.add(row)
    await session.flush()
    return DeliveryRead.model_validate(row, from_attributes=True)
