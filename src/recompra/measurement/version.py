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

The aggregates scan every table the reports read (0.4 s of PostgreSQL at 113,000 runs
and 700,000 events), and the worker checks every pass while the dashboard checks on
every page. On PostgreSQL :func:`version_key` is therefore remembered with the
statements' **visibility snapshot** (``pg_current_snapshot()``: the transactions
finished and those still running as the statement saw them, server-wide): a later
statement whose snapshot is the same one sees exactly the same committed rows, so the
remembered key is that of its data, and the check costs one statement. Any transaction
that wrote (in any database of the server) gets an id and changes the snapshot when it
finishes, so a write is never missed; it only costs the full aggregates once more.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, String, case, cast, func, select
from sqlalchemy.orm import Session

from recompra.db.dialect import is_postgresql
from recompra.models import CustomerScore, Event, Order
from recompra.models.aftersale import EMAIL_RESPONSES
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


#: The reports read only the e-mail clicks and opens (attribution), and a customer merge
#: moves an event to the survivor (hence its customer ids): a sustained stream of other
#: events leaves the reports as they are. The condition is the text of the partial index
#: that holds those rows alone (models/aftersale.py), so the count reads them only.
EMAIL_RESPONSES_VERSION = select(
    func.count(Event.id), func.max(Event.id), func.sum(Event.customer_id)
).where(EMAIL_RESPONSES)


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
        EMAIL_RESPONSES_VERSION,
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


#: The last key computed per PostgreSQL database (its URL): the snapshot its statements
#: saw, the definition it was computed under (a test or a release may change
#: :data:`REPORT_DEFINITION` within the process) and the key (module docstring).
_KNOWN: dict[str, tuple[str, int, str]] = {}
_KNOWN_LOCK = threading.Lock()


def _snapshot(session: Session) -> str | None:
    """The visibility snapshot of the next statement (``xmin:xmax:running ids``), or
    ``None`` when this transaction has written: its own rows are visible to it alone,
    and leave the snapshot as it was."""
    own = func.pg_current_xact_id_if_assigned()
    snapshot = case((own.is_(None), cast(func.pg_current_snapshot(), String)))
    return session.scalar(select(snapshot))


def version_key(session: Session) -> str:
    """The data version, with the reports' definition, as a fixed-size key (SHA-256 of
    its figures) for storage; on PostgreSQL the key remembered for the statement's
    snapshot when the snapshot has not moved since it was computed (module docstring)."""
    bind = session.get_bind()
    before = _snapshot(session) if is_postgresql(bind) else None
    if before is None:
        return _computed_key(session)
    database = bind.engine.url.render_as_string(hide_password=True)
    with _KNOWN_LOCK:
        known = _KNOWN.get(database)
    if known is not None and known[:2] == (before, REPORT_DEFINITION):
        return known[2]
    key = _computed_key(session)
    # Read committed: each aggregate took a snapshot of its own. The key is remembered
    # only when none moved in between: then it is the data of exactly that snapshot.
    if _snapshot(session) == before:
        with _KNOWN_LOCK:
            _KNOWN[database] = (before, REPORT_DEFINITION, key)
    return key


def _computed_key(session: Session) -> str:
    key = (REPORT_DEFINITION, data_version(session))
    return hashlib.sha256(repr(key).encode()).hexdigest()
