"""The demo dataset of grid_service (``make run``; never in production)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from grid_service.config import Settings
from grid_service.keys.service import ensure_active_key
from shared.settings import BaseServiceSettings


async def load_demo(session: AsyncSession, settings: BaseServiceSettings) -> None:
    assert isinstance(settings, Settings)
    await ensure_active_key(session, secret=settings.signing_key_secret)
