"""Settings of case_service (environment variables prefixed ``CASE_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from shared.pii import PiiKey, dev_keys, keys_problem
from shared.settings import BaseServiceSettings

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"
DATABASE_NAME = "gridgov_case"


class Settings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CASE_", env_file=".env", extra="ignore")

    port: int = Field(8001, ge=1, le=65535, description="port uvicorn binds")
    grid_service_url: str = Field(
        "http://127.0.0.1:8002", description="base URL of grid_service (point location, areas)"
    )
    locate_in_process: bool = Field(
        True,
        description="locate a case's point in process from a copy of grid_service's area "
        "index (scope areas:snapshot); false, or until the copy is loaded: ask grid_service",
    )
    locate_snapshot_check_seconds: float = Field(
        1.0,
        gt=0,
        le=60,
        description="how often a replica asks grid_service whether the area tree changed "
        "(a 304 while unchanged); a change reaches its in-process answers within this plus "
        "grid_service's own bound and the download and build",
    )
    notify_service_url: str = Field(
        "http://127.0.0.1:8003", description="base URL of notify_service (outbox relay target)"
    )
    notify_token: SecretStr | None = Field(
        None, description="fixed bearer token sent with relayed events (development)"
    )
    notify_client_id: str | None = Field(
        None, description="case_service's platform client at grid_service (scope events:write)"
    )
    notify_client_secret: SecretStr | None = Field(None, description="its secret")
    # outbox relay
    relay_enabled: bool = Field(True, description="run the outbox relay inside this process")
    relay_poll_seconds: float = Field(1.0, gt=0, le=60, description="idle wait between batches")
    relay_batch: int = Field(50, ge=1, le=1000, description="events claimed per batch")
    timer_enabled: bool = Field(True, description="run the time-limit timer worker in-process")
    timer_poll_seconds: float = Field(
        1.0, gt=0, le=60, description="idle wait of the timer worker between scans"
    )
    timer_batch: int = Field(100, ge=1, le=1000, description="timers fired per transaction")
    grid_client_id: str = Field(
        "case_service", description="this service's platform client at grid_service"
    )
    grid_client_secret: SecretStr = Field(
        SecretStr("case-dev-secret"), description="… and its secret (client credentials)"
    )
    webhook_enabled: bool = Field(True, description="run the webhook delivery worker in-process")
    webhook_signing_key: SecretStr = Field(
        SecretStr("dev-only-webhook-signing-key"),
        description="master key the per-subscription webhook secrets are derived from",
    )
    webhook_timeout_seconds: float = Field(
        10.0, gt=0, le=60, description="how long a webhook receiver may take to answer"
    )
    # reporter privacy (PIPL)
    pii_keys: list[PiiKey] = Field(
        default_factory=dev_keys,
        min_length=1,
        description="AES-256-GCM keys of reporters' names and phones at rest, as JSON "
        '`[{"id": "k2", "key": "<base64>"}, …]`: the first encrypts, all decrypt (rotation)',
    )
    pii_hash_key: str = Field(
        "dev-only-case-pii-hash-key",
        min_length=16,
        description="HMAC-SHA256 key of the reporter phone's lookup hash",
    )
    reporter_reveal_roles: list[str] = Field(
        default_factory=lambda: ["admin", "dispatcher", "department_handler", "grid_worker"],
        description="roles that may ask for a reporter's full name and phone (`reveal=true`) "
        "to call them back — and only on a case they handle or dispatch",
    )
    mediation_major_people: int = Field(
        5,
        ge=2,
        le=10000,
        description="a dispute with this many people involved (or more) is 重大 and is "
        "reported upward at once (群体性纠纷)",
    )
    mediation_major_departments: list[str] = Field(
        default_factory=list,
        description="departments (grid_service ids) told of every 重大 dispute at once, besides "
        "the case's own and those owning its category in its area — e.g. public security and "
        "justice administration",
    )
    mediation_screening_period: str = Field(
        "month",
        pattern="^(month|week)$",
        description="how often each grid files its screening report (排查): month or week",
    )
    mediation_screening_deadline_workdays: int = Field(
        0,
        ge=0,
        le=20,
        description="a period's screening report is due this many working days after the "
        "period ends (0: by its last day); then the grids that did not report are reminded",
    )
    mediation_report_levels: list[str] = Field(
        default_factory=lambda: ["street", "district"],
        description="area levels whose monthly information report (信息报告) is generated on "
        "the first working day of the month and sent to the committee above",
    )
    mediation_sweep_enabled: bool = Field(
        True, description="run the screening reminders and monthly reports in-process"
    )
    mediation_sweep_poll_seconds: float = Field(
        300.0, gt=0, le=86_400, description="wait of the screening/monthly-report sweep"
    )
    mediation_notice_poll_seconds: float = Field(
        1.0, gt=0, le=3600, description="idle wait of the mediation notice relay"
    )
    reporter_phone_retention_days: int = Field(
        180,
        ge=0,
        le=3650,
        description="a closed case's reporter phone is erased this many days after closure",
    )
    reporter_erasure_enabled: bool = Field(
        True, description="run the reporter-phone erasure worker in-process"
    )
    reporter_erasure_poll_seconds: float = Field(
        3600.0, gt=0, le=86_400, description="idle wait of the erasure worker between scans"
    )
    open311_jurisdiction_id: str = Field(
        "gridgov", description="jurisdiction_id Open311 clients may send (others are 404)"
    )
    open311_base_url: str = Field(
        "http://127.0.0.1:8001/open311/v2", description="public URL of the Open311 endpoint"
    )
    open311_contact: str = Field(
        "12345 政务服务便民热线", description="discovery: who to contact about the API"
    )
    open311_key_service: str = Field(
        "向区综治中心申请 api_key", description="discovery: how to get an api_key"
    )
    open311_address_area_path: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$",
        description="area path where an Open311 request whose address_string matches no "
        "standard address (or several) waits as to_locate (待定位); unset: "
        "CASE_INTAKE_DEFAULT_AREA_PATH; neither: such a request needs lat/long",
    )
    intake_default_area_path: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$",
        description="area path where a case filed by an address alone waits as to_locate "
        "(待定位) when the address matches no standard address and the filer has no area of "
        "its own (other platforms' work orders, Open311); staff cases wait at the filer's area",
    )
    working_hours: str = Field(
        "09:00-12:00,13:30-18:00", description="working periods of a working day, local time"
    )
    working_timezone: str = Field("Asia/Shanghai", description="time zone of the working hours")

    @field_validator("working_hours")
    @classmethod
    def _periods(cls, value: str) -> str:
        from case_service.sla.calendar import CalendarError, parse_periods

        try:
            parse_periods(value)
        except CalendarError as exc:
            raise ValueError(str(exc)) from exc
        return value

    @field_validator("working_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("unknown time zone") from exc
        return value

    # lifecycle
    reopen_window_days: int = Field(
        15, ge=1, le=365, description="a closed case may be reopened this long after closing"
    )
    # evaluation (评价) and return visits (回访)
    rating_window_days: int = Field(
        7, ge=1, le=90, description="a closed case may be rated this long after closing"
    )
    rating_page: str = Field(
        "pages/case/rate", description="mini-program page of the rating form (case_id appended)"
    )
    return_visit_share: float = Field(
        0.2,
        ge=0,
        le=1,
        description="share of closed hotline/代办 cases given a return visit (all dissatisfied)",
    )
    # statistics
    stats_rollup_enabled: bool = Field(
        True, description="keep the statistics facts current in the background, in-process"
    )
    stats_rollup_poll_seconds: float = Field(
        2.0, gt=0, le=300, description="idle wait of the statistics rollup between batches"
    )
    stats_refresh_limit: int = Field(
        5000,
        ge=0,
        le=1_000_000,
        description="changed cases an indicator request recomputes itself before reading "
        "(the background rollup does the rest)",
    )
    stats_red_threshold: float = Field(
        0.8, ge=0, le=1, description="ranking: a rate below this puts the unit on the red list"
    )
    stats_yellow_threshold: float = Field(
        0.9, ge=0, le=1, description="ranking: below this (and not red) on the yellow list"
    )
    stats_ahead_share: float = Field(
        0.5,
        gt=0,
        le=1,
        description="resolved ahead of time (提前办结): within this share of its time limit",
    )
    stats_on_spot_minutes: int = Field(
        60, ge=1, le=1440, description="resolved on the spot (现场办结): within this of the report"
    )

    # attachments
    storage_backend: Literal["local", "s3"] = Field(
        "local", description="local disk, or an S3-compatible store (MinIO, OSS, COS)"
    )
    storage_dir: Path = Field(Path("var/attachments"), description="local storage folder")
    s3_endpoint_url: str | None = Field(
        None, description="e.g. https://oss-cn-hangzhou.aliyuncs.com"
    )
    s3_bucket: str | None = None
    s3_region: str | None = None
    s3_access_key_id: SecretStr | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_addressing_style: Literal["auto", "path", "virtual"] = Field(
        "auto", description="path for MinIO; virtual for Alibaba OSS and Tencent COS"
    )
    photo_max_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="largest photo")
    video_max_bytes: int = Field(100 * 1024 * 1024, ge=1024, description="largest video")
    document_max_bytes: int = Field(20 * 1024 * 1024, ge=1024, description="largest document")

    @model_validator(mode="after")
    def _thresholds(self) -> Settings:
        if self.stats_yellow_threshold < self.stats_red_threshold:
            raise ValueError("stats_yellow_threshold must not be below stats_red_threshold")
        return self

    @property
    def upload_max_bytes(self) -> int:
        """Body limit of the upload path (multipart overhead included)."""
        return max(self.photo_max_bytes, self.video_max_bytes, self.document_max_bytes) + 65536

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if self.storage_backend == "s3" and not (
            self.s3_bucket and self.s3_access_key_id and self.s3_secret_access_key
        ):
            problems.append("s3 storage needs s3_bucket and credentials")
        if self.webhook_signing_key.get_secret_value().startswith("dev-only"):
            problems.append("webhook_signing_key must be set to a secret of your own")
        key_problem = keys_problem(self.pii_keys)
        if key_problem:
            problems.append(key_problem)
        if self.pii_hash_key.startswith("dev-only"):
            problems.append("pii_hash_key must be set to a secret of your own")
        if self.grid_client_secret.get_secret_value() == "case-dev-secret":
            problems.append("grid_client_secret must be this deployment's own secret")
        return problems


@lru_cache
def get_settings() -> Settings:
    return Settings()
