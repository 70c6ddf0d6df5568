"""Fixtures of notify_service's tests: a migrated database of its own, the app over ASGI,
fake providers and a fake grid_service behind one mock transport, and a clock tests move."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest_asyncio
from notifytest_fakes import (
    ALIYUN_HOST,
    ALIYUN_KEY_ID,
    ALIYUN_SECRET,
    GRID_CLIENT,
    GRID_HOST,
    GRID_SECRET,
    MP_APP,
    MP_SECRET,
    OA_APP,
    OA_SECRET,
    TENCENT_APP,
    TENCENT_HOST,
    TENCENT_ID,
    TENCENT_KEY,
    WECHAT_HOST,
    Clock,
    Fakes,
)

from notify_service.broadcasts.service import fan_out_once
from notify_service.config import ALEMBIC_INI, Settings
from notify_service.delivery.engine import DeliveryContext, process_batch
from notify_service.demo import load_demo
from notify_service.main import create_app
from shared.testing import TestKeys, service_fixtures

# 10:00 in Shanghai: outside quiet hours
START = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
CLOCK = Clock(START)
FAKES = Fakes(clock=CLOCK)
RECEIPT_TOKEN = "receipt-token-123"
WECHAT_EVENT_TOKEN = "wechat-event-token"


def test_settings(url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": url,
        "environment": "test",
        "workers_enabled": False,
        "sms_providers": ["aliyun", "tencent"],
        "wechat_provider": "wechat",
        "aliyun_endpoint": f"https://{ALIYUN_HOST}",
        "aliyun_access_key_id": ALIYUN_KEY_ID,
        "aliyun_access_key_secret": ALIYUN_SECRET,
        "aliyun_receipt_token": RECEIPT_TOKEN,
        "tencent_endpoint": f"https://{TENCENT_HOST}",
        "tencent_secret_id": TENCENT_ID,
        "tencent_secret_key": TENCENT_KEY,
        "tencent_sms_sdk_app_id": TENCENT_APP,
        "tencent_receipt_token": RECEIPT_TOKEN,
        "wechat_api_base": f"https://{WECHAT_HOST}",
        "wechat_oa_app_id": OA_APP,
        "wechat_oa_app_secret": OA_SECRET,
        "wechat_mp_app_id": MP_APP,
        "wechat_mp_app_secret": MP_SECRET,
        "wechat_event_token": WECHAT_EVENT_TOKEN,
        "grid_service_url": f"http://{GRID_HOST}",
        "grid_client_id": GRID_CLIENT,
        "grid_client_secret": GRID_SECRET,
        "http_retries": 0,
        "broadcast_page_size": 100,
    }
    values.update(overrides)
    return Settings(**values)


database_url, test_keys, app, client = service_fixtures(
    prefix="test_notify",
    alembic_ini=ALEMBIC_INI,
    make_app=lambda url: create_app(
        test_settings(url),
        clock=CLOCK,
        provider_transport=FAKES.transport,
        grid_transport=FAKES.transport,
        rng=random.Random(7),
    ),
)


@pytest_asyncio.fixture(autouse=True)
async def world(app: Any, client: httpx.AsyncClient) -> AsyncIterator[None]:
    """Every test starts at 10:00 Shanghai time with fresh fakes, empty token and area caches
    and the default zh-CN templates."""
    CLOCK.now = START
    FAKES.reset()
    ctx: DeliveryContext = app.state.delivery
    ctx.providers.wechat.tokens._tokens.clear()  # type: ignore[attr-defined]
    ctx.grid._token = None
    ctx.grid._areas.clear()
    async with app.state.sessionmaker() as session, session.begin():
        await load_demo(session, ctx.settings)
    yield


def auth(keys: TestKeys, **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {keys.mint(**claims)}"}


async def drain(app: Any, *, batches: int = 20) -> int:
    """Run delivery batches until nothing is due (at the current clock)."""
    total = 0
    for _ in range(batches):
        claimed = await process_batch(app.state.delivery)
        if not claimed:
            break
        total += claimed
    return total


async def fan_out(app: Any) -> int:
    ctx: DeliveryContext = app.state.delivery
    total = 0
    for _ in range(50):
        total += await fan_out_once(
            sessionmaker=ctx.sessionmaker,
            grid=ctx.grid,
            clock=ctx.clock,
            page_size=ctx.settings.broadcast_page_size,
        )
    return total
