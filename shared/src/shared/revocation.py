"""Revocation that bites: every service follows grid_service's revocation feed.

Access tokens are verified locally (``shared.auth``), so revoking a sign-in at grid_service
would otherwise leave its access tokens working for their whole lifetime. grid_service writes a
row for each revoked sign-in (``sid``, the refresh-token family of that sign-in) and each
account whose tokens were all revoked (disabled, new password), and publishes them in order at
``GET /api/v1/auth/revocations?after=<id>``. Each service process polls that feed every
``revocation_poll_seconds`` (default 1 s) in the background and keeps the entries in memory —
no call per request. A token is then refused with 401 ``token_revoked`` when its ``sid`` is
revoked, or when its account was revoked at or after the token's ``iat``.

The bound: a revocation is seen by every process within ``revocation_poll_seconds`` plus one
feed round trip (≤ 5 s with the defaults). While grid_service cannot be reached a process keeps
the entries it has and keeps polling (logged once per outage); revocations are made at
grid_service, so only a network split between the two delays them, until it heals. Entries are
dropped once every token they could refuse has expired (``keep_seconds``).

Written by hand: no library follows a JWT denylist feed; it is a cursor, two dicts and a loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from shared.i18n import Text
from shared.logging import get_logger
from shared.problem import Unauthorized

log = get_logger(__name__)

#: ``fetch(after)`` → (entries after the cursor in id order, the feed's highest id)
Fetch = Callable[[int], Awaitable[tuple[Sequence[Mapping[str, Any]], int]]]

FEED_PATH = "/api/v1/auth/revocations"


class TokenRevoked(Unauthorized):
    code = "token_revoked"
    title = Text("访问令牌已被吊销", "The access token was revoked")


def _epoch(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, datetime):
        return value.timestamp()
    return datetime.fromisoformat(str(value)).timestamp()


class RevocationList:
    """The revoked sign-ins and accounts a process knows of, kept current by :meth:`run`."""

    def __init__(self, fetch: Fetch, *, poll_seconds: float, keep_seconds: float) -> None:
        self._fetch = fetch
        self.poll_seconds = poll_seconds
        self.keep_seconds = keep_seconds
        self.sids: dict[str, float] = {}  # sid → when revoked (epoch seconds)
        self.accounts: dict[str, float] = {}  # account id → latest revocation (epoch seconds)
        self.cursor = 0
        self.synced_at: float | None = None  # monotonic time of the last good sync
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    def apply(self, items: Sequence[Mapping[str, Any]]) -> None:
        for item in items:
            at = _epoch(item["revoked_at"])
            target = self.sids if item["kind"] == "sid" else self.accounts
            key = str(item["value"])
            target[key] = max(at, target.get(key, at))
            self.cursor = max(self.cursor, int(item["id"]))

    def prune(self, now: float | None = None) -> None:
        oldest = (now if now is not None else time.time()) - self.keep_seconds
        for table in (self.sids, self.accounts):
            for key in [k for k, at in table.items() if at < oldest]:
                del table[key]

    async def sync_once(self) -> int:
        """Fetch every entry after the cursor (in pages); the number applied."""
        applied = 0
        while True:
            items, last_id = await self._fetch(self.cursor)
            if last_id < self.cursor:  # the feed starts again (a restored database): re-read it
                self.cursor = 0
                continue
            if not items:
                break
            self.apply(items)
            applied += len(items)
        self.synced_at = time.monotonic()
        self.prune()
        return applied

    def check(self, claims: Mapping[str, Any]) -> None:
        """Raise 401 ``token_revoked`` if these verified claims belong to a revoked token."""
        sid = claims.get("sid")
        if sid is not None and str(sid) in self.sids:
            raise TokenRevoked(Text("该次登录已被注销", "This sign-in was revoked"))
        revoked_at = self.accounts.get(str(claims.get("sub")))
        if revoked_at is not None and float(claims.get("iat", 0)) <= revoked_at:
            raise TokenRevoked(
                Text("该账号的令牌已被吊销，请重新登录", "The account's tokens were revoked")
            )

    async def run(self) -> None:
        while True:
            try:
                await self.sync_once()
                if self._failing:
                    log.info("revocation_feed_recovered", cursor=self.cursor)
                self._failing = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep the entries we have; try again next round
                if not self._failing:
                    log.warning("revocation_feed_unreachable", error=type(exc).__name__)
                self._failing = True
            await asyncio.sleep(self.poll_seconds)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="revocation-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
