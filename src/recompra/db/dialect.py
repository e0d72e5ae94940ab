"""Every SQLite/PostgreSQL difference of the operational database, in one place.

Services ask these helpers instead of testing ``dialect.name`` themselves, so a third
backend (or a change of strategy on one) is a change to this module only. Each helper
accepts whatever the caller holds: a session, connection, engine or the dialect itself.
Migrations keep their own checks (they are frozen history).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Engine,
    Insert,
    Table,
    any_,
    bindparam,
    func,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import QueryableAttribute, Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

Bind = Session | Connection | Engine | Dialect


def dialect_name(bind: Bind) -> str:
    """``"sqlite"`` or ``"postgresql"`` for whatever ``bind`` is."""
    if isinstance(bind, Dialect):
        return str(bind.name)
    if isinstance(bind, Session):
        # ``get_bind()`` without a mapper answers the session's own bind when it has one,
        # after a detour that cost more than the hot path's statements.
        return str((bind.bind or bind.get_bind()).dialect.name)
    return str(bind.dialect.name)


def is_sqlite(bind: Bind) -> bool:
    """Whether ``bind`` talks to SQLite."""
    return dialect_name(bind) == "sqlite"


def is_postgresql(bind: Bind) -> bool:
    """Whether ``bind`` talks to PostgreSQL."""
    return dialect_name(bind) == "postgresql"


def chains_writes(bind: Bind) -> bool:
    """Whether one statement may chain several writes (``INSERT``/``UPDATE ... RETURNING``
    in its ``WITH``), so that a multi-table write is one round trip (PostgreSQL; SQLite
    accepts only ``SELECT`` in a ``WITH``)."""
    return is_postgresql(bind)


def serialises_writes(bind: Bind) -> bool:
    """Whether a write unit of work holds the whole database's write lock from its BEGIN
    (SQLite's ``BEGIN IMMEDIATE``), so that no other writer can interleave with it.

    There, a row lock adds nothing and the reads a write makes after its lock may share
    the locking statement. On PostgreSQL they may not: under read committed a statement
    that waited for a row lock keeps the snapshot it started with, and would miss what
    the previous holder of the lock had just committed.
    """
    return is_sqlite(bind)


def is_lock_timeout(error: OperationalError) -> bool:
    """Whether SQLite gave up waiting for another process's write lock (``busy_timeout``):
    the transaction was rolled back and may be tried again as it was."""
    return "database is locked" in str(error.orig)


def stores_naive_utc(dialect: Dialect) -> bool:
    """Whether timestamps are stored without a zone (as UTC) rather than ``timestamptz``."""
    return is_sqlite(dialect)


@cache
def _insert_ignoring_conflicts(
    dialect: str, table: Table, index_elements: tuple[str, ...], returning: str | None
) -> Insert:
    module: Any = postgresql if dialect == "postgresql" else sqlite
    stmt: Insert = module.insert(table).on_conflict_do_nothing(
        index_elements=index_elements or None
    )
    if returning is not None:
        stmt = stmt.returning(table.c[returning])
    return stmt


def insert_ignoring_conflicts(
    bind: Bind, table: Table, *, index_elements: tuple[str, ...], returning: str | None = None
) -> Insert:
    """``INSERT ... ON CONFLICT (index_elements) DO NOTHING`` for the bind's dialect.

    Empty ``index_elements``: ``ON CONFLICT DO NOTHING``, for a table whose rows are
    unique by one of several (partial) indexes.

    Built once per dialect and table (SQLAlchemy then reuses the compiled form), so hot
    paths can call it per write. With ``returning``, a skipped row returns nothing.
    """
    return _insert_ignoring_conflicts(dialect_name(bind), table, index_elements, returning)


def json_object(bind: Bind, *pairs: Any) -> ColumnElement[Any]:
    """A SQL JSON object built from ``key, value, key, value...`` in the bind's dialect."""
    build = func.jsonb_build_object if is_postgresql(bind) else func.json_object
    return build(*pairs)


def in_values(
    bind: Bind, column: ColumnElement[Any] | QueryableAttribute[Any], values: Collection[Any]
) -> ColumnElement[bool]:
    """``column IN (values)``; on PostgreSQL ``column = ANY(:array)``, one parameter.

    An ``IN`` list is expanded into one placeholder per value, which SQLAlchemy renders
    and psycopg parses again for every statement (neither caches a query that long): for
    a decision batch's 500 ids that was a third of its CPU time on PostgreSQL. SQLite
    has no arrays and keeps ``IN``.
    """
    element = column.expression if isinstance(column, QueryableAttribute) else column
    if is_postgresql(bind):
        array = bindparam(None, list(values), type_=postgresql.ARRAY(element.type))
        return element == any_(array)
    return element.in_(values)


T = TypeVar("T")
#: Tries of :func:`retrying_unique_races` before the conflict is the caller's error.
UNIQUE_RACE_ATTEMPTS = 3


def retrying_unique_races(session: Session, work: Callable[[], T]) -> T:
    """Run ``work`` (a find-or-insert) again when a concurrent transaction inserted the
    same unique key first.

    On PostgreSQL two transactions may both look a key up, both miss it and both insert
    it: the second insert waits for the first transaction, then fails with a unique
    violation. ``work`` therefore runs in a savepoint; on a violation the savepoint is
    rolled back and ``work`` runs again, and its lookup (a new statement under READ
    COMMITTED) now finds the other transaction's row. SQLite write units of work are
    serialised from their first statement (``BEGIN IMMEDIATE``), so no such race exists
    and ``work`` runs once, without a savepoint.
    """
    if not is_postgresql(session):
        return work()
    for attempt in range(1, UNIQUE_RACE_ATTEMPTS + 1):
        try:
            with session.begin_nested():
                return work()
        except IntegrityError:
            if attempt == UNIQUE_RACE_ATTEMPTS:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


class current_transaction(FunctionElement[int]):
    """The 64-bit id of the transaction evaluating it (``pg_current_xact_id()``, an
    ``xid8``, as a ``bigint``: its epoch fits in 31 bits for the next billions of years);
    ``NULL`` on SQLite. The default of the ``xact_id`` column of the tables that trigger
    feeds read and of ``orders.update_xact_id`` (see :mod:`recompra.db.commit_order`)."""

    type = BigInteger()
    inherit_cache = True


class finished_transactions_horizon(FunctionElement[int]):
    """A transaction id below which every transaction that may have written to this
    database has finished, as of the statement's snapshot: its rows are visible to the
    statement, or never will be (it aborted). ``NULL`` on SQLite.

    On PostgreSQL: the oldest transaction the snapshot sees running
    (``pg_snapshot_xip``), leaving out those ``pg_stat_activity`` shows running in
    another database (a transaction writes to one database only), or the snapshot's
    ``xmax`` when none is left. Transaction ids are server-wide: with the plain
    ``pg_snapshot_xmin`` a long writer in any other database of the server would hold
    this one back. A running transaction not found there (a prepared transaction, a
    view of the activity taken earlier in this transaction, a role not allowed to see
    the other's session) counts as this database's: it can delay, never skip.
    ``pg_stat_activity`` shows the 32-bit ``xid``, compared modulo 2^32.
    """

    type = BigInteger()
    inherit_cache = True


@compiles(current_transaction, "postgresql")
def _current_transaction_postgresql(element: Any, compiler: SQLCompiler, **kw: Any) -> str:
    return "(pg_current_xact_id()::text::bigint)"


@compiles(finished_transactions_horizon, "postgresql")
def _horizon_postgresql(element: Any, compiler: SQLCompiler, **kw: Any) -> str:
    # pg_current_snapshot() is the statement's snapshot: the rows it reads and the
    # running transactions it lists are seen at the same instant.
    return (
        "(SELECT coalesce(min(running.xid::text::bigint),"
        " pg_snapshot_xmax(pg_current_snapshot())::text::bigint)"
        " FROM pg_snapshot_xip(pg_current_snapshot()) AS running(xid)"
        " WHERE NOT EXISTS (SELECT FROM pg_stat_activity AS other"
        " WHERE other.backend_xid::text::bigint = mod(running.xid::text::bigint, 4294967296)"
        " AND other.datname <> current_database()))"
    )


@compiles(current_transaction)
@compiles(finished_transactions_horizon)
def _no_transaction_ids(element: Any, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite has no transaction ids; its feeds read by id (one writer, ids commit in order).
    return "NULL"


def commits_in_id_order(bind: Bind) -> bool:
    """Whether rows commit in the order of their ids, so that a feed may read up to the
    highest id it sees: SQLite (one writer at a time, ``BEGIN IMMEDIATE``). On PostgreSQL
    a transaction holding a lower id may commit after a higher id was read, so feeds
    read in the order of ``xact_id`` below :class:`finished_transactions_horizon`."""
    return is_sqlite(bind)
