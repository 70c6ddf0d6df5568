"""Settings of case_service (environment variables prefixed ``CASE_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import BaseServiceSettings

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"
DATABASE_NAME = "gridgov_case"


class Settings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CASE_", env_file=".env", extra="ignore")

    port: int = Field(8001, ge=1, le=65535, description="port uvicorn binds")
    grid_service_url: str = Field(
        "http://127.0.0.1:8002", description="base URL of grid_service (point location, areas)"
    )
    notify_service_url: str = Field(
        "http://127.0.0.1:8003", description="base URL of notify_service (outbox relay target)"
    )


@lru_cache
def get_settings() -> Settings:
    return Settings()
