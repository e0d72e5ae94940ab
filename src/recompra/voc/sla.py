"""SLA deadline maths on a business calendar: opening hours in a time zone, closed on
weekends, on Brazil's national holidays and on the optional days the calendar names.

Holidays come from the ``holidays`` package (``holidays.Brazil``): its ``public``
category holds the national holidays (Tiradentes, Christmas...); Carnival Monday and
Tuesday are in its ``optional`` category ("ponto facultativo"), closed by default
because most shops close. A clock counts business minutes only: outside the opening
hours, on closed days and while paused (waiting on the customer) it stands still.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import holidays

#: A paused stretch: from, to (``None``: still paused).
Pause = tuple[datetime, datetime | None]
#: The end of a pause still open (the clock never runs again).
FOREVER = datetime.max.replace(tzinfo=UTC)
#: Searching for a deadline gives up after this many days (a calendar that never opens).
MAX_DAYS = 3660


@cache
def _brazil(year: int) -> dict[date, tuple[str, str]]:
    """Each holiday of ``year``: (category, English name) (``public`` wins a clash)."""
    days: dict[date, tuple[str, str]] = {}
    for category in ("optional", "public"):
        calendar = holidays.country_holidays("BR", years=year, categories=(category,))
        for day, name in calendar.items():
            days[day] = (category, name)
    return days


@dataclass(frozen=True)
class BusinessCalendar:
    """Opening hours ``opens``-``closes`` on ``weekdays`` (Monday = 0) in ``timezone``."""

    timezone: str = "America/Sao_Paulo"
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4)
    opens: time = time(9, 0)
    closes: time = time(18, 0)
    #: Optional (non-national) holidays that also close, by ``holidays``' English name.
    closed_optional: tuple[str, ...] = ("Carnival",)

    def __post_init__(self) -> None:
        # A calendar that never opens would leave every deadline unreachable.
        if not self.weekdays or not set(self.weekdays) <= set(range(7)):
            raise ValueError("weekdays: one or more of 0 (Monday) to 6 (Sunday)")
        if not self.opens < self.closes:
            raise ValueError("opens must come before closes")
        ZoneInfo(self.timezone)  # ValueError/KeyError for an unknown zone

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> BusinessCalendar:
        """A calendar from its stored form (missing keys take the defaults)."""
        default = cls()
        return cls(
            timezone=str(raw.get("timezone", default.timezone)),
            weekdays=tuple(int(d) for d in raw.get("weekdays", default.weekdays)),
            opens=time.fromisoformat(str(raw.get("opens", default.opens.isoformat("minutes")))),
            closes=time.fromisoformat(str(raw.get("closes", default.closes.isoformat("minutes")))),
            closed_optional=tuple(raw.get("closed_optional", default.closed_optional)),
        )

    def to_json(self) -> dict[str, Any]:
        """The stored form."""
        return {
            "timezone": self.timezone,
            "weekdays": list(self.weekdays),
            "opens": self.opens.isoformat("minutes"),
            "closes": self.closes.isoformat("minutes"),
            "closed_optional": list(self.closed_optional),
        }

    def closed_on(self, day: date) -> bool:
        """Whether ``day`` (local) has no opening hours."""
        if day.weekday() not in self.weekdays:
            return True
        holiday = _brazil(day.year).get(day)
        return holiday is not None and (
            holiday[0] == "public" or holiday[1] in self.closed_optional
        )

    def windows(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The opening windows (UTC) from the local day of ``start`` on, in order."""
        zone = ZoneInfo(self.timezone)
        day = start.astimezone(zone).date()
        for _ in range(MAX_DAYS):
            if not self.closed_on(day):
                yield (
                    datetime.combine(day, self.opens, zone).astimezone(UTC),
                    datetime.combine(day, self.closes, zone).astimezone(UTC),
                )
            day += timedelta(days=1)


def _running(
    calendar: BusinessCalendar, start: datetime, pauses: Sequence[Pause]
) -> Iterator[tuple[datetime, datetime]]:
    """The stretches from ``start`` on when the clock runs: open and not paused."""
    ordered = sorted(pauses)
    for opens, closes in calendar.windows(start):
        cursor = max(opens, start)
        for paused_from, paused_to in ordered:
            if cursor >= closes:
                break
            end = paused_to if paused_to is not None else FOREVER
            if end <= cursor or paused_from >= closes:
                continue
            if paused_from > cursor:
                yield cursor, paused_from
            cursor = max(cursor, end)
        if cursor < closes:
            yield cursor, closes
        if cursor == FOREVER:
            return  # paused for good: the clock never runs again


def add_business_minutes(
    calendar: BusinessCalendar, start: datetime, minutes: int, pauses: Sequence[Pause] = ()
) -> datetime | None:
    """When ``minutes`` of running clock have passed since ``start``.

    ``None`` when a pause still open (``to`` is ``None``) stops the clock first: the
    deadline is unknown until the customer answers.
    """
    left = timedelta(minutes=minutes)
    for since, until in _running(calendar, start, pauses):
        if until - since >= left:
            return since + left
        left -= until - since
    return None


def business_minutes(
    calendar: BusinessCalendar, start: datetime, end: datetime, pauses: Sequence[Pause] = ()
) -> int:
    """Whole minutes of running clock between ``start`` and ``end``."""
    total = timedelta()
    for since, until in _running(calendar, start, pauses):
        if since >= end:
            break
        total += min(until, end) - since
    return int(total.total_seconds() // 60)


def clock_status(
    *, due_at: datetime | None, done_at: datetime | None, paused: bool, now: datetime
) -> str:
    """``fulfilled``/``failed`` once done; else ``paused``, ``failed`` past due, or ``due``."""
    if done_at is not None:
        return "fulfilled" if due_at is not None and done_at <= due_at else "failed"
    if paused or due_at is None:
        return "paused"
    return "failed" if now > due_at else "due"
