"""What every trigger feed shares: its cursor row (locked, so two workers never read the
same slice) and reading a table in commit-safe order. (Starting the journeys a feed's
rows trigger: :mod:`recompra.automation.runs`.)

A feed must never move its cursor past a row whose transaction has not committed yet:
that row would be skipped for ever. Each feed reads through
:func:`recompra.db.commit_order.read_after` (why that is complete: its docstring), its
cursor row holding the :class:`~recompra.db.commit_order.Position` of the last row read
(``xact_position``, ``position``):

* :data:`ID_FEEDS` read the rows a table appends. On SQLite, write transactions are
  serialised from their first statement (``BEGIN IMMEDIATE``), so ids commit in order and
  a feed reads on by id at once. On PostgreSQL a transaction may take a lower id and
  commit after a higher one was read: each table carries ``xact_id``, the inserting
  transaction (:class:`~recompra.models.base.FeedOrdered`), and the feed reads in
  ``(xact_id, id)`` order below the horizon of finished transactions.
* :data:`CHANGE_FEEDS` read a table's rows again each time they change (``order_updates``:
  an order paid, shipped, delivered, canceled). An update keeps the row's ``xact_id``, so
  the table carries a second stamp that **every** insert and update sets, by a trigger in
  the database (so Core bulk updates and imports are stamped too): on PostgreSQL the
  transaction id (``orders.update_xact_id``), on SQLite a change number, one above the
  table's highest (one writer at a time, so numbers are taken in commit order). A row is
  read once per committed transaction that changed it, in ``(stamp, id)`` order.

A row waits only while an older transaction of this database that holds an id is still
running: as soon as those are done (milliseconds for the hub's writes), not after a fixed
delay. A long writer holds the feeds back for as long as it runs (:func:`held_back` tells
the worker to look again shortly).

``xact_id`` is the 64-bit ``xid8`` (as a ``bigint``), not the 32-bit system column
``xmin``, which wraps around and changes when a row is updated.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVarTuple

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from recompra.db.commit_order import Position, insertion_stamp, past, read_after, unseen_from
from recompra.db.dialect import commits_in_id_order, insert_ignoring_conflicts
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
#: The feeds of changes, and the table each reads (its stamp: ``update_xact_id``).
CHANGE_FEEDS: dict[str, type[Order]] = {"order_updates": Order}


def cursor(
    session: Session,
    feed: str,
    *,
    start: int = 0,
    start_stamp: int = 0,
    begin: Callable[[], Position] | None = None,
) -> FeedCursor | None:
    """The feed's cursor row, locked; ``None`` when another worker holds it. A missing
    row is created at ``begin()`` when given (read only then), else at
    ``(start_stamp, start)``. One statement when the row exists and is free."""
    locked = select(FeedCursor).where(FeedCursor.feed == feed).with_for_update(skip_locked=True)
    row = session.scalar(locked)
    if row is not None:
        return row
    if session.scalar(select(FeedCursor.feed).where(FeedCursor.feed == feed)) is not None:
        return None  # there, and locked by another worker
    at = begin() if begin is not None else Position(start_stamp, start)
    session.execute(
        insert_ignoring_conflicts(session, CURSORS, index_elements=("feed",)),
        {"feed": feed, "position": at.id, "xact_position": at.stamp},
    )
    return session.scalar(locked)


def _table_and_stamp(session: Session, feed: str) -> tuple[Any, Any]:
    """The table ``feed`` reads and the stamp it is ordered by (``None``: by id)."""
    if feed in CHANGE_FEEDS:
        table: Any = CHANGE_FEEDS[feed]
        return table, table.update_xact_id
    table = ID_FEEDS[feed]
    return table, insertion_stamp(session, table.xact_id)


def _read(
    session: Session, feed: str, statement: Select[*_Ts], *, limit: int
) -> Sequence[tuple[*_Ts]]:
    table, stamp = _table_and_stamp(session, feed)
    # A feed without a cursor (added on an installation with history, or its row deleted)
    # starts at its end, as `create_cursors_at_end` does: from the start it would replay
    # every order, event... ever written (and send their journeys' messages) before any
    # journey asked for them.
    position = cursor(session, feed, begin=lambda: _end(session, table, stamp))
    if position is None:
        return []
    rows, last = read_after(
        session,
        statement,
        id_column=table.id,
        stamp=stamp,
        position=Position(position.xact_position, position.position),
        limit=limit,
    )
    position.xact_position, position.position = last.stamp, last.id
    return rows


def read_by_id(
    session: Session, feed: str, statement: Select[*_Ts], *, limit: int
) -> Sequence[tuple[*_Ts]]:
    """The next ``limit`` committed rows of the append-only table of ``feed`` (see
    :data:`ID_FEEDS`) past its cursor, in feed order (module docstring), with the cursor
    moved past them; none when another worker holds the feed. The statement's first
    column is the table's id."""
    return _read(session, feed, statement, limit=limit)


def read_changes(
    session: Session, feed: str, statement: Select[*_Ts], *, limit: int
) -> Sequence[tuple[*_Ts]]:
    """The next ``limit`` committed changes of the table of ``feed`` (see
    :data:`CHANGE_FEEDS`) past its cursor, with the cursor moved past them: each row
    changed since the last read once, as it stands now (however many transactions
    changed it in between); none when another worker holds the feed. The statement's
    first column is the table's id."""
    return _read(session, feed, statement, limit=limit)


def _feeds() -> list[str]:
    return [*ID_FEEDS, *CHANGE_FEEDS]


def held_back(session: Session) -> bool:
    """Whether a feed has committed rows past its cursor that it could not read yet (on
    PostgreSQL, behind an older transaction still running): worth another look soon."""
    positions = {c.feed: c for c in session.scalars(select(FeedCursor))}
    for feed in _feeds():
        table, stamp = _table_and_stamp(session, feed)
        position = positions.get(feed)
        at = Position(position.xact_position, position.position) if position else Position()
        if session.scalar(select(table.id).where(past(table.id, stamp, at)).limit(1)) is not None:
            return True
    return False


def _end(session: Session, table: Any, stamp: Any) -> Position:
    """Where a new cursor of the feed starts: past every row committed so far, before
    every row still to commit. On SQLite the feed's last row (in feed order: writers are
    serialised); on PostgreSQL the horizon of finished transactions
    (:func:`~recompra.db.commit_order.unseen_from`), so the rows of a transaction still
    running, even one holding lower ids or stamps than rows already committed, are read
    when it commits (and a few committed rows at or above the horizon are read too)."""
    if stamp is None or not commits_in_id_order(session):
        return unseen_from(session, table.id)
    last = session.execute(
        select(stamp, table.id).order_by(stamp.desc().nulls_last(), table.id.desc()).limit(1)
    ).first()
    return Position(last[0], last[1]) if last is not None else Position()


def create_cursors_at_end(session: Session) -> None:
    """Create the cursor of each feed that has none at the feed's current end
    (:func:`_end`), so that it reads only rows written (or, for a change feed, changed)
    afterwards."""
    for feed in _feeds():
        end = _end(session, *_table_and_stamp(session, feed))
        session.execute(
            insert_ignoring_conflicts(session, CURSORS, index_elements=("feed",)),
            {"feed": feed, "xact_position": end.stamp, "position": end.id},
        )
