"""grid_service: the area tree, point location, members, departments, accounts and tokens."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import exc as sa_exc

from grid_service.config import ALEMBIC_INI, DATABASE_NAME, Settings, get_settings
from grid_service.keys.routes import router as keys_router
from grid_service.keys.service import ensure_active_key
from shared.app import ServiceSpec, create_service_app
from shared.logging import get_logger

log = get_logger(__name__)

DESCRIPTION = """
The grid service of Gridgov (网格化管理): the area tree from city down to micro-grid, point
location, grid members and departments, and the identity provider for all services
(accounts, tokens, `/.well-known/jwks.json`).

Errors are `application/problem+json` (RFC 9457) with a stable `code`.
"""


async def _startup(app: FastAPI) -> None:
    settings: Settings = app.state.settings
    try:
        async with app.state.sessionmaker() as session, session.begin():
            await ensure_active_key(session, secret=settings.signing_key_secret)
    except sa_exc.ProgrammingError:  # not migrated yet: /readyz says so until it is
        log.warning("signing_key_not_ensured_database_not_migrated")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    return create_service_app(
        ServiceSpec(
            name="grid_service",
            title="Gridgov grid_service",
            description=DESCRIPTION,
            settings=settings,
            alembic_ini=ALEMBIC_INI,
            database_name=DATABASE_NAME,
            routers=[keys_router],
            on_startup=_startup,
            openapi_tags=[
                {"name": "auth", "description": "accounts, tokens and signing keys"},
                {"name": "operations", "description": "health, readiness and metrics"},
            ],
        )
    )
