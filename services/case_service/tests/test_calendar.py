"""Working-calendar arithmetic against dates worked out by hand from the official 2026 schedule.

2026 National Day (Golden Week): 1-7 October off; Sunday 20 September and Saturday 10 October
are working days (调休). Times are Asia/Shanghai (UTC+8); working hours 09:00-12:00, 13:30-18:00.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from case_service.sla.calendar import SHANGHAI, CalendarError, LimitUnit, WorkingCalendar

cal = WorkingCalendar()


def sh(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=SHANGHAI)


def test_official_days() -> None:
    assert cal.is_workday(date(2026, 9, 30))  # Wednesday before the holiday
    assert not cal.is_workday(date(2026, 10, 1))  # National Day
    assert not cal.is_workday(date(2026, 10, 7))
    assert cal.is_workday(date(2026, 10, 10))  # Saturday made a working day (调休)
    assert cal.is_workday(date(2026, 9, 20))  # Sunday made a working day
    assert not cal.is_workday(date(2026, 11, 21))  # an ordinary Saturday


def test_working_hours_across_lunch() -> None:
    # 11:00 + 2 working hours: 1 h until 12:00, lunch, 1 h from 13:30 -> 14:30.
    assert cal.deadline(sh(2026, 11, 23, 11), 2, LimitUnit.working_hours) == sh(
        2026, 11, 23, 14, 30
    )


def test_working_hours_across_days_and_a_weekend() -> None:
    # Friday 20 Nov 2026 17:00 + 4 working hours: 1 h Friday, then Monday 09:00-12:00 -> 12:00.
    assert cal.deadline(sh(2026, 11, 20, 17), 4, LimitUnit.working_hours) == sh(2026, 11, 23, 12)
    # Started on a Saturday evening: the clock starts Monday 09:00.
    assert cal.deadline(sh(2026, 11, 21, 20), 1, LimitUnit.working_hours) == sh(2026, 11, 23, 10)
    # Started during lunch: counts from 13:30.
    assert cal.deadline(sh(2026, 11, 23, 12, 15), 0.5, LimitUnit.working_hours) == sh(
        2026, 11, 23, 14
    )


def test_one_working_day_is_seven_and_a_half_hours() -> None:
    assert cal.deadline(sh(2026, 11, 23, 9), 7.5, LimitUnit.working_hours) == sh(2026, 11, 23, 18)
    assert cal.deadline(sh(2026, 11, 23, 9), 7.6, LimitUnit.working_hours) == sh(2026, 11, 24, 9, 6)


def test_working_days_across_a_weekend() -> None:
    # Thursday 19 Nov + 3 working days: Fri 20, Mon 23, Tue 24 -> Tuesday 18:00.
    assert cal.deadline(sh(2026, 11, 19, 10), 3, LimitUnit.working_days) == sh(2026, 11, 24, 18)


def test_working_days_across_golden_week() -> None:
    # Wednesday 30 Sep + 2 working days: 1-7 Oct off -> Thu 8 Oct, Fri 9 Oct -> 9 Oct 18:00.
    assert cal.deadline(sh(2026, 9, 30, 16), 2, LimitUnit.working_days) == sh(2026, 10, 9, 18)
    # + 3 working days lands on the 调休 Saturday 10 October.
    assert cal.deadline(sh(2026, 9, 30, 16), 3, LimitUnit.working_days) == sh(2026, 10, 10, 18)


def test_working_hours_on_the_tiaoxiu_saturday() -> None:
    # Friday 9 Oct 17:00 + 2 working hours: 1 h Friday, then Saturday 10 Oct 09:00-10:00.
    assert cal.deadline(sh(2026, 10, 9, 17), 2, LimitUnit.working_hours) == sh(2026, 10, 10, 10)


def test_calendar_hours_run_on_the_clock() -> None:
    start = sh(2026, 10, 1, 23)  # a holiday night
    assert cal.deadline(start, 0.5, LimitUnit.calendar_hours) == sh(2026, 10, 1, 23, 30)
    assert cal.deadline(start, 24, LimitUnit.calendar_hours) == sh(2026, 10, 2, 23)


def test_admin_override_wins() -> None:
    # A locality declares Monday 23 Nov 2026 a day off and Saturday 28 Nov a working day.
    local = WorkingCalendar(overrides={date(2026, 11, 23): False, date(2026, 11, 28): True})
    assert cal.deadline(sh(2026, 11, 20, 17), 4, LimitUnit.working_hours) == sh(2026, 11, 23, 12)
    assert local.deadline(sh(2026, 11, 20, 17), 4, LimitUnit.working_hours) == sh(2026, 11, 24, 12)
    # Thu 26 + 2 working days: Fri 27, Sat 28 (declared working) -> Saturday 18:00.
    assert local.deadline(sh(2026, 11, 26, 9), 2, LimitUnit.working_days) == sh(2026, 11, 28, 18)


def test_unpublished_year_falls_back_to_weekdays() -> None:
    assert cal.is_workday(date(2027, 3, 3))  # a Wednesday
    assert not cal.is_workday(date(2027, 3, 6))  # a Saturday
    # Until an admin enters 2027's Spring Festival, overrides are how it is known.
    spring = WorkingCalendar(
        overrides={date(2027, 2, 8) + timedelta(days=i): False for i in range(5)}
    )
    assert not spring.is_workday(date(2027, 2, 10))


def test_working_time_between() -> None:
    assert cal.working_time_between(sh(2026, 11, 20, 17), sh(2026, 11, 23, 10)) == timedelta(
        hours=2
    )
    assert cal.working_time_between(sh(2026, 11, 23, 11), sh(2026, 11, 23, 14)) == timedelta(
        hours=1, minutes=30
    )
    assert cal.working_time_between(sh(2026, 9, 30, 9), sh(2026, 10, 8, 9)) == timedelta(
        hours=7, minutes=30
    )
    assert cal.working_time_between(sh(2026, 11, 24), sh(2026, 11, 23)) == timedelta(0)
    assert cal.elapsed(sh(2026, 10, 1), sh(2026, 10, 2), LimitUnit.calendar_hours) == timedelta(
        hours=24
    )


def test_refusals() -> None:
    with pytest.raises(CalendarError):
        cal.deadline(sh(2026, 11, 23, 9), -1, LimitUnit.working_hours)
    with pytest.raises(CalendarError):
        cal.deadline(sh(2026, 11, 23, 9), 1.5, LimitUnit.working_days)
    with pytest.raises(CalendarError):
        cal.deadline(datetime(2026, 11, 23, 9), 1, LimitUnit.working_hours)  # noqa: DTZ001
    with pytest.raises(CalendarError):
        WorkingCalendar(periods=())
    never = WorkingCalendar(
        overrides={date(2026, 12, 1) + timedelta(days=i): False for i in range(1200)}
    )
    with pytest.raises(CalendarError):
        never.deadline(sh(2026, 12, 1, 9), 1, LimitUnit.working_hours)
