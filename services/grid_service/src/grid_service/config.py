"""Settings of grid_service (environment variables prefixed ``GRID_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import BaseServiceSettings

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"
DATABASE_NAME = "gridgov_grid"


class Settings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GRID_", env_file=".env", extra="ignore")

    port: int = Field(8002, ge=1, le=65535, description="port uvicorn binds")
    access_token_ttl_seconds: int = Field(
        900, ge=60, le=86_400, description="lifetime of access tokens"
    )
    signing_key_secret: str = Field(
        "dev-only-signing-key-secret",
        min_length=16,
        description="encrypts the token signing keys at rest; set a long random value",
    )
    signing_key_grace_seconds: int = Field(
        86_400, ge=60, description="how long a retired signing key stays in the JWKS"
    )

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if self.signing_key_secret.startswith("dev-only"):
            problems.append("signing_key_secret must be set to a secret of your own")
        return problems


@lru_cache
def get_settings() -> Settings:
    return Settings()
