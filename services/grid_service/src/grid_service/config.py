"""Settings of grid_service (environment variables prefixed ``GRID_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from shared.contracts.grids import AreaLevel
from shared.pii import DEV_PII_KEY, DEV_PII_KEY_ID, PiiKey
from shared.settings import BaseServiceSettings

__all__ = ["DEV_PII_KEY", "DEV_PII_KEY_ID", "PiiKey", "Settings"]

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

    area_levels: list[AreaLevel] = Field(
        default_factory=lambda: list(AreaLevel),
        min_length=2,
        description="levels of the area tree, top to bottom; a child is one level below its parent",
    )
    boundary_tolerance_m: float = Field(
        1.0, ge=0, le=100, description="slack when checking containment and sibling overlap"
    )
    grid_households_min: int = Field(500, ge=0, description="below this a grid is warned about")
    grid_households_max: int = Field(1000, ge=1, description="above this a grid is warned about")
    locate_version_check_seconds: float = Field(
        1.0,
        gt=0,
        le=60,
        description="how often a replica checks whether the area tree or the posts changed; "
        "a change made through another replica reaches its locate answers within this plus "
        "the rebuild's time",
    )
    import_max_bytes: int = Field(
        50 * 1024 * 1024, ge=1024, description="largest GeoJSON body `POST /areas/import` takes"
    )
    locate_batch_max: int = Field(500, ge=1, le=10_000, description="points per batch locate")
    refresh_token_ttl_seconds: int = Field(
        30 * 86_400, ge=300, description="lifetime of a refresh token (each use renews it)"
    )
    login_max_failures: int = Field(
        5, ge=1, le=100, description="failed password logins before the account is locked"
    )
    argon2_time_cost: int = Field(3, ge=1, le=20, description="argon2id iterations")
    argon2_memory_kib: int = Field(
        65_536, ge=1024, le=1_048_576, description="argon2id memory per hash, KiB"
    )
    login_lockout_seconds: int = Field(900, ge=1, description="how long a lockout lasts")
    wechat_api_base: str = Field(
        "https://api.weixin.qq.com", description="base URL of the WeChat server API"
    )
    wechat_appid: str = Field("wx-demo-appid", description="mini-program AppID")
    wechat_secret: str = Field("dev-only-wechat-secret", description="mini-program AppSecret")

    pii_keys: list[PiiKey] = Field(
        default_factory=lambda: [PiiKey(id=DEV_PII_KEY_ID, key=DEV_PII_KEY)],
        min_length=1,
        description="AES-256-GCM keys for ID and phone numbers at rest, as JSON "
        '`[{"id": "k2", "key": "<base64>"}, …]`: the first encrypts, all decrypt (rotation)',
    )
    pii_hash_key: str = Field(
        "dev-only-pii-hash-key",
        min_length=16,
        description="HMAC-SHA256 key of the lookup hash of ID and phone numbers; "
        "changing it makes every stored hash unusable",
    )
    pii_reveal_roles: list[str] = Field(
        default_factory=lambda: ["admin", "grid_leader"],
        description="roles that may ask for unmasked ID and phone numbers (`reveal=true`)",
    )
    local_timezone: str = Field(
        "Asia/Shanghai", description="where a day starts (daily coverage, daily points caps)"
    )
    basic_info_import_max_rows: int = Field(
        5000, ge=1, le=100_000, description="rows one spreadsheet import may hold"
    )
    visit_interval_key_days: int = Field(
        30, ge=1, le=366, description="key households (重点户) are visited at least this often"
    )
    visit_interval_hardship_days: int = Field(
        30, ge=1, le=366, description="hardship households (困难户) are visited this often"
    )
    visit_interval_default_days: int = Field(
        91, ge=1, le=366, description="every household is visited this often (4 times a year)"
    )
    visit_due_window_days: int = Field(
        7, ge=0, le=90, description="a visit shows as due this many days before its date"
    )
    field_clock_skew_minutes: int = Field(
        10,
        ge=0,
        le=120,
        description="how far in the future a phone's clock may be: patrol, track point, check-in, "
        "finding and visit times later than now plus this are refused",
    )
    patrol_max_speed_kmh: float = Field(
        120,
        gt=0,
        le=1000,
        description="a track point reached from the previous one faster than this is kept but "
        "flagged as an outlier and left out of distance and coverage",
    )
    patrol_district_margin_m: float = Field(
        5000,
        ge=0,
        le=100_000,
        description="a track point further than this outside the patrolled grid's district is "
        "an outlier",
    )
    case_service_url: str = Field(
        "http://127.0.0.1:8001",
        description="base URL of case_service (case ids of patrol findings are checked there)",
    )
    notify_service_url: str = Field(
        "http://127.0.0.1:8003",
        description="base URL of notify_service (messages to people, e.g. of a resident's move)",
    )
    message_relay_enabled: bool = Field(
        True, description="run the relay of the message outbox inside this process"
    )
    message_relay_poll_seconds: float = Field(
        1.0, gt=0, le=60, description="idle wait of the message relay between batches"
    )

    @field_validator("pii_keys")
    @classmethod
    def _distinct_key_ids(cls, value: list[PiiKey]) -> list[PiiKey]:
        if len({k.id for k in value}) != len(value):
            raise ValueError("key ids must be distinct")
        return value

    @field_validator("local_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("unknown time zone") from exc
        return value

    @field_validator("area_levels")
    @classmethod
    def _levels_in_order(cls, value: list[AreaLevel]) -> list[AreaLevel]:
        order = list(AreaLevel)
        indexes = [order.index(level) for level in value]
        if indexes != sorted(set(indexes)):
            raise ValueError("levels must be distinct and ordered from top to bottom")
        return value

    @model_validator(mode="after")
    def _household_range(self) -> Settings:
        if self.grid_households_min > self.grid_households_max:
            raise ValueError("grid_households_min must not exceed grid_households_max")
        return self

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if self.signing_key_secret.startswith("dev-only"):
            problems.append("signing_key_secret must be set to a secret of your own")
        if self.argon2_time_cost < 2 or self.argon2_memory_kib < 19_456:
            problems.append("argon2 cost below the OWASP minimum (t=2, m=19 MiB)")
        if any(k.id.startswith("dev") or k.key == DEV_PII_KEY for k in self.pii_keys):
            problems.append("pii_keys must be keys of your own (a development key is set)")
        if self.pii_hash_key.startswith("dev-only"):
            problems.append("pii_hash_key must be set to a secret of your own")
        if self.wechat_secret.startswith("dev-only"):
            problems.append("wechat_secret must be set to the mini-program's AppSecret")
        return problems


@lru_cache
def get_settings() -> Settings:
    return Settings()
