"""The demo dataset of case_service (``make run``; never in production)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from shared.settings import BaseServiceSettings


async def load_demo(session: AsyncSession, settings: BaseServiceSettings) -> None:
    """Nothing yet: the category catalogue and demo cases arrive with the case issues."""
    return None
