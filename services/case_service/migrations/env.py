"""Alembic environment of case_service: its own database, its own tables."""

from case_service.models import metadata
from shared.migrate import run_env

run_env(metadata)
