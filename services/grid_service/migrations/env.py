"""Alembic environment of grid_service: its own database, its own tables."""

from grid_service.models import metadata
from shared.migrate import run_env

run_env(metadata)
