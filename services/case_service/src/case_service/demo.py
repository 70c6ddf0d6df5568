"""The demo dataset of case_service (``make run``; never in production)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from case_service.categories.catalogue import load_catalogue
from shared.settings import BaseServiceSettings


async def load_demo(session: AsyncSession, settings: BaseServiceSettings) -> None:
    """Load the seed category catalogue (idempotent: existing codes are left alone)."""
    await load_catalogue(session)
