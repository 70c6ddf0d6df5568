"""The security suite's own system (demo data): the matrix calls every operation as every
role (an admin rotates the signing key, for one) and the BOLA tests add a second resident and
a second department's handler — neither may touch the system the other whole-system tests
share."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.system import System, start_system, stop_system


@pytest_asyncio.fixture(scope="package")
async def security_system(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    tmp: Path = tmp_path_factory.mktemp("security")
    running = await start_system(tmp, demo=True)
    yield running
    await stop_system(running)
