"""Base settings shared by every service.

Each service subclasses :class:`BaseServiceSettings` with its own ``env_prefix`` (``CASE_``,
``GRID_``, ``NOTIFY_``). Values that are convenient in development but dangerous in production
(no database URL, so an embedded server; console logs; the demo dataset) are refused when
``<PREFIX>ENVIRONMENT=production``.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class BaseServiceSettings(BaseSettings):
    """Settings every service has. Subclasses set ``model_config`` with their ``env_prefix``."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_file_encoding="utf-8")

    environment: Environment = Field(
        Environment.development,
        description="development, test or production; production refuses unsafe defaults",
    )
    host: str = Field("127.0.0.1", description="address uvicorn binds")
    port: int = Field(8000, ge=1, le=65535, description="port uvicorn binds")
    database_url: str | None = Field(
        None,
        description="postgresql+asyncpg:// URL of this service's own database; "
        "unset in development means the embedded PostgreSQL under embedded_pg_dir",
    )
    embedded_pg_dir: Path = Field(
        Path("var/pg"), description="data folder of the embedded PostgreSQL (development only)"
    )
    db_pool_size: int = Field(10, ge=1, le=200, description="SQLAlchemy pool size")
    db_max_overflow: int = Field(10, ge=0, le=200, description="connections above the pool size")
    db_pgbouncer: bool = Field(
        False,
        description="database_url names a PgBouncer in transaction mode: no prepared-statement "
        "cache, no statement_timeout startup parameter (set it on the role)",
    )
    db_statement_timeout_ms: int = Field(
        30_000, ge=100, description="PostgreSQL statement_timeout for every connection"
    )
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR")
    log_json: bool | None = Field(
        None, description="JSON log lines; default true in production, console otherwise"
    )
    log_file: Path | None = Field(None, description="also append JSON log lines to this file")
    jwks_url: str = Field(
        "http://127.0.0.1:8002/.well-known/jwks.json",
        description="where access-token signing keys are published (grid_service)",
    )
    jwt_issuer: str = Field("gridgov", description="expected `iss` of access tokens")
    jwt_audience: str = Field("gridgov", description="expected `aud` of access tokens")
    jwks_cache_seconds: int = Field(300, ge=1, description="how long fetched keys are trusted")
    revocation_poll_seconds: float = Field(
        1.0,
        ge=0,
        le=60,
        description="how often the revocation feed of grid_service is read: a revoked sign-in's "
        "access tokens fail within this plus one round trip; 0 turns the check off",
    )
    revocation_keep_seconds: int = Field(
        3600,
        ge=60,
        description="how long a revocation is remembered (longer than any access token lives)",
    )
    http_timeout_seconds: float = Field(5.0, gt=0, description="timeout of calls to other services")
    http_retries: int = Field(3, ge=0, le=10, description="retries of idempotent or keyed calls")
    max_body_bytes: int = Field(
        2 * 1024 * 1024, ge=1024, description="largest JSON request body accepted"
    )

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return upper

    @field_validator("database_url")
    @classmethod
    def _postgres_only(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("postgresql://", "postgresql+asyncpg://", "postgres://")):
            raise ValueError("must be a PostgreSQL URL (postgresql+asyncpg://...)")
        return value

    @model_validator(mode="after")
    def _refuse_unsafe_in_production(self) -> Self:
        if self.environment is not Environment.production:
            return self
        problems = self.production_problems()
        if problems:
            raise ValueError("unsafe settings for production: " + "; ".join(problems))
        return self

    def production_problems(self) -> list[str]:
        """Return what would be unsafe in production. Subclasses extend this list."""
        problems: list[str] = []
        if not self.database_url:
            problems.append("database_url must be set (no embedded database in production)")
        if self.jwks_url.startswith("http://127.0.0.1") or "localhost" in self.jwks_url:
            problems.append("jwks_url must point at the deployed grid_service, not localhost")
        return problems

    @property
    def json_logs(self) -> bool:
        if self.log_json is not None:
            return self.log_json
        return self.environment is Environment.production
