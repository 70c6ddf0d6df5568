"""Whole-system fixtures: the three services as real processes on real PostgreSQL, with the
demo dataset, their workers polling fast so that tests wait little."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.system import System, start_system, stop_system

FAST = {
    "CASE_RELAY_POLL_SECONDS": "0.2",
    "CASE_TIMER_POLL_SECONDS": "0.2",
    # the screening sweep reminds every demo grid of last month at start: its own test
    # (tests/test_screening_system.py) runs a system of its own with it on
    "CASE_MEDIATION_SWEEP_ENABLED": "false",
    "NOTIFY_WORKER_IDLE_SECONDS": "0.2",
    # The tests run at any hour and send many messages to one demo resident: quiet hours
    # and carrier-style caps (tested in notify_service's own suite) would only defer them.
    "NOTIFY_QUIET_HOURS_START": "0",
    "NOTIFY_QUIET_HOURS_END": "0",
    "NOTIFY_SMS_CAP_PER_MINUTE": "1000",
    "NOTIFY_SMS_CAP_PER_HOUR": "1000",
    "NOTIFY_SMS_CAP_PER_DAY": "1000",
}


@pytest_asyncio.fixture(scope="session")
async def system(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    tmp: Path = tmp_path_factory.mktemp("system")
    running = await start_system(tmp, FAST, demo=True)
    yield running
    await stop_system(running)
