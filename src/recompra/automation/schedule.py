"""Time and chance in journeys: wait windows in a local time zone, quiet hours, frequency
caps, and the stable hashes behind holdouts and random splits.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from recompra.automation.definition import WEEKDAYS, parse_clock, parse_duration


@dataclass(frozen=True)
class Cap:
    """At most ``limit`` messages on a channel per customer in a rolling ``window``."""

    limit: int
    window: timedelta


@dataclass(frozen=True)
class ContactPolicy:
    """Rules that hold across every journey: caps per channel and quiet hours.

    Calendar-day caps and quiet hours are local to ``timezone``; a marketing send
    decided inside quiet hours is deferred to their end. Transactional messages are
    exempt from caps and quiet hours.
    """

    caps: dict[str, Cap] = field(
        default_factory=lambda: {
            "email": Cap(limit=3, window=timedelta(days=7)),
            "webhook": Cap(limit=2, window=timedelta(days=1)),
        }
    )
    #: At most this many marketing messages per channel per local day (calendar day in
    #: ``timezone``), besides the rolling caps; none by default.
    daily_caps: dict[str, int] = field(default_factory=dict)
    quiet_from: str | None = "21:00"
    quiet_to: str | None = "08:00"
    timezone: str = "America/Sao_Paulo"


def unit_interval(*parts: object) -> float:
    """A stable number in [0, 1) from ``parts`` (SHA-256; the same across processes)."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def in_holdout(journey_key: str, customer_id: int, percent: float) -> bool:
    """Whether the customer is in the journey's holdout (stable across runs and versions)."""
    return unit_interval("holdout", journey_key, customer_id) * 100 < percent


def split_branch(journey_key: str, node: str, customer_id: int, weights: list[int]) -> int:
    """The branch index the customer takes at a weighted random split (deterministic)."""
    point = unit_interval("split", journey_key, node, customer_id) * sum(weights)
    for index, weight in enumerate(weights):
        point -= weight
        if point < 0:
            return index
    return len(weights) - 1


def wait_until(node: dict[str, Any], now: datetime, timezone: str) -> datetime:
    """When a ``wait`` node ends: after its duration, then at the next allowed window slot."""
    due = now + parse_duration(node["duration"])
    window = node.get("window")
    if window is None:
        return due
    return next_in_window(
        due,
        start=window["from"],
        end=window["to"],
        weekdays=window["weekdays"],
        timezone=timezone,
    )


def next_in_window(
    moment: datetime, *, start: str, end: str, weekdays: list[str], timezone: str
) -> datetime:
    """The first instant at or after ``moment`` inside ``start``-``end`` local time on an
    allowed weekday (a window whose end is before its start spans midnight)."""
    zone = ZoneInfo(timezone)
    local = moment.astimezone(zone)
    begin, finish = parse_clock(start), parse_clock(end)
    allowed = {WEEKDAYS.index(day) for day in weekdays}
    for offset in range(8):
        day = (local + timedelta(days=offset)).date()
        opens = datetime.combine(day, begin, zone)
        closes = datetime.combine(day, finish, zone)
        if closes <= opens:
            closes += timedelta(days=1)
        # The previous day's overnight window may still be open at ``local``.
        spans = [(opens - timedelta(days=1), closes - timedelta(days=1)), (opens, closes)]
        for window_open, window_close in spans:
            if window_open.weekday() not in allowed or window_close <= local:
                continue
            return max(window_open, local).astimezone(UTC)
    raise ValueError("a window with at least one weekday always opens within a week")


def quiet_until(policy: ContactPolicy, now: datetime) -> datetime | None:
    """The end of the quiet hours ``now`` falls in, or ``None`` outside them."""
    if policy.quiet_from is None or policy.quiet_to is None:
        return None
    zone = ZoneInfo(policy.timezone)
    local = now.astimezone(zone)
    begin, finish = parse_clock(policy.quiet_from), parse_clock(policy.quiet_to)
    for offset in (-1, 0):
        day = (local + timedelta(days=offset)).date()
        opens = datetime.combine(day, begin, zone)
        closes = datetime.combine(day, finish, zone)
        if closes <= opens:
            closes += timedelta(days=1)
        if opens <= local < closes:
            return closes.astimezone(UTC)
    return None
