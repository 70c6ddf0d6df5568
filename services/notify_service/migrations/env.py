"""Alembic environment of notify_service: its own database, its own tables."""

from notify_service.models import metadata
from shared.migrate import run_env

run_env(metadata)
