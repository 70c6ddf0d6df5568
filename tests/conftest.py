"""Whole-system fixtures: the three services as real processes on real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.system import System, start_system, stop_system


@pytest_asyncio.fixture(scope="session")
async def system(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    tmp: Path = tmp_path_factory.mktemp("system")
    running = await start_system(tmp)
    yield running
    await stop_system(running)
