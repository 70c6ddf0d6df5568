"""grid_service: the area tree, point location, members, departments, accounts and tokens."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import exc as sa_exc

from grid_service.accounts import passwords
from grid_service.accounts import repository as accounts_repository
from grid_service.accounts.routes import accounts_router, auth_router, clients_router
from grid_service.accounts.wechat import WeChatClient
from grid_service.areas.routes import router as areas_router
from grid_service.basicinfo.routes import router as basicinfo_router
from grid_service.clients.cases import CaseClient
from grid_service.config import ALEMBIC_INI, DATABASE_NAME, Settings, get_settings
from grid_service.departments.routes import router as departments_router
from grid_service.keys.routes import router as keys_router
from grid_service.keys.service import ensure_active_key
from grid_service.locate.index import Locator
from grid_service.locate.routes import QUIET_ROUTES as LOCATE_QUIET_ROUTES
from grid_service.locate.routes import router as locate_router
from grid_service.members.routes import router as members_router
from grid_service.messages.relay import MessageRelay, SelfToken
from grid_service.patrols.routes import router as patrols_router
from grid_service.points.routes import router as points_router
from grid_service.privacy.routes import router as privacy_router
from grid_service.recipients.routes import router as recipients_router
from grid_service.selfservice.routes import links_router, me_router
from grid_service.transfers.routes import router as transfers_router
from grid_service.visits.routes import router as visits_router
from shared.app import ServiceSpec, create_service_app
from shared.auth import JWKSVerifier
from shared.db import utcnow
from shared.http import ServiceClient
from shared.logging import get_logger
from shared.revocation import Fetch, RevocationList

log = get_logger(__name__)

DESCRIPTION = """
The grid service of Gridgov (网格化管理): the area tree from city down to micro-grid, point
location, grid members and departments, and the identity provider for all services
(accounts, tokens, `/.well-known/jwks.json`).

Errors are `application/problem+json` (RFC 9457) with a stable `code`.
"""


class OwnVerifier(JWKSVerifier):
    """Verifies tokens against this app's own JWKS, in process (no network hop to ourselves)."""

    def __init__(self, app: FastAPI, settings: Settings) -> None:
        self.client = ServiceClient(
            "http://grid-service.internal",
            name="jwks-self",
            transport=httpx.ASGITransport(app=app),
            retries=0,
        )
        super().__init__(
            self.client,
            "/.well-known/jwks.json",
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            cache_seconds=settings.jwks_cache_seconds,
            min_refresh_seconds=0,
        )

    async def aclose(self) -> None:
        await self.client.aclose()


def own_verifier(app: FastAPI, settings: Settings) -> OwnVerifier:
    return OwnVerifier(app, settings)


def own_revocations(app: FastAPI, settings: Settings) -> Fetch:
    """grid_service follows its own revocation feed straight from its database."""

    async def fetch(after: int) -> tuple[list[dict[str, Any]], int]:
        since = utcnow() - timedelta(seconds=settings.revocation_keep_seconds)
        async with app.state.sessionmaker() as session:
            rows = await accounts_repository.revocations_after(
                session, after, limit=500, since=since
            )
            last_id = await accounts_repository.last_revocation_id(session)
        items = [
            {"id": r.id, "kind": r.kind, "value": r.value, "revoked_at": r.revoked_at} for r in rows
        ]
        return items, last_id

    return fetch


async def _startup(app: FastAPI) -> None:
    settings: Settings = app.state.settings
    app.state.locator = Locator(
        app.state.sessionmaker, check_interval=settings.locate_version_check_seconds
    )
    app.state.locator.watch()
    app.state.wechat = WeChatClient(settings)
    app.state.own_verifier = app.state.verifier = own_verifier(app, settings)
    app.state.revocations = RevocationList(
        own_revocations(app, settings),
        poll_seconds=settings.revocation_poll_seconds,
        keep_seconds=settings.revocation_keep_seconds,
    )
    app.state.cases = CaseClient(
        ServiceClient(
            settings.case_service_url,
            name="case_service",
            timeout=settings.http_timeout_seconds,
            retries=settings.http_retries,
        )
    )
    app.state.notify = ServiceClient(
        settings.notify_service_url,
        name="notify_service",
        timeout=settings.http_timeout_seconds,
        retries=settings.http_retries,
    )
    app.state.message_relay = MessageRelay(
        app.state.sessionmaker,
        app.state.notify,
        SelfToken(app.state.sessionmaker, settings),
        poll_seconds=settings.message_relay_poll_seconds,
    )
    if settings.message_relay_enabled:
        app.state.message_relay.start()
    try:
        async with app.state.sessionmaker() as session, session.begin():
            await ensure_active_key(session, secret=settings.signing_key_secret)
        await app.state.locator.refresh()  # build the spatial index before serving
    except sa_exc.ProgrammingError:  # not migrated yet: /readyz says so until it is
        log.warning("signing_key_not_ensured_database_not_migrated")
    app.state.locator.start()  # builds it once migrated, then follows every change


async def _shutdown(app: FastAPI) -> None:
    await app.state.locator.stop()
    await app.state.message_relay.stop()
    await app.state.notify.aclose()
    await app.state.wechat.aclose()
    await app.state.own_verifier.aclose()
    await app.state.cases.aclose()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    passwords.configure(time_cost=settings.argon2_time_cost, memory_kib=settings.argon2_memory_kib)
    return create_service_app(
        ServiceSpec(
            name="grid_service",
            title="Gridgov grid_service",
            description=DESCRIPTION,
            settings=settings,
            alembic_ini=ALEMBIC_INI,
            database_name=DATABASE_NAME,
            routers=[
                keys_router,
                auth_router,
                accounts_router,
                clients_router,
                areas_router,
                locate_router,
                members_router,
                departments_router,
                recipients_router,
                basicinfo_router,
                privacy_router,
                patrols_router,
                visits_router,
                points_router,
                me_router,
                links_router,
                transfers_router,
            ],
            on_startup=_startup,
            on_shutdown=_shutdown,
            # a district's boundaries in one GeoJSON file are larger than the default limit
            large_body_bytes=settings.import_max_bytes,
            large_body_markers=("/api/v1/areas/import",),
            quiet_routes=LOCATE_QUIET_ROUTES,  # called once per case intake
            openapi_tags=[
                {"name": "auth", "description": "tokens and signing keys"},
                {"name": "accounts", "description": "staff and resident accounts"},
                {"name": "platform clients", "description": "OAuth2 clients and API keys"},
                {"name": "areas", "description": "the area tree (行政区划/网格)"},
                {"name": "locate", "description": "point location (定位到网格)"},
                {"name": "members", "description": "posts per area, AB岗, contact cards"},
                {"name": "departments", "description": "functional departments (职能部门)"},
                {"name": "recipients", "description": "who messages go to (notify_service)"},
                {
                    "name": "basic information",
                    "description": "一标三实: addresses, houses, households, residents, "
                    "organisations, key places, special groups, import and export",
                },
                {"name": "privacy", "description": "personal-data audit trail and grants"},
                {"name": "patrols", "description": "巡查: tracks, check-ins, findings, coverage"},
                {"name": "visits", "description": "走访: visit records, due and overdue lists"},
                {"name": "points", "description": "积分: rules, ledger, points shop"},
                {"name": "operations", "description": "health, readiness and metrics"},
            ],
        )
    )
