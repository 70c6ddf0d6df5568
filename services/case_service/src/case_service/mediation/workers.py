"""The mediation work's background loops, run by every replica.

- ``ScreeningWorker``: after each screening period's deadline, one reminder per grid that did
  not report (the notice's unique key keeps it one at any number of replicas); on the first
  working day of a month, the monthly information reports of the month before. A process
  handles each period and month once (a restart looks again); the polls in between read
  only the calendar.
- ``notices.NoticeRelay``: the notices to people, relayed to notify_service.
"""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from case_service.mediation import monthly, screening
from shared.logging import get_logger
from shared.outbox import RelayLoop

log = get_logger(__name__)


class ScreeningWorker(RelayLoop):
    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        source: screening.GridSource,
        *,
        poll_seconds: float = 60.0,
    ) -> None:
        swept: set[str] = set()  # periods and months this process has handled
        reported_months: set[str] = set()

        async def once(stopping: asyncio.Event) -> int:
            reminded = await screening.sweep(maker, source, done=swept)
            reported = await monthly.due_reports(maker, source, done=reported_months)
            if reminded or reported:
                log.info("mediation_sweep", reminders=reminded, monthly_reports=reported)
            return 0  # then wait poll_seconds

        super().__init__(once, name="mediation_screening", batch=1, poll_seconds=poll_seconds)
