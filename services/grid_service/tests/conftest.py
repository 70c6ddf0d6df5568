"""Fixtures of grid_service's tests: a migrated database of its own and the app over ASGI."""

from grid_service.config import ALEMBIC_INI, Settings
from grid_service.main import create_app
from shared.testing import service_fixtures

database_url, test_keys, app, client = service_fixtures(
    prefix="test_grid",
    alembic_ini=ALEMBIC_INI,
    make_app=lambda url: create_app(Settings(database_url=url, environment="test")),
)
