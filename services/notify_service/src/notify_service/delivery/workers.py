"""Background loops inside the service: delivery and broadcast fan-out.

Started in the lifespan's startup hook, stopped gracefully on shutdown: each loop finishes the
batch it is in (so no claim is left to expire needlessly) and exits. The stop waits at most
``grace_seconds`` (a batch's provider calls are bounded by the provider timeout); a loop still
sending then is cancelled, and its claims expire into ``unconfirmed`` and are settled through
the provider's query API — never sent again blindly. Within a pod's termination grace period
(40 s) this follows the preStop pause (5 s) and uvicorn's drain of requests in flight (≤ 20 s).
Several loops per process and several replicas are safe: claims use ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import timedelta

from notify_service.broadcasts.service import fan_out_once
from notify_service.delivery.engine import DeliveryContext, process_batch
from shared.logging import get_logger

log = get_logger(__name__)


class Workers:
    def __init__(self, ctx: DeliveryContext) -> None:
        self.ctx = ctx
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for i in range(self.ctx.settings.worker_concurrency):
            self._tasks.append(
                asyncio.create_task(
                    self._loop(f"delivery-{i}", self._deliver), name=f"delivery-{i}"
                )
            )
        self._tasks.append(
            asyncio.create_task(self._loop("fan-out", self._fan_out), name="fan-out")
        )

    async def stop(self, grace_seconds: float = 12.0) -> None:
        self._stop.set()
        if not self._tasks:
            return
        _, pending = await asyncio.wait(self._tasks, timeout=grace_seconds)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        self._tasks.clear()

    async def _deliver(self) -> int:
        return await process_batch(self.ctx)

    async def _fan_out(self) -> int:
        s = self.ctx.settings
        return await fan_out_once(
            sessionmaker=self.ctx.sessionmaker,
            grid=self.ctx.grid,
            clock=self.ctx.clock,
            page_size=s.broadcast_page_size,
            lease=timedelta(seconds=s.claim_lease_seconds),
            rng=self.ctx.rng,
        )

    async def _loop(self, name: str, step: Callable[[], Awaitable[int]]) -> None:
        idle = self.ctx.settings.worker_idle_seconds
        failures = 0
        while not self._stop.is_set():
            try:
                did = await step()
                failures = 0
            except Exception as exc:  # keep the loop alive; the database may come back
                failures += 1
                log.error("worker_batch_failed", worker=name, exc_info=exc)
                did = 0
            if did:
                continue
            pause = idle * min(30, 2**failures) if failures else idle
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=pause)
