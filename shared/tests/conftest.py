"""Fixtures for the shared kit's tests: a scratch database and a tiny app built from the kit."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import make_engine
from shared.testing import create_database, drop_database


@pytest_asyncio.fixture(scope="session")
async def engine() -> AsyncIterator[AsyncEngine]:
    url = await create_database("test_shared")
    eng = make_engine(url)
    yield eng
    await eng.dispose()
    await drop_database(url)
