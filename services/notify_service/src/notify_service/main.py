"""notify_service: SMS and WeChat delivery fed by the case outbox."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx
from fastapi import FastAPI

from notify_service.broadcasts.routes import router as broadcasts_router
from notify_service.clients.grid import GridClient
from notify_service.config import ALEMBIC_INI, DATABASE_NAME, Settings, get_settings
from notify_service.delivery.engine import DeliveryContext
from notify_service.delivery.workers import Workers
from notify_service.events.routes import router as events_router
from notify_service.inbox.routes import router as inbox_router
from notify_service.notifications.routes import router as notifications_router
from notify_service.providers.registry import build_providers
from notify_service.receipts.routes import router as receipts_router
from notify_service.templates.routes import router as templates_router
from shared.app import ServiceSpec, create_service_app
from shared.db import utcnow
from shared.http import ServiceClient

DESCRIPTION = """
The notification service of Gridgov: SMS (Alibaba Cloud, Tencent Cloud), WeChat (official
account template messages, mini-program subscribe messages) and in-app inbox delivery that
loses nothing and sends nothing twice.

* Messages are stored first, then delivered by workers inside the service.
* Case events from case_service's outbox become messages: who hears what is documented in
  `shared.contracts.events`.
* Quiet hours (22:00-08:00 recipient time) and per-number SMS caps defer normal messages;
  critical ones (emergencies, major incidents) go at once.

Errors are `application/problem+json` (RFC 9457) with a stable `code`.
"""

TAGS = [
    {"name": "notifications", "description": "one message to one recipient"},
    {"name": "broadcasts", "description": "one message to everyone in an area subtree"},
    {"name": "inbox", "description": "in-app messages of app and mini-program users"},
    {"name": "events", "description": "case events relayed from case_service's outbox"},
    {"name": "templates", "description": "message templates per event type and channel"},
    {"name": "receipts", "description": "delivery receipts pushed by the providers"},
    {"name": "operations", "description": "health, readiness and metrics"},
]


def create_app(
    settings: Settings | None = None,
    *,
    clock: Callable[[], datetime] = utcnow,
    provider_transport: httpx.AsyncBaseTransport | None = None,
    grid_transport: httpx.AsyncBaseTransport | None = None,
    rng: random.Random | None = None,
) -> FastAPI:
    """The app. Tests and benchmarks pass a clock and fake transports for the providers and
    grid_service; production uses the real ones from settings."""
    settings = settings or get_settings()

    async def on_startup(app: FastAPI) -> None:
        providers = build_providers(settings, clock=clock, transport=provider_transport)
        grid = GridClient(
            ServiceClient(
                settings.grid_service_url,
                name="grid_service",
                timeout=settings.http_timeout_seconds,
                retries=settings.http_retries,
                transport=grid_transport,
            ),
            client_id=settings.grid_client_id,
            client_secret=settings.grid_client_secret.get_secret_value(),
            clock=clock,
            refresh_margin=timedelta(seconds=settings.grid_token_refresh_margin_seconds),
            area_ttl=timedelta(seconds=settings.recipient_area_cache_seconds),
        )
        ctx = DeliveryContext(
            sessionmaker=app.state.sessionmaker,
            settings=settings,
            providers=providers,
            grid=grid,
            clock=clock,
            rng=rng or random.Random(),
            # expired claims (a worker that died mid-send) are noticed within half a lease
            housekeeping_every=timedelta(seconds=min(10.0, settings.claim_lease_seconds / 2)),
        )
        app.state.delivery = ctx
        app.state.clock = clock
        app.state.workers = Workers(ctx)
        if settings.workers_enabled:
            app.state.workers.start()

    async def on_shutdown(app: FastAPI) -> None:
        await app.state.workers.stop()
        ctx: DeliveryContext = app.state.delivery
        await ctx.providers.aclose()
        await ctx.grid.aclose()

    return create_service_app(
        ServiceSpec(
            name="notify_service",
            title="Gridgov notify_service",
            description=DESCRIPTION,
            settings=settings,
            alembic_ini=ALEMBIC_INI,
            database_name=DATABASE_NAME,
            routers=[
                notifications_router,
                broadcasts_router,
                inbox_router,
                events_router,
                templates_router,
                receipts_router,
            ],
            openapi_tags=TAGS,
            on_startup=on_startup,
            on_shutdown=on_shutdown,
        )
    )
