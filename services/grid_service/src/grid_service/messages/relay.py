"""The relay of grid_service's outbox of messages to notify_service.

The mechanics are those of every outbox relay (:mod:`shared.outbox`): a batch is claimed with
``SELECT … FOR UPDATE SKIP LOCKED`` and leased, then committed, so no transaction is open
during the HTTP calls and another replica skips the leased rows. Each
person of a row is one ``POST /api/v1/notifications`` with ``Idempotency-Key``
``<row id>:<account id>``, so a repeat after a crash or a partial failure reaches nobody twice.
A row is settled as relayed when notify_service accepted it for every person, else retried
with exponential backoff.

grid_service is the identity provider, so it authenticates to notify_service with a token it
signs itself (a system client: role ``platform``, scope ``notifications:write``), cached until
a minute before it expires.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from grid_service.accounts.tokens import sign_access_token
from grid_service.config import Settings
from grid_service.messages.models import OutboxMessage
from shared.auth import Role
from shared.db import utcnow
from shared.http import ServiceClient
from shared.logging import get_logger
from shared.outbox import RelayLoop, claim, release, settle
from shared.problem import AppError

log = get_logger(__name__)

SUBJECT = "client:grid_service"


class SelfToken:
    """A bearer token for notify_service, signed with grid_service's own active key."""

    def __init__(self, maker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.maker = maker
        self.settings = settings
        self._token: str | None = None
        self._expires_at: datetime | None = None

    async def get(self, *, fresh: bool = False) -> str:
        now = utcnow()
        if fresh or self._token is None or self._expires_at is None or self._expires_at <= now:
            async with self.maker() as session, session.begin():
                token, ttl = await sign_access_token(
                    session,
                    self.settings,
                    {
                        "sub": SUBJECT,
                        "roles": [Role.platform],
                        "scope": "notifications:write",
                        "name": "grid_service",
                    },
                )
            self._token = token
            self._expires_at = now + timedelta(seconds=max(ttl - 60, ttl // 2))
        return self._token


async def _post(notify: ServiceClient, token: SelfToken, row: OutboxMessage) -> str | None:
    """Post the row's message to each person; None when all were accepted, else why not."""
    for account in row.account_ids:
        for attempt in (1, 2):
            response = await notify.post(
                "/api/v1/notifications",
                json={
                    "template_key": row.template_key,
                    "variables": row.variables,
                    "recipient": {"account_id": account},
                },
                idempotency_key=f"{row.id}:{account}",
                headers={"Authorization": f"Bearer {await token.get(fresh=attempt == 2)}"},
            )
            if response.status_code != 401:
                break
        if not 200 <= response.status_code < 300:
            log.warning(
                "message_relay_refused", message_id=str(row.id), status=response.status_code
            )
            return f"notify_service answered {response.status_code}"
    return None


async def relay_once(
    maker: async_sessionmaker[AsyncSession],
    notify: ServiceClient,
    token: SelfToken,
    *,
    batch: int = 50,
    stopping: asyncio.Event | None = None,
) -> int:
    """Relay one batch; return how many messages notify_service accepted for everyone."""
    rows = await claim(maker, OutboxMessage, batch)
    accepted = 0
    for i, row in enumerate(rows):
        if stopping is not None and stopping.is_set():
            await release(maker, OutboxMessage, [r.id for r in rows[i:]])
            break
        try:
            error = await _post(notify, token, row)
        except AppError as exc:
            error = exc.instance_code
        await settle(maker, OutboxMessage, row.id, error=error)
        accepted += error is None
    return accepted


class MessageRelay(RelayLoop):
    """Background loop around :func:`relay_once`; ``start()`` at startup, ``stop()`` at exit."""

    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        notify: ServiceClient,
        token: SelfToken,
        *,
        poll_seconds: float = 1.0,
        batch: int = 50,
    ) -> None:
        self.maker = maker
        self.notify = notify
        self.token = token

        async def once(stopping: asyncio.Event) -> int:
            return await relay_once(
                self.maker, self.notify, self.token, batch=batch, stopping=stopping
            )

        super().__init__(once, name="message_relay", batch=batch, poll_seconds=poll_seconds)
