"""The in-process workers: they deliver on their own and stop gracefully."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from conftest import FAKES
from test_delivery import read, send

from notify_service.delivery.workers import Workers
from shared.testing import TestKeys


async def test_workers_deliver_and_finish_their_batch_on_stop(
    app: Any, client: httpx.AsyncClient, test_keys: TestKeys
) -> None:
    reached = asyncio.Event()
    release = asyncio.Event()

    async def slow_provider(request: httpx.Request) -> httpx.Response:
        reached.set()
        await release.wait()  # the provider call is in flight when we ask to stop
        return httpx.Response(200, json={"Code": "OK", "Message": "OK", "BizId": "77^0"})

    FAKES.script("aliyun", slow_provider)
    created = await send(client, test_keys)
    workers = Workers(app.state.delivery)
    workers.start()
    await asyncio.wait_for(reached.wait(), timeout=10)
    stopping = asyncio.create_task(workers.stop(grace_seconds=10))
    await asyncio.sleep(0)
    assert not stopping.done()  # waits for the batch in flight
    release.set()
    await asyncio.wait_for(stopping, timeout=10)
    body = await read(client, test_keys, created["id"])
    assert body["status"] == "sent"
    assert body["provider_message_id"] == "77^0"


def test_a_claim_lease_must_outlast_the_provider_call() -> None:
    import pydantic
    import pytest

    from notify_service.config import Settings

    with pytest.raises(pydantic.ValidationError, match="claim_lease_seconds must be longer"):
        Settings(claim_lease_seconds=10, provider_timeout_seconds=10)
    assert Settings(claim_lease_seconds=3, provider_timeout_seconds=2, receipt_wait_seconds=1)
