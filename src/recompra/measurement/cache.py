"""The measurement reports, computed once per data version and reused until it changes.

The page "O que cada ação rendeu" cost over half a second of CPU per view (the program
ROI matches members day by day; each journey's comparison reads its runs, outbox and
orders and runs the statistics), and its inputs change only when orders, runs,
messages, events, scores or loyalty movements are written. A view first reads the
**data version** — one aggregate statement over those tables (rows, highest id, and
what in-place updates change: order totals and statuses, run arms, outbox states,
redemption cancellations, account and journey updates, score runs) — and reuses the
report computed for the same version, brand and settings.

The uplift report also depends on the clock: a run matures when its outcome window
closes, and the entry rate counts entries per day up to today. A cached uplift report is
therefore reused only before the next such moment (the next window to close among runs
and decided messages, or midnight UTC), so it is the report that would be computed now.
The CLI keeps computing afresh (one report per process); the page and the API reuse.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from recompra.measurement.loyalty_roi import RoiSettings
from recompra.measurement.service import roi_report, uplift_report
from recompra.measurement.uplift import Settings
from recompra.models import CustomerScore, Event, Order
from recompra.models.automation import Journey, JourneyRun, JourneyVersion, OutboxMessage
from recompra.models.loyalty import (
    LoyaltyAccount,
    LoyaltyMovement,
    LoyaltyProgram,
    LoyaltyRedemption,
)
from recompra.snapshot.schema import NON_PURCHASE_STATUSES


@dataclass(frozen=True)
class _Cached:
    version: tuple[Any, ...]
    computed_at: datetime
    valid_until: datetime | None
    report: dict[str, Any]


_REPORTS: dict[tuple[Any, ...], _Cached] = {}
_LOCK = threading.Lock()


def _count(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.sum(case((condition, 1), else_=0))


def data_version(session: Session) -> tuple[Any, ...]:
    """What the reports read, summarised: equal versions give equal reports."""
    figures = [
        func.count(Order.id),
        func.max(Order.id),
        func.sum(Order.total_minor),
        func.sum(Order.customer_id),
        _count(Order.status.in_(NON_PURCHASE_STATUSES)),
    ]
    version: list[Any] = list(session.execute(select(*figures)).one())
    for statement in (
        select(
            func.count(JourneyRun.id), func.max(JourneyRun.id), _count(JourneyRun.holdout.is_(True))
        ),
        select(
            func.count(OutboxMessage.id),
            func.max(OutboxMessage.id),
            func.count(OutboxMessage.sent_at),
            *(
                _count(OutboxMessage.state == state)
                for state in ("pending", "sending", "sent", "held_out", "suppressed")
            ),
        ),
        select(func.count(Event.id), func.max(Event.id)),
        select(
            func.count(CustomerScore.id),
            func.max(CustomerScore.id),
            func.max(CustomerScore.computed_at),
        ),
        select(func.count(Journey.id), func.max(Journey.updated_at)),
        select(func.count(JourneyVersion.id), func.max(JourneyVersion.id)),
        select(func.count(LoyaltyMovement.id), func.max(LoyaltyMovement.id)),
        select(
            func.count(LoyaltyRedemption.id),
            func.max(LoyaltyRedemption.id),
            func.count(LoyaltyRedemption.cancelled_at),
        ),
        select(func.count(LoyaltyAccount.id), func.max(LoyaltyAccount.updated_at)),
        select(func.count(LoyaltyProgram.id), _count(LoyaltyProgram.status == "active")),
    ):
        version.extend(session.execute(statement).one())
    return tuple(version)


def _next_change(session: Session, now: datetime, window_days: int) -> datetime:
    """The first moment after ``now`` at which the uplift report would change with no
    write: a run's or a decided message's window closing, or the next UTC day."""
    window = timedelta(days=window_days)
    moments = [datetime.combine(now.date() + timedelta(days=1), time(0), tzinfo=UTC)]
    for column in (JourneyRun.started_at, OutboxMessage.decided_at):
        first = session.scalar(select(func.min(column)).where(column > now - window))
        if first is not None:
            moments.append(first + window)
    return min(moments)


def _reuse(
    key: tuple[Any, ...],
    version: tuple[Any, ...],
    now: datetime,
    compute: Callable[[], dict[str, Any]],
    valid_until: Callable[[], datetime | None],
) -> dict[str, Any]:
    with _LOCK:
        hit = _REPORTS.get(key)
    if (
        hit is not None
        and hit.version == version
        and hit.computed_at <= now
        and (hit.valid_until is None or now < hit.valid_until)
    ):
        return hit.report
    report = compute()
    with _LOCK:
        _REPORTS[key] = _Cached(version, now, valid_until(), report)
    return report


def cached_uplift_report(
    session: Session,
    *,
    brand_id: int,
    now: datetime,
    journey_key: str | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """:func:`recompra.measurement.service.uplift_report`, reused while the data version
    holds and no window closes (``generated_at`` is ``now``)."""
    settings = settings or Settings()
    report = _reuse(
        ("uplift", brand_id, journey_key, settings),
        data_version(session),
        now,
        lambda: uplift_report(
            session, brand_id=brand_id, now=now, journey_key=journey_key, settings=settings
        ),
        lambda: _next_change(session, now, settings.window_days),
    )
    return {**report, "generated_at": now.isoformat()}


def cached_roi_report(
    session: Session, *, brand_id: int, settings: RoiSettings | None = None
) -> dict[str, Any]:
    """:func:`recompra.measurement.service.roi_report` (as of the last purchase day, so
    it depends on the data only), reused while the data version holds."""
    settings = settings or RoiSettings()
    return _reuse(
        ("roi", brand_id, settings),
        data_version(session),
        datetime.min.replace(tzinfo=UTC),
        lambda: roi_report(session, brand_id=brand_id, settings=settings),
        lambda: None,
    )
