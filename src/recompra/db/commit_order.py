"""Reading a table's rows in commit-safe order: a reader that pages on a position never
moves past a row whose transaction has not committed yet (that row would be skipped for
ever), and never reads a row twice at the same stamp.

A row carries a *stamp*: the transaction that wrote it, or on SQLite nothing at all (its
writers are serialised from their first statement, ``BEGIN IMMEDIATE``, so ids commit in
order and ``id`` alone is the order) or a change number its triggers keep (see
``orders.update_xact_id``). Rows are read in ``(stamp, id)`` order past the reader's
:class:`Position`; on PostgreSQL only rows whose stamp lies below
:class:`~recompra.db.dialect.finished_transactions_horizon` (the oldest transaction of
this database still running) are read. Why that is complete:

* every transaction below the horizon has finished, so the rows read are all the rows
  those transactions will ever write (an aborted one has none);
* a transaction still running, or not yet holding an id, has or gets an id at or above
  the horizon, so its rows sort after the position and are read once it finishes;
* rows of one transaction share a stamp and are read in id order; a page cut by ``limit``
  resumes at the next ``(stamp, id)``, so no row is read twice.

Used by the automation's trigger feeds (``recompra.automation.feeds``), the public
segment-events API (``recompra.segments.queries.events_since``) and the nightly segment
run's fresher-than-the-copy test (``recompra.segments.flows``, :func:`unseen_from`).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVarTuple, cast

from sqlalchemy import BigInteger, ColumnElement, Select, func, literal, select, tuple_
from sqlalchemy.orm import Session

from recompra.db.dialect import Bind, commits_in_id_order, finished_transactions_horizon
from recompra.errors import MalformedCursor

_Ts = TypeVarTuple("_Ts")

_CURSOR_TEXT = re.compile(r"(\d{1,19})\.(\d{1,19})")
_BIGINT_MAX = 2**63 - 1


@dataclass(frozen=True)
class Position:
    """Where a reader stands: the stamp and id of the last row it read (``(0, 0)``: before
    every row)."""

    stamp: int = 0
    id: int = 0

    def encode(self) -> str:
        """The position as an opaque cursor for API clients (URL-safe base64, no padding)."""
        return base64.urlsafe_b64encode(f"{self.stamp}.{self.id}".encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, cursor: str, *, field: str = "cursor") -> Position:
        """The position a cursor from :meth:`encode` stands for; anything else raises
        :class:`~recompra.errors.MalformedCursor`."""
        try:
            text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            text = ""
        match = _CURSOR_TEXT.fullmatch(text)
        if match is None or max(int(match[1]), int(match[2])) > _BIGINT_MAX:
            raise MalformedCursor(
                f"{field} {cursor!r} is not a cursor this API returned: pass the `cursor` of "
                "the previous page unchanged, or none to start at the oldest row",
                field=field,
            )
        return cls(int(match[1]), int(match[2]))


def unseen_from(session: Session, id_column: Any, *where: ColumnElement[bool]) -> Position:
    """A position every row not committed yet lies past (rows of ``id_column``'s
    append-only table, its stamp :func:`insertion_stamp`, ``where`` narrowing it): what a
    reader that copies the table next, in this transaction, may not have seen.

    On SQLite the highest id (ids commit in order); on PostgreSQL ``(horizon, 0)`` with
    the horizon of :class:`~recompra.db.dialect.finished_transactions_horizon`: a row
    whose transaction runs now or starts later has a stamp at or above it, even when its
    id is lower than one already committed. Rows of finished transactions at or above the
    horizon are past it too (a superset: never a row missed)."""
    if commits_in_id_order(session):
        last = session.scalar(select(func.max(id_column)).where(*where))
        return Position(0, int(last or 0))
    return Position(int(session.scalar(select(finished_transactions_horizon())) or 0), 0)


def insertion_stamp(bind: Bind, xact_id: Any) -> Any:
    """The stamp of an append-only table whose ``xact_id`` is its inserting transaction:
    that column on PostgreSQL; ``None`` (read by id) on SQLite, whose ids commit in order."""
    return None if commits_in_id_order(bind) else xact_id


def past(id_column: Any, stamp: Any, position: Position) -> ColumnElement[bool]:
    """The condition of rows past ``position`` in ``(stamp, id)`` order (``id`` order when
    ``stamp`` is ``None``)."""
    if stamp is None:
        return cast(ColumnElement[bool], id_column > position.id)
    # Bound as bigints: a transaction id passes 2^31 (an int's bound) as the server ages.
    after = tuple_(literal(position.stamp, BigInteger()), literal(position.id, BigInteger()))
    return tuple_(stamp, id_column) > after


def read_after(
    session: Session,
    statement: Select[*_Ts],
    *,
    id_column: Any,
    stamp: Any,
    position: Position,
    limit: int,
) -> tuple[Sequence[tuple[*_Ts]], Position]:
    """The next ``limit`` committed rows of ``statement`` past ``position`` in commit-safe
    order (module docstring), and the position after them (``position`` itself when there
    are none). The statement's first column must be ``id_column``; ``stamp`` is the
    table's stamp column, or ``None`` to read by id."""
    statement = statement.where(past(id_column, stamp, position))
    if stamp is None:
        by_id = session.execute(statement.order_by(id_column).limit(limit)).all()
        if not by_id:
            return [], position
        return cast(Sequence[tuple[*_Ts]], by_id), Position(0, cast(Any, by_id[-1])[0])
    if not commits_in_id_order(session):
        statement = statement.where(stamp < finished_transactions_horizon())
    # The stamp is read by the same statement: an update may restamp a row at any time,
    # so a second look could see a later stamp than the one the row was read at.
    stamped = statement.add_columns(stamp.label("commit_order_stamp"))
    rows_with_stamp = session.execute(stamped.order_by(stamp, id_column).limit(limit)).all()
    if not rows_with_stamp:
        return [], position
    last = cast(Any, rows_with_stamp[-1])
    rows = [cast(tuple[*_Ts], tuple(row)[:-1]) for row in rows_with_stamp]
    return rows, Position(int(last[-1]), int(last[0]))
