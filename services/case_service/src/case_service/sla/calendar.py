"""The official working calendar and working-time arithmetic.

Working days follow the State Council's published schedule — public holidays off, and the
weekend days moved to make up for them (调休) on — through the ``chinese-calendar`` package,
which knows the published years. A year it does not know yet (each schedule is published in
November) falls back to Monday–Friday until an admin enters its days; admin overrides per
jurisdiction always win.

Working hours default to 09:00–12:00 and 13:30–18:00, Asia/Shanghai.

Semantics of the limits (the same as 12345 centres use):

* ``working_hours``: the deadline is found by consuming working time only.
* ``working_days``: N working days after the day of the start, ending when working hours end
  on the N-th working day ("3 working days" from Monday 10:00 is Thursday 18:00).
* ``calendar_hours``: plain clock time (urgent cases run on the clock).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

import chinese_calendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
DEFAULT_PERIODS: tuple[tuple[time, time], ...] = (
    (time(9, 0), time(12, 0)),
    (time(13, 30), time(18, 0)),
)
#: A calendar with no working day for this long is a configuration error, not a long wait.
MAX_SEARCH_DAYS = 3 * 366


class LimitUnit(StrEnum):
    working_hours = "working_hours"
    working_days = "working_days"
    calendar_hours = "calendar_hours"


class CalendarError(ValueError):
    pass


def parse_periods(text: str) -> tuple[tuple[time, time], ...]:
    """``"09:00-12:00,13:30-18:00"`` → periods (ordered, not overlapping)."""
    periods = []
    for part in text.split(","):
        try:
            start, end = part.strip().split("-")
            periods.append((time.fromisoformat(start.strip()), time.fromisoformat(end.strip())))
        except ValueError as exc:
            raise CalendarError(f"not a period HH:MM-HH:MM: {part.strip()!r}") from exc
    WorkingCalendar(periods=tuple(periods))  # validates order and overlap
    return tuple(periods)


def official_is_workday(day: date) -> bool | None:
    """The published schedule's answer, or ``None`` for a year it does not know."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return None


@dataclass(frozen=True)
class WorkingCalendar:
    """A jurisdiction's working calendar: official schedule + overrides + working hours."""

    overrides: Mapping[date, bool] = field(default_factory=dict)
    periods: tuple[tuple[time, time], ...] = DEFAULT_PERIODS
    tz: ZoneInfo = SHANGHAI

    def __post_init__(self) -> None:
        previous = time(0, 0)
        for start, end in self.periods:
            if not start < end or start < previous:
                raise CalendarError("working periods must be ordered and not overlap")
            previous = end
        if not self.periods:
            raise CalendarError("at least one working period is needed")

    # ---- days -----------------------------------------------------------------------------

    def is_workday(self, day: date) -> bool:
        if day in self.overrides:
            return self.overrides[day]
        official = official_is_workday(day)
        if official is not None:
            return official
        return day.weekday() < 5

    def workdays_from(self, day: date) -> Iterator[date]:
        """Working days from ``day`` (inclusive) onwards."""
        for offset in range(MAX_SEARCH_DAYS):
            current = day + timedelta(days=offset)
            if self.is_workday(current):
                yield current
        raise CalendarError(f"no working day within {MAX_SEARCH_DAYS} days of {day}")

    # ---- moments --------------------------------------------------------------------------

    def _local(self, moment: datetime) -> datetime:
        if moment.tzinfo is None:
            raise CalendarError("datetimes must be timezone-aware")
        return moment.astimezone(self.tz)

    def _periods_on(self, day: date) -> list[tuple[datetime, datetime]]:
        return [
            (datetime.combine(day, start, self.tz), datetime.combine(day, end, self.tz))
            for start, end in self.periods
        ]

    def add_working_time(self, start: datetime, duration: timedelta) -> datetime:
        """The moment when ``duration`` of working time has passed since ``start``."""
        if duration < timedelta(0):
            raise CalendarError("duration must not be negative")
        cursor = self._local(start)
        remaining = duration
        if remaining == timedelta(0):
            return start
        for day in self.workdays_from(cursor.date()):
            for p_start, p_end in self._periods_on(day):
                begin = max(p_start, cursor)
                if begin >= p_end:
                    continue
                available = p_end - begin
                if remaining <= available:
                    return (begin + remaining).astimezone(UTC)
                remaining -= available
        raise CalendarError("unreachable")  # pragma: no cover - workdays_from raises first

    def end_of_nth_workday(self, start: datetime, days: int) -> datetime:
        """End of working hours on the ``days``-th working day after ``start``'s day."""
        if days < 0:
            raise CalendarError("days must not be negative")
        local = self._local(start)
        if days == 0:
            return self.add_working_time(start, timedelta(0))
        for index, day in enumerate(self.workdays_from(local.date() + timedelta(days=1)), 1):
            if index == days:
                return self._periods_on(day)[-1][1].astimezone(UTC)
        raise CalendarError("unreachable")  # pragma: no cover

    def deadline(self, start: datetime, amount: float, unit: LimitUnit) -> datetime:
        if amount < 0:
            raise CalendarError("a time limit must not be negative")
        if unit is LimitUnit.calendar_hours:
            return start + timedelta(hours=amount)
        if unit is LimitUnit.working_hours:
            return self.add_working_time(start, timedelta(hours=amount))
        if amount != int(amount):
            raise CalendarError("working_days limits are whole days")
        return self.end_of_nth_workday(start, int(amount))

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Working time inside [start, end) (zero when end is not after start)."""
        a, b = self._local(start), self._local(end)
        total = timedelta(0)
        if b <= a:
            return total
        day = a.date()
        while day <= b.date():
            if self.is_workday(day):
                for p_start, p_end in self._periods_on(day):
                    lo, hi = max(p_start, a), min(p_end, b)
                    if hi > lo:
                        total += hi - lo
            day += timedelta(days=1)
        return total

    def elapsed(self, start: datetime, end: datetime, unit: LimitUnit) -> timedelta:
        """Time used of a limit in ``unit`` between two moments (for the 75% reminder)."""
        if unit is LimitUnit.calendar_hours:
            return max(end - start, timedelta(0))
        return self.working_time_between(start, end)
