"""The demo dataset of notify_service (``make run``; never in production)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from notify_service.templates import repository
from notify_service.templates import service as templates
from notify_service.templates.defaults import default_templates
from shared.settings import BaseServiceSettings


async def load_demo(session: AsyncSession, settings: BaseServiceSettings) -> None:
    """The zh-CN templates of every case event and the emergency warning (idempotent)."""
    for data in default_templates():
        if await repository.find(session, key=data.key, channel=data.channel, locale=data.locale):
            continue
        await templates.create(session, data=data)
