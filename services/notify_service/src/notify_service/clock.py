"""The service's clock, injectable (tests and benchmarks move it by hand)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request

from shared.db import utcnow


def current_time(request: Request) -> datetime:
    clock: Callable[[], datetime] = getattr(request.app.state, "clock", utcnow)
    return clock()


Now = Annotated[datetime, Depends(current_time)]
