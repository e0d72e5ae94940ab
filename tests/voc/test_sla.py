"""SLA deadline maths against examples worked by hand on the 2026 calendar.

São Paulo keeps UTC-3 all year (no daylight saving since 2019), so 09:00-18:00 local is
12:00-21:00 UTC and a business day has 540 minutes. 2026: Carnival is Mon 16 and Tue 17
February, Tiradentes Tue 21 April, Christmas Fri 25 December (Christmas Eve, Thu 24, is
only an optional day and stays open).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, timezone

import pytest

from recompra.voc.sla import BusinessCalendar, add_business_minutes, business_minutes, clock_status

SP = timezone(timedelta(hours=-3))
CAL = BusinessCalendar()


def local(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A São Paulo wall-clock time in 2026."""
    return datetime(2026, month, day, hour, minute, tzinfo=SP)


@pytest.mark.parametrize(
    ("start", "minutes", "expected"),
    [
        # Friday 17:00 + 120: 60 on Friday, the weekend is closed, 60 on Monday.
        (local(6, 12, 17), 120, local(6, 15, 10)),
        # Friday 16:00 + 480: 120 on Friday; Carnival Monday and Tuesday closed; 360 on
        # Ash Wednesday from 09:00.
        (local(2, 13, 16), 480, local(2, 18, 15)),
        # Monday 10:00 + 600: 480 on Monday; Tiradentes (Tuesday) closed; 120 Wednesday.
        (local(4, 20, 10), 600, local(4, 22, 11)),
        # Christmas Eve 17:30 + 60: 30 that day; Christmas and the weekend closed.
        (local(12, 24, 17, 30), 60, local(12, 28, 9, 30)),
        # Opened at night: the clock starts at the next opening.
        (local(6, 16, 22), 30, local(6, 17, 9, 30)),
        # Exactly a day's 540 minutes from the opening ends at the closing.
        (local(6, 17, 9), 540, local(6, 17, 18)),
    ],
)
def test_deadlines_skip_nights_weekends_and_holidays(
    start: datetime, minutes: int, expected: datetime
) -> None:
    assert add_business_minutes(CAL, start, minutes) == expected.astimezone(UTC)


def test_a_pause_inside_the_day_stops_the_clock() -> None:
    # 10:00 + 240 with 11:00-15:00 waiting on the customer: 60 before, 180 after -> 18:00.
    pauses = [(local(6, 17, 11), local(6, 17, 15))]
    assert add_business_minutes(CAL, local(6, 17, 10), 240, pauses) == local(6, 17, 18)


def test_a_pause_overnight_resumes_the_next_morning() -> None:
    # Wed 16:00 + 180, paused Wed 17:00 -> Thu 10:00: 60 on Wednesday, 120 from 10:00.
    pauses = [(local(6, 17, 17), local(6, 18, 10))]
    assert add_business_minutes(CAL, local(6, 17, 16), 180, pauses) == local(6, 18, 12)


def test_a_pause_still_open_leaves_no_deadline() -> None:
    pauses = [(local(6, 17, 11), None)]
    assert add_business_minutes(CAL, local(6, 17, 10), 240, pauses) is None
    # ...unless the target is reached before the pause began.
    assert add_business_minutes(CAL, local(6, 17, 10), 30, pauses) == local(6, 17, 10, 30)


def test_hours_weekdays_and_optional_days_are_configurable() -> None:
    saturday_mornings = BusinessCalendar(
        weekdays=(0, 1, 2, 3, 4, 5), opens=time(8), closes=time(12), closed_optional=()
    )
    # Friday 11:00 + 120: 60 on Friday, 60 on Saturday from 08:00.
    assert add_business_minutes(saturday_mornings, local(6, 12, 11), 120) == local(6, 13, 9)
    # Friday 13 February 11:30 + 60: 30 on Friday, 30 on Saturday the 14th from 08:00.
    assert add_business_minutes(saturday_mornings, local(2, 13, 11, 30), 60) == local(2, 14, 8, 30)
    assert not saturday_mornings.closed_on(local(2, 16, 12).date())
    assert CAL.closed_on(local(2, 16, 12).date())
    assert BusinessCalendar.from_json(saturday_mornings.to_json()) == saturday_mornings


def test_business_minutes_between_two_instants() -> None:
    # Friday 17:00 -> Monday 10:00: 60 + 60.
    assert business_minutes(CAL, local(6, 12, 17), local(6, 15, 10)) == 120
    # Across Tiradentes with a pause of an hour on Wednesday: 480 + 120 - 60.
    pauses = [(local(4, 22, 9), local(4, 22, 10))]
    assert business_minutes(CAL, local(4, 20, 10), local(4, 22, 11), pauses) == 60 + 480


@pytest.mark.parametrize(
    ("due", "done", "paused", "expected"),
    [
        (local(6, 17, 12), local(6, 17, 11), False, "fulfilled"),
        (local(6, 17, 12), local(6, 17, 12, 1), False, "failed"),
        (None, None, True, "paused"),
        (local(6, 17, 12), None, False, "due"),
        (local(6, 17, 9), None, False, "failed"),
    ],
)
def test_clock_status(
    due: datetime | None, done: datetime | None, paused: bool, expected: str
) -> None:
    now = local(6, 17, 10)
    assert clock_status(due_at=due, done_at=done, paused=paused, now=now) == expected


@pytest.mark.parametrize(
    "stored",
    [
        {"weekdays": []},
        {"weekdays": [7]},
        {"opens": "18:00", "closes": "09:00"},
        {"timezone": "Mars/Base"},
    ],
)
def test_a_calendar_that_cannot_open_is_refused(stored: dict[str, object]) -> None:
    with pytest.raises((ValueError, KeyError)):
        BusinessCalendar.from_json(stored)
