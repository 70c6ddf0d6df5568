"""Settings of notify_service (environment variables prefixed ``NOTIFY_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import BaseServiceSettings

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"
DATABASE_NAME = "gridgov_notify"

SmsProviderName = Literal["aliyun", "tencent", "console"]
WechatProviderName = Literal["wechat", "console"]


class Settings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFY_", env_file=".env", extra="ignore")

    port: int = Field(8003, ge=1, le=65535, description="port uvicorn binds")
    grid_service_url: str = Field(
        "http://127.0.0.1:8002", description="base URL of grid_service (recipient lookup)"
    )
    grid_client_id: str = Field(
        "notify_service", description="OAuth2 client id of notify_service at grid_service"
    )
    grid_client_secret: SecretStr = Field(
        SecretStr("notify-dev-secret"), description="OAuth2 client secret at grid_service"
    )
    grid_token_refresh_margin_seconds: int = Field(
        60, ge=0, description="fetch a new grid_service token this long before it expires"
    )
    recipient_area_cache_seconds: int = Field(
        60,
        ge=0,
        description="how long the areas of an account (for the area scope of people who read "
        "and send messages) are cached; a moved account is seen in its new area after this",
    )

    # --- providers -------------------------------------------------------------------------
    sms_providers: list[SmsProviderName] = Field(
        default_factory=lambda: list[SmsProviderName](["console"]),
        description="SMS providers in failover order (failover only on outage-class errors)",
    )
    wechat_provider: WechatProviderName = Field(
        "console", description="`wechat` for the real API, `console` to log instead"
    )
    provider_timeout_seconds: float = Field(10.0, gt=0, description="timeout of provider calls")

    aliyun_endpoint: str = Field("https://dysmsapi.aliyuncs.com", description="Alibaba SMS API")
    aliyun_access_key_id: str = Field("", description="Alibaba Cloud AccessKey id")
    aliyun_access_key_secret: SecretStr = Field(SecretStr(""), description="AccessKey secret")
    aliyun_region_id: str = Field("cn-hangzhou", description="Alibaba Cloud region")
    aliyun_receipt_token: SecretStr = Field(
        SecretStr(""), description="shared secret the SmsReport push must present (`?token=`)"
    )

    tencent_endpoint: str = Field("https://sms.tencentcloudapi.com", description="Tencent SMS")
    tencent_secret_id: str = Field("", description="Tencent Cloud SecretId")
    tencent_secret_key: SecretStr = Field(SecretStr(""), description="Tencent Cloud SecretKey")
    tencent_region: str = Field("ap-guangzhou", description="Tencent Cloud region")
    tencent_sms_sdk_app_id: str = Field("", description="SmsSdkAppId")
    tencent_receipt_token: SecretStr = Field(
        SecretStr(""), description="shared secret the status callback must present (`?token=`)"
    )

    wechat_api_base: str = Field("https://api.weixin.qq.com", description="WeChat API base URL")
    wechat_oa_app_id: str = Field("", description="official account AppID (公众号)")
    wechat_oa_app_secret: SecretStr = Field(SecretStr(""), description="official account secret")
    wechat_mp_app_id: str = Field("", description="mini-program AppID (小程序)")
    wechat_mp_app_secret: SecretStr = Field(SecretStr(""), description="mini-program secret")
    wechat_event_token: SecretStr = Field(
        SecretStr(""), description="the Token configured for WeChat server push (signature)"
    )
    wechat_token_refresh_margin_seconds: int = Field(
        300, ge=0, description="refresh WeChat access tokens this long before they expire"
    )

    # --- delivery --------------------------------------------------------------------------
    workers_enabled: bool = Field(True, description="run delivery and fan-out workers in-process")
    worker_concurrency: int = Field(2, ge=1, le=64, description="delivery loops per process")
    worker_batch_size: int = Field(50, ge=1, le=1000, description="messages claimed per batch")
    worker_idle_seconds: float = Field(1.0, gt=0, description="pause when nothing is due")
    # The lease must outlast a provider call (checked below), nothing more: the whole-system
    # tests kill the service mid-send and use a lease of a few seconds to watch the recovery.
    claim_lease_seconds: int = Field(
        120, ge=1, description="a claimed message not finished by then is treated as ambiguous"
    )
    max_attempts: int = Field(6, ge=1, le=50, description="transient failures before dead letter")
    backoff_base_seconds: float = Field(30.0, gt=0, description="first retry delay ceiling")
    backoff_max_seconds: float = Field(3600.0, gt=0, description="largest retry delay")
    receipt_wait_seconds: int = Field(
        1800, ge=1, description="an ambiguous send waits this long for a receipt"
    )
    sms_cap_per_minute: int = Field(1, ge=0, description="non-critical SMS per number per minute")
    sms_cap_per_hour: int = Field(5, ge=0, description="non-critical SMS per number per hour")
    sms_cap_per_day: int = Field(10, ge=0, description="non-critical SMS per number per day")
    quiet_hours_start: int = Field(22, ge=0, le=23, description="quiet hours start (local hour)")
    quiet_hours_end: int = Field(8, ge=0, le=23, description="quiet hours end (local hour)")
    broadcast_page_size: int = Field(
        500, ge=1, le=1000, description="recipients per grid_service page (at most 1000)"
    )

    @model_validator(mode="after")
    def _providers_present(self) -> Self:
        if not self.sms_providers:
            raise ValueError("sms_providers needs at least one provider")
        if len(set(self.sms_providers)) != len(self.sms_providers):
            raise ValueError("sms_providers lists a provider twice")
        if self.claim_lease_seconds <= self.provider_timeout_seconds:
            raise ValueError(
                "claim_lease_seconds must be longer than provider_timeout_seconds (a claim must "
                "outlast the provider call it covers)"
            )
        return self

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if "console" in self.sms_providers or self.wechat_provider == "console":
            problems.append("the console provider only logs; configure real providers")
        if "aliyun" in self.sms_providers and not self.aliyun_access_key_id:
            problems.append("aliyun_access_key_id must be set")
        if "tencent" in self.sms_providers and not self.tencent_secret_id:
            problems.append("tencent_secret_id must be set")
        if self.grid_client_secret.get_secret_value() == "notify-dev-secret":
            problems.append("grid_client_secret must be set")
        return problems


@lru_cache
def get_settings() -> Settings:
    return Settings()
