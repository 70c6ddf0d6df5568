"""Delivery rules that need no database: quiet hours, frequency caps, backoff."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TZ = "Asia/Shanghai"


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TZ)


def quiet_until(now: datetime, tz: str, start_hour: int, end_hour: int) -> datetime | None:
    """When the recipient's quiet hours end, or ``None`` when it is not quiet there now.

    ``start_hour`` 22 and ``end_hour`` 8 mean 22:00-08:00 recipient time (wrapping midnight).
    """
    if start_hour == end_hour:
        return None
    local = now.astimezone(_zone(tz))
    hour = local.hour
    quiet = (
        (hour >= start_hour or hour < end_hour)
        if start_hour > end_hour
        else start_hour <= hour < end_hour
    )
    if not quiet:
        return None
    end = local.replace(hour=end_hour, minute=0, second=0, microsecond=0)
    if end <= local:
        end += timedelta(days=1)
    return end.astimezone(now.tzinfo)


def cap_until(
    sent: Sequence[datetime], now: datetime, caps: Sequence[tuple[timedelta, int]]
) -> datetime | None:
    """When one more message may go to a number that was sent to at ``sent`` (newest first),
    under caps of at most ``count`` per ``window``; ``None`` when it may go now. A cap of 0
    means no cap."""
    until: datetime | None = None
    for window, count in caps:
        if count <= 0:
            continue
        inside = [t for t in sent if t > now - window]
        if len(inside) >= count:
            free_at = inside[count - 1] + window
            until = free_at if until is None else max(until, free_at)
    return until


def backoff(attempt: int, *, base: float, cap: float, rng: random.Random) -> timedelta:
    """Exponential backoff with jitter: between half and all of ``base * 2**(attempt-1)``."""
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    return timedelta(seconds=rng.uniform(ceiling / 2, ceiling))
