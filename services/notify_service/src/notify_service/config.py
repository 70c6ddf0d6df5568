"""Settings of notify_service (environment variables prefixed ``NOTIFY_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import BaseServiceSettings

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"
DATABASE_NAME = "gridgov_notify"


class Settings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFY_", env_file=".env", extra="ignore")

    port: int = Field(8003, ge=1, le=65535, description="port uvicorn binds")
    grid_service_url: str = Field(
        "http://127.0.0.1:8002", description="base URL of grid_service (recipient lookup)"
    )


@lru_cache
def get_settings() -> Settings:
    return Settings()
