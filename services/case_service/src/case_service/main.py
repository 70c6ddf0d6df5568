"""case_service: categories, cases and their lifecycle, time limits, supervision, evaluation,
statistics and Open311."""

from __future__ import annotations

from fastapi import FastAPI

from case_service.config import ALEMBIC_INI, DATABASE_NAME, Settings, get_settings
from case_service.system.routes import router as system_router
from shared.app import ServiceSpec, create_service_app

DESCRIPTION = """
The case service of Gridgov: residents' reports and requests (诉求/事件), their acceptance,
dispatch, handling, escalation, supervision and closure within official time limits.

Authenticate with a bearer token from grid_service `POST /api/v1/auth/token`.
Errors are `application/problem+json` (RFC 9457) with a stable `code`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    return create_service_app(
        ServiceSpec(
            name="case_service",
            title="Gridgov case_service",
            description=DESCRIPTION,
            settings=settings,
            alembic_ini=ALEMBIC_INI,
            database_name=DATABASE_NAME,
            routers=[system_router],
            openapi_tags=[
                {"name": "system", "description": "token check"},
                {"name": "operations", "description": "health, readiness and metrics"},
            ],
        )
    )
