"""What every trigger feed shares: its cursor row (locked, so two workers never read the
same slice) and reading a table in commit-safe order. (Starting the journeys a feed's
rows trigger: :mod:`recompra.automation.runs`.)

Reading by id (:data:`ID_FEEDS`). A feed must never move its cursor past a row whose
transaction has not committed yet: that row would be skipped for ever. On SQLite, write
transactions are serialised from their first statement (``BEGIN IMMEDIATE``), so ids
commit in order and a feed reads on by id at once. On PostgreSQL a transaction may take
a lower id and commit after a higher one was read. There, each feed table carries
``xact_id``, the id of the transaction that inserted the row
(:class:`~recompra.models.base.FeedOrdered`), and a feed reads only rows whose
``xact_id`` lies below the horizon of
:class:`~recompra.db.dialect.finished_transactions_horizon` (the oldest transaction of
this database still running in the read's snapshot, from ``pg_snapshot_xip``), in
``(xact_id, id)`` order, its cursor on ``(xact_id, id)``. Why that is complete and prompt:

* every transaction of this database below the horizon has finished, so the rows read
  are all the rows those transactions will ever have (an aborted one has none);
* a transaction still running, or not yet holding an id, has or gets an id at or above
  the horizon, so its rows sort after the cursor and are read once it finishes;
* rows of one transaction share an ``xact_id`` and are read in id order; a slice cut by
  ``limit`` resumes at the next ``(xact_id, id)``, so no row is read twice;
* a row waits only while an older transaction of this database that holds an id is
  still running: as soon as those are done (milliseconds for the hub's writes), not
  after a fixed delay. A long writer holds the feeds back for as long as it runs
  (:func:`held_back` tells the worker to look again shortly).

``xact_id`` is the 64-bit ``xid8`` (as a ``bigint``), not the 32-bit system column
``xmin``, which wraps around and changes when a row is updated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVarTuple, cast

from sqlalchemy import BigInteger, Row, Select, func, literal, select, tuple_
from sqlalchemy.orm import Session

from recompra.db.dialect import (
    commits_in_id_order,
    finished_transactions_horizon,
    insert_ignoring_conflicts,
)
from recompra.models import Event, LoyaltyTierChange, Order, Return, Review
from recompra.models.automation import CURSORS, FeedCursor
from recompra.models.base import FeedOrdered
from recompra.models.segments import SegmentMembershipEvent

_Ts = TypeVarTuple("_Ts")

#: The feeds read by id, and the table each reads.
ID_FEEDS: dict[str, type[FeedOrdered]] = {
    "orders": Order,
    "returns": Return,
    "reviews": Review,
    "events": Event,
    "segment_events": SegmentMembershipEvent,
    "tier_changes": LoyaltyTierChange,
}


def cursor(session: Session, feed: str, *, start: int = 0) -> FeedCursor | None:
    """The feed's cursor row (created at ``start``), locked; ``None`` when another worker
    holds it."""
    session.execute(
        insert_ignoring_conflicts(session, CURSORS, index_elements=("feed",)),
        {"feed": feed, "position": start},
    )
    return session.scalar(
        select(FeedCursor).where(FeedCursor.feed == feed).with_for_update(skip_locked=True)
    )


def _past(session: Session, model: Any, position: FeedCursor) -> Any:
    """The condition of ``model``'s rows past the cursor ``position``, in feed order."""
    if commits_in_id_order(session):
        return model.id > position.position
    # Bound as bigints: a transaction id passes 2^31 (an int's bound) as the server ages.
    after = tuple_(
        literal(position.xact_position, BigInteger()), literal(position.position, BigInteger())
    )
    return tuple_(model.xact_id, model.id) > after


def read_by_id(
    session: Session, feed: str, statement: Select[*_Ts], *, limit: int
) -> Sequence[Row[*_Ts]]:
    """The next ``limit`` committed rows of the append-only table of ``feed`` (see
    :data:`ID_FEEDS`) past its cursor, in feed order (module docstring), with the cursor
    moved past them; none when another worker holds the feed. The statement's first
    column is the table's id."""
    model: Any = ID_FEEDS[feed]
    position = cursor(session, feed)
    if position is None:
        return []
    statement = statement.where(_past(session, model, position))
    if commits_in_id_order(session):
        statement = statement.order_by(model.id)
    else:
        statement = statement.where(model.xact_id < finished_transactions_horizon()).order_by(
            model.xact_id, model.id
        )
    rows = session.execute(statement.limit(limit)).all()
    if rows:
        last = cast(Any, rows[-1])[0]
        if not commits_in_id_order(session):
            position.xact_position = session.execute(
                select(model.xact_id).where(model.id == last)
            ).scalar_one()
        position.position = last
    return rows


def held_back(session: Session) -> bool:
    """Whether a feed has committed rows past its cursor that it could not read yet (on
    PostgreSQL, behind an older transaction still running): worth another look soon."""
    positions = {c.feed: c for c in session.scalars(select(FeedCursor))}
    for feed, model in ID_FEEDS.items():
        table: Any = model
        position = positions.get(feed) or FeedCursor(feed=feed, position=0, xact_position=0)
        past = select(table.id).where(_past(session, table, position)).limit(1)
        if session.scalar(past) is not None:
            return True
    return False


def create_cursors_at_end(session: Session) -> None:
    """Create the cursor of each feed of :data:`ID_FEEDS` that has none at the feed's
    current last row (in feed order), so that it reads only rows written afterwards."""
    for feed, model in ID_FEEDS.items():
        table: Any = model
        if commits_in_id_order(session):
            end = (0, session.scalar(select(func.max(table.id))) or 0)
        else:
            last = session.execute(
                select(table.xact_id, table.id)
                .order_by(table.xact_id.desc(), table.id.desc())
                .limit(1)
            ).first()
            end = (last[0], last[1]) if last is not None else (0, 0)
        session.execute(
            insert_ignoring_conflicts(session, CURSORS, index_elements=("feed",)),
            {"feed": feed, "xact_position": end[0], "position": end[1]},
        )
