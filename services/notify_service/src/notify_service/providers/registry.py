"""The providers of one process, built from settings (tests pass fake transports)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx

from notify_service.config import Settings
from notify_service.providers.aliyun import AliyunSmsProvider
from notify_service.providers.base import Provider
from notify_service.providers.console import ConsoleProvider
from notify_service.providers.tencent import TencentSmsProvider
from notify_service.providers.wechat import WechatProvider


@dataclass
class Providers:
    sms: list[Provider]  # failover order
    wechat: Provider
    console: ConsoleProvider
    by_name: dict[str, Provider] = field(default_factory=dict)

    def for_channel(self, channel: str) -> list[Provider]:
        if channel == "sms":
            return self.sms
        if channel in ("wechat_oa", "wechat_mp"):
            return [self.wechat]
        return []

    async def aclose(self) -> None:
        for provider in {id(p): p for p in [*self.sms, self.wechat, self.console]}.values():
            await provider.aclose()


def build_providers(
    settings: Settings,
    *,
    clock: Callable[[], datetime],
    transport: httpx.AsyncBaseTransport | None = None,
) -> Providers:
    console = ConsoleProvider()
    sms: list[Provider] = []
    for name in settings.sms_providers:
        if name == "aliyun":
            sms.append(
                AliyunSmsProvider(
                    endpoint=settings.aliyun_endpoint,
                    access_key_id=settings.aliyun_access_key_id,
                    access_key_secret=settings.aliyun_access_key_secret.get_secret_value(),
                    region_id=settings.aliyun_region_id,
                    timeout=settings.provider_timeout_seconds,
                    transport=transport,
                    clock=clock,
                )
            )
        elif name == "tencent":
            sms.append(
                TencentSmsProvider(
                    endpoint=settings.tencent_endpoint,
                    secret_id=settings.tencent_secret_id,
                    secret_key=settings.tencent_secret_key.get_secret_value(),
                    sms_sdk_app_id=settings.tencent_sms_sdk_app_id,
                    region=settings.tencent_region,
                    timeout=settings.provider_timeout_seconds,
                    transport=transport,
                    clock=clock,
                )
            )
        else:
            sms.append(console)
    wechat: Provider = console
    if settings.wechat_provider == "wechat":
        wechat = WechatProvider(
            api_base=settings.wechat_api_base,
            oa_app_id=settings.wechat_oa_app_id,
            oa_app_secret=settings.wechat_oa_app_secret.get_secret_value(),
            mp_app_id=settings.wechat_mp_app_id,
            mp_app_secret=settings.wechat_mp_app_secret.get_secret_value(),
            timeout=settings.provider_timeout_seconds,
            transport=transport,
            clock=clock,
            refresh_margin=timedelta(seconds=settings.wechat_token_refresh_margin_seconds),
        )
    providers = Providers(sms=sms, wechat=wechat, console=console)
    providers.by_name = {p.name: p for p in [*sms, wechat, console]}
    return providers
