"""Frequency caps: when a customer may receive the next marketing message on a channel.

Three kinds, all counted per customer and channel over the outbox's counted states
(decided to be delivered): the installation's rolling caps (``ContactPolicy.caps``, e.g.
3 e-mails per 7 days), its calendar-day caps (``ContactPolicy.daily_caps``: at most N
per local day in the policy's time zone) and a journey's own caps (``caps`` in its
definition: rolling ``window`` or ``per: day`` in the journey's time zone, counting only
that journey's messages). A send over any of them is deferred to the first moment every
cap allows it again — when the oldest counted message leaves a rolling window, the next
local midnight for a day cap — or skipped, as its node says.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from recompra.automation.batch import Counted
from recompra.automation.definition import parse_duration
from recompra.automation.schedule import ContactPolicy

#: The kinds of cap; a deferred timer's reason is ``cap`` for the rolling one (as before
#: calendar-day and journey caps existed), ``cap_<kind>`` for the others.
ROLLING, DAILY, JOURNEY_ROLLING, JOURNEY_DAILY = "rolling", "day", "journey", "journey_day"
CAP_REASONS = ("cap", "cap_day", "cap_journey", "cap_journey_day")


@dataclass(frozen=True)
class Capped:
    """A send a cap holds back: the first moment all caps allow it, and the cap that bound."""

    until: datetime
    kind: str

    @property
    def reason(self) -> str:
        """The deferred timer's reason (see :data:`CAP_REASONS`)."""
        return "cap" if self.kind == ROLLING else f"cap_{self.kind}"


def _local_day(now: datetime, timezone: str) -> tuple[datetime, datetime]:
    """The start of ``now``'s local day and of the next, in UTC."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(now.astimezone(zone).date(), datetime.min.time(), zone)
    following = datetime.combine(start.date() + timedelta(days=1), datetime.min.time(), zone)
    return start.astimezone(UTC), following.astimezone(UTC)


def _rolling(
    counted: list[Counted], limit: int, window: timedelta, now: datetime
) -> datetime | None:
    """When a rolling cap allows one more (``None``: it allows one now)."""
    inside = sorted(c.decided_at for c in counted if c.decided_at > now - window)
    if len(inside) < limit:
        return None
    # One more fits when all but limit - 1 of them have left the window.
    return max(inside[len(inside) - limit] + window, now)


def _daily(counted: list[Counted], limit: int, now: datetime, timezone: str) -> datetime | None:
    """When a calendar-day cap allows one more (``None``: it allows one now)."""
    start, following = _local_day(now, timezone)
    return following if sum(1 for c in counted if c.decided_at >= start) >= limit else None


def capped(
    policy: ContactPolicy,
    journey: dict[str, Any],
    journey_id: int,
    channel: str,
    counted: list[Counted],
    now: datetime,
) -> Capped | None:
    """The binding cap of a marketing send on ``channel``, or ``None`` when all allow it."""
    blocked: list[Capped] = []
    cap = policy.caps.get(channel)
    if cap is not None and (until := _rolling(counted, cap.limit, cap.window, now)):
        blocked.append(Capped(until, ROLLING))
    daily = policy.daily_caps.get(channel)
    if daily is not None and (until := _daily(counted, daily, now, policy.timezone)):
        blocked.append(Capped(until, DAILY))
    own = [c for c in counted if c.journey_id == journey_id]
    for rule in journey.get("caps", ()):
        if rule.get("per") == "day":
            until = _daily(own, rule["limit"], now, journey["timezone"])
            reason = JOURNEY_DAILY
        else:
            until = _rolling(own, rule["limit"], parse_duration(rule["window"]), now)
            reason = JOURNEY_ROLLING
        if until is not None:
            blocked.append(Capped(until, reason))
    # The latest of them: the first moment every cap allows the send.
    return max(blocked, key=lambda c: c.until) if blocked else None


def lookback(policy: ContactPolicy, journeys: list[dict[str, Any]]) -> timedelta:
    """How far back counted messages matter to ``policy`` and ``journeys``' caps."""
    windows = [cap.window for cap in policy.caps.values()]
    # A local day is at most 25 hours long (a daylight-saving change): two days cover it.
    windows.append(timedelta(days=2))
    for journey in journeys:
        windows.extend(
            parse_duration(rule["window"])
            for rule in journey.get("caps", ())
            if rule.get("per") != "day"
        )
    return max(windows)
