"""notify_service: SMS and WeChat delivery fed by the case outbox."""

from __future__ import annotations

from fastapi import FastAPI

from notify_service.config import ALEMBIC_INI, DATABASE_NAME, Settings, get_settings
from shared.app import ServiceSpec, create_service_app

DESCRIPTION = """
The notification service of Gridgov: SMS (Alibaba Cloud, Tencent Cloud) and WeChat (official
account template messages, mini-program subscribe messages) delivery that loses nothing and
sends nothing twice.

Errors are `application/problem+json` (RFC 9457) with a stable `code`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    return create_service_app(
        ServiceSpec(
            name="notify_service",
            title="Gridgov notify_service",
            description=DESCRIPTION,
            settings=settings,
            alembic_ini=ALEMBIC_INI,
            database_name=DATABASE_NAME,
            openapi_tags=[{"name": "operations", "description": "health, readiness and metrics"}],
        )
    )
