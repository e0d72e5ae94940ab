"""Challenge and quiz periods: the key a reward is unique by, and the period's bounds.

A period is a calendar ``month``, ``quarter`` or ``year`` in UTC, or ``once`` (the whole
life of the definition). Bounds are half-open, ``[start, end)``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from recompra.errors import InvalidInput
from recompra.models.engagement import PERIODS

#: Bounds of the ``once`` period: the definition's own window limits it.
BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)
END_OF_TIME = datetime(9999, 1, 1, tzinfo=UTC)


def check_period(period: str) -> None:
    """Refuse an unknown period name."""
    if period not in PERIODS:
        raise InvalidInput(f"period must be one of {', '.join(PERIODS)}", field="period")


def month_start(year: int, month: int) -> datetime:
    """The first instant of a calendar month (months past 12 roll into the next year)."""
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return datetime(year, month, 1, tzinfo=UTC)


def period_key(period: str, at: datetime) -> str:
    """The period containing ``at``: ``once``, ``2026``, ``2026-Q4`` or ``2026-12``."""
    at = at.astimezone(UTC)
    if period == "month":
        return f"{at.year:04d}-{at.month:02d}"
    if period == "quarter":
        return f"{at.year:04d}-Q{(at.month - 1) // 3 + 1}"
    if period == "year":
        return f"{at.year:04d}"
    return "once"


def period_bounds(period: str, at: datetime) -> tuple[datetime, datetime]:
    """The ``[start, end)`` of the period containing ``at``."""
    at = at.astimezone(UTC)
    if period == "month":
        return month_start(at.year, at.month), month_start(at.year, at.month + 1)
    if period == "quarter":
        first = 3 * ((at.month - 1) // 3) + 1
        return month_start(at.year, first), month_start(at.year, first + 3)
    if period == "year":
        return month_start(at.year, 1), month_start(at.year + 1, 1)
    return BEGINNING, END_OF_TIME
