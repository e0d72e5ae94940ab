"""The data version of the measurement reports: what they read, summarised.

The reports' inputs change only when orders, runs, messages, events, scores or loyalty
movements are written. The **data version** is one aggregate statement per table read
(rows, highest id, and what in-place updates change: order totals and statuses, run
arms, outbox states, redemption cancellations, account and journey updates, score runs);
equal versions give equal reports. The worker stores a report with the version it read
and recomputes it when the version moves (:mod:`recompra.measurement.reports`).

The uplift report also depends on the clock: a run matures when its outcome window
closes, and the entry rate counts entries per day up to today. A stored uplift report
is therefore current only before the next such moment (:func:`next_change`).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from recompra.models import CustomerScore, Event, Order
from recompra.models.automation import Journey, JourneyRun, JourneyVersion, OutboxMessage
from recompra.models.loyalty import (
    LoyaltyAccount,
    LoyaltyMovement,
    LoyaltyProgram,
    LoyaltyRedemption,
)
from recompra.snapshot.schema import NON_PURCHASE_STATUSES


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


def next_change(session: Session, now: datetime, window_days: int) -> datetime:
    """The first moment after ``now`` at which the uplift report would change with no
    write: a run's outcome window closing (journeys and their messages both count from
    entry), or the next UTC day."""
    window = timedelta(days=window_days)
    moments = [datetime.combine(now.date() + timedelta(days=1), time(0), tzinfo=UTC)]
    first = session.scalar(
        select(func.min(JourneyRun.started_at)).where(JourneyRun.started_at > now - window)
    )
    if first is not None:
        moments.append(first + window)
    return min(moments)


#: The version of the reports' definitions. Bump it with any change that moves a stored
#: figure (e.g. how a message's incremental revenue is counted): reports stored under
#: another definition stop being current and the worker computes them again, instead of
#: showing the old figure until the data changes.
REPORT_DEFINITION = 2


def version_key(session: Session) -> str:
    """The data version, with the reports' definition, as a fixed-size key (SHA-256 of
    its figures) for storage."""
    key = (REPORT_DEFINITION, data_version(session))
    return hashlib.sha256(repr(key).encode()).hexdigest()
