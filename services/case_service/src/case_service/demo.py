"""The demo dataset of case_service (``make run``; never in production)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from case_service.categories.catalogue import load_catalogue
from case_service.sla.defaults import load_default_policies
from shared.settings import BaseServiceSettings


async def load_demo(session: AsyncSession, settings: BaseServiceSettings) -> None:
    """Load the seed category catalogue and its default time-limit policies (idempotent:
    existing codes and policy names are left alone)."""
    await load_catalogue(session)
    await load_default_policies(session)
