"""Fixtures of notify_service's tests: a migrated database of its own and the app over ASGI."""

from notify_service.config import ALEMBIC_INI, Settings
from notify_service.main import create_app
from shared.testing import service_fixtures

database_url, test_keys, app, client = service_fixtures(
    prefix="test_notify",
    alembic_ini=ALEMBIC_INI,
    make_app=lambda url: create_app(Settings(database_url=url, environment="test")),
)
