"""The loyalty hot path's statements, compiled once per dialect and run on the driver cursor.

Every ledger write runs about ten statements. Through ``Connection.execute`` each costs
~40 µs of SQLAlchemy (execution context, parameter and result set-up) against ~2 µs for
the driver itself, measured on SQLite: more than the database work of the whole write.
The statements stay Core constructs (one definition for both dialects, typed columns);
:class:`Prepared` compiles one once per dialect, and :func:`run` applies the column
types' bind and result processors (timezone-aware timestamps, JSON) and executes it on
the session's own DBAPI connection, inside the session's transaction. The engine's
``before_cursor_execute``/``after_cursor_execute`` listeners still see every statement
(the automation wake-ups and the statement counters rely on them).

Only statements whose every parameter is given by the caller qualify: an ``INSERT`` must
list all the columns it writes, since no Python-side column default runs here.
"""

from __future__ import annotations

import threading
import weakref
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any, TypeAlias, TypeGuard, cast

from sqlalchemy import Connection, DateTime, Engine, Table, TypeDecorator, literal_column
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Dialect, processors
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.visitors import replacement_traverse

from recompra.db import UNIT_CONNECTION
from recompra.models.base import UTCDateTime, as_utc, to_utc

Processor = Callable[[Any], Any]
#: A row a prepared statement returned: a named tuple, read by attribute or index like a
#: ``sqlalchemy.Row``.
Record: TypeAlias = Any
_CONNECTION = "recompra_prepared_connection"
#: Timestamp bind processors shared by all statements (:func:`_shared_timestamp_processor`).
_timestamp_processors: dict[tuple[str, type, bool], _LastTimestamp] = {}
#: Rendering an engine's URL cost more than the rule lookup it keys.
_database_keys: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class _Compiled:
    """One statement's SQL for one dialect, and how to convert values in and out."""

    sql: str
    #: Whether the driver takes a tuple (sqlite3's ``?``) rather than a dict (psycopg).
    positional: bool
    #: The parameters' names, in placeholder order when positional.
    names: tuple[str, ...]
    #: The caller's values of ``names``, as a tuple (one C call: ``itemgetter``).
    values: Callable[[Mapping[str, Any]], tuple[Any, ...]]
    #: The positions in ``names`` whose value needs its bind processor, and that processor.
    converts: tuple[tuple[int, Processor], ...]
    #: Values the statement carries itself that the dialect cannot write as literals,
    #: merged under the caller's.
    fixed: dict[str, Any]
    row: Callable[..., Any] | None
    #: The returned columns that need their result processor, by position.
    results: tuple[tuple[int, Processor], ...]
    #: Whether the driver keeps it prepared on the server (see :class:`Prepared`).
    server_prepared: bool = False


class Prepared:
    """A Core statement compiled once per dialect for :func:`run`.

    ``statement`` is the construct, or a function building it for a dialect (for
    dialect-specific constructs such as ``ON CONFLICT``); ``columns`` lists an
    ``INSERT``'s columns (the keys every call passes).

    ``server_prepared`` (PostgreSQL): the driver prepares the statement on the server once
    per connection and runs the prepared statement afterwards. The engine prepares nothing
    by default (``db.make_engine``: a generic plan of the hub's ``IN`` lists was ruinous);
    a hot statement whose plan does not depend on its values (lookups by key) is worth it:
    planning the earn's head and its order lines cost PostgreSQL more CPU than running them
    (0.7 and 0.4 ms against the whole server-side earn's 0.8, measured on the loaded
    benchmark machine).
    """

    def __init__(
        self,
        statement: ClauseElement | Callable[[Dialect], ClauseElement],
        *,
        columns: Sequence[str] | None = None,
        server_prepared: bool = False,
    ):
        self._statement = statement
        self._columns = list(columns) if columns is not None else None
        self._server_prepared = server_prepared
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def for_dialect(self, dialect: Dialect) -> _Compiled:
        """The statement compiled for ``dialect`` (compiled on first use)."""
        found = self._compiled.get(dialect.name)
        if found is None:
            with self._lock:
                found = self._compiled.setdefault(dialect.name, self._compile(dialect))
        return found

    def _compile(self, dialect: Dialect) -> _Compiled:
        statement = (
            self._statement
            if isinstance(self._statement, ClauseElement)
            else self._statement(dialect)
        )
        statement = _constants_inlined(statement, dialect)
        compiled = statement.compile(dialect=dialect, column_keys=self._columns)
        assert isinstance(compiled, SQLCompiler)
        if compiled.insert_prefetch or compiled.update_prefetch:
            raise ValueError("a column default cannot run in a prepared statement: pass it")
        positions = list(compiled.positiontup) if compiled.positiontup else None
        fixed: dict[str, Any] = {}
        binds: dict[str, Processor] = {}
        binds_seen: dict[str, None] = {}
        for bind, name in compiled.bind_names.items():
            if bind.callable is not None or bind.expanding:
                raise ValueError(f"{name}: only plain and constant parameters are prepared")
            if not bind.required:
                fixed[name] = bind.value  # a constant the dialect cannot write as a literal
            processor = _bind_processor(bind.type, dialect)
            if processor is not None and _is_timestamp(bind.type):
                processor = _shared_timestamp_processor(dialect, bind.type, processor)
            if processor is not None:
                binds[name] = processor
            binds_seen[name] = None
        sql = compiled.string
        columns = list(getattr(statement, "exported_columns", ()))
        keys = [c.key for c in columns]
        row = namedtuple("Row", keys, rename=True) if keys else None  # type: ignore[misc]
        results = tuple(_result_processor(c.type, dialect) for c in columns)
        names = tuple(positions if positions is not None else binds_seen)
        return _Compiled(
            sql=sql,
            positional=positions is not None,
            names=names,
            values=_values_getter(names),
            converts=tuple((at, binds[name]) for at, name in enumerate(names) if name in binds),
            fixed=fixed,
            row=row,
            results=tuple((at, p) for at, p in enumerate(results) if p is not None),
            server_prepared=self._server_prepared and dialect.name == "postgresql",
        )


def _values_getter(names: tuple[str, ...]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """A function picking ``names``' values out of a mapping, as a tuple."""
    if not names:
        return lambda _params: ()
    if len(names) == 1:
        only = names[0]
        return lambda params: (params[only],)
    return itemgetter(*names)


def _constants_inlined(statement: ClauseElement, dialect: Dialect) -> ClauseElement:
    """``statement`` with its constant parameters (``state == "active"``, a constant ``IN``
    list, ``LIMIT 1``) written into the SQL as literals.

    SQLite re-prepares a statement at every execution when a bound value may change its
    plan, and a value compared with a partial index's condition does (the lots' indexes
    are partial on ``state``): the lots' lookups cost ten times their work in re-parsing
    and planning. A literal is also what lets PostgreSQL's planner match a partial index
    to a generic plan. Only values written in the statement itself are inlined, never a
    caller's parameter.
    """

    def literal_of(element: Any, **_kw: Any) -> Any:
        if not isinstance(element, BindParameter) or element.required or element.callable:
            return None
        render = element.type.literal_processor(dialect)
        if render is None:
            return None
        if element.expanding:
            values: list[Any] = list(element.value or ())
            return literal_column("(" + ", ".join(render(v) for v in values) + ")")
        return literal_column(render(element.value), type_=element.type)

    return cast(ClauseElement, replacement_traverse(cast(Any, statement), {}, literal_of))


def _bind_processor(type_: Any, dialect: Dialect) -> Processor | None:
    """The column type's bind processor; for a UTC timestamp stored as ISO text (SQLite,
    SQLAlchemy's default storage format), the zone check, the conversion and the text in
    one call. SQLAlchemy's layered processor (the type decorator's method, then the
    dialect's ``%``-formatting of seven fields) cost ~3.7 µs a timestamp, and an earn
    converts four (its ``now``, the lot's earned, release and expiry times)."""
    if isinstance(type_, UTCDateTime):
        impl = dialect.type_descriptor(type_.impl_instance)
        if (
            isinstance(impl, sqlite.DATETIME)
            and impl._storage_format == sqlite.DATETIME._storage_format
        ):
            return _utc_to_text
    processor: Processor | None = type_.dialect_impl(dialect).bind_processor(dialect)
    return processor


def _utc_to_text(value: datetime | None) -> str | None:
    """:class:`UTCDateTime`'s value as SQLite stores it: naive UTC, always with six digits
    of microseconds (what SQLAlchemy's storage format writes, so that stored timestamps
    keep comparing as text). A naive value is refused, as the type refuses it."""
    if value is None:
        return None
    return to_utc(value).replace(tzinfo=None).isoformat(" ", "microseconds")


def _result_processor(type_: Any, dialect: Dialect) -> Processor | None:
    """The column type's result processor; for a UTC timestamp stored as ISO text
    (SQLite), the parse and the zone in one call. SQLAlchemy's layered processor (the
    dialect's parse, then the type decorator's method) cost ~1.5 µs a timestamp read,
    and a ledger write reads three or four (the account's, the order's, the reward's)."""
    if isinstance(type_, UTCDateTime):
        parse = dialect.type_descriptor(type_.impl_instance).result_processor(dialect, None)
        if parse is processors.str_to_datetime:  # ``datetime.fromisoformat``
            return _utc_from_text
    processor: Processor | None = type_.dialect_impl(dialect).result_processor(dialect, None)
    return processor


def _utc_from_text(value: str | None) -> datetime | None:
    """:class:`UTCDateTime`'s value read from ISO text: the dialect's parse, then the
    type's own conversion to UTC."""
    return None if value is None else as_utc(datetime.fromisoformat(value))


def _is_timestamp(type_: Any) -> bool:
    return isinstance(type_.impl if isinstance(type_, TypeDecorator) else type_, DateTime)


def _shared_timestamp_processor(dialect: Dialect, type_: Any, processor: Processor) -> Processor:
    """One remembering processor per dialect and timestamp type, shared by every prepared
    statement: a write passes the same ``now`` to most of its statements, and converting
    it once per write rather than once per statement is what the memory is for."""
    impl: Any = type_.impl if isinstance(type_, TypeDecorator) else type_
    key = (dialect.name, type(type_), bool(impl.timezone))
    shared = _timestamp_processors.get(key)
    if shared is None:
        shared = _timestamp_processors.setdefault(key, _LastTimestamp(processor))
    return shared


class _LastTimestamp:
    """A timestamp's bind processor that remembers its last few conversions.

    One write passes the same ``now`` to most of its statements, and an earn's lot a few
    more timestamps (earned, released, expires) between them; converting each (to naive
    UTC text on SQLite) every time was a visible share of a write's CPU, and remembering
    one value only missed on every other timestamp. Timestamps are immutable, so the
    identity check is enough; the remembered pairs are replaced as one tuple, so threads
    sharing the processor never pair a value with another's result. ``None`` stays
    ``None`` (every timestamp type's processor returns it unchanged).
    """

    #: Conversions remembered.
    SIZE = 4

    def __init__(self, processor: Processor) -> None:
        self._processor = processor
        self._last: tuple[tuple[Any, Any], ...] = ()

    def __call__(self, value: Any) -> Any:
        if value is None:
            return None
        last = self._last
        for pair in last:
            if pair[0] is value:
                return pair[1]
        converted = self._processor(value)
        self._last = ((value, converted), *last[: self.SIZE - 1])
        return converted


def written_columns(table: Table) -> tuple[str, ...]:
    """Every column of ``table`` but its generated primary key: what a prepared ``INSERT``
    of a whole row lists (and every call passes). A natural primary key (the idempotency
    keys') is written like any other column."""
    generated = table.autoincrement_column
    return tuple(column.key for column in table.columns if column is not generated)


class Rows:
    """The rows a prepared statement returned (all fetched), with ``Result``'s accessors."""

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self.rows = rows
        self.rowcount = rowcount

    def all(self) -> list[Any]:
        return self.rows

    def first(self) -> Any | None:
        return self.rows[0] if self.rows else None

    def one(self) -> Any:
        if len(self.rows) != 1:
            raise LookupError(f"expected one row, got {len(self.rows)}")
        return self.rows[0]

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None

    def scalar_one(self) -> Any:
        return self.one()[0]

    def scalars(self) -> list[Any]:
        return [row[0] for row in self.rows]


def _driver_params(compiled: _Compiled, params: Mapping[str, Any]) -> Any:
    picked = compiled.values({**compiled.fixed, **params} if compiled.fixed else params)
    if compiled.converts:
        values = list(picked)
        for at, processor in compiled.converts:
            values[at] = processor(values[at])
        picked = tuple(values)
    return picked if compiled.positional else dict(zip(compiled.names, picked, strict=True))


@dataclass(frozen=True)
class _Bound:
    """A session's transaction as :func:`run` uses it: its connection, one driver cursor
    for all its statements (each statement's rows are fetched before the next runs; a new
    psycopg cursor per statement was a tenth of a write's client CPU) and the engine's
    cursor listener collections: in a transaction, as they were when it began (``None``
    when empty); on a connection held open in autocommit across calls (``ledger.held``),
    the collections themselves, false while empty, which follow listeners added or
    removed later."""

    transaction: Any
    conn: Connection
    cursor: Any
    before: Any
    after: Any


def _bound(session: Session) -> _Bound:
    """The session's connection in the session's transaction, with its listeners.

    Kept in ``session.info`` for as long as the transaction lives: asking the session
    (and the event system for its listener collections) each time cost more than running
    the statement. In a :func:`~recompra.db.unit_of_work` the statements run on
    the connection whose transaction the unit of work began, without starting the
    session's own (see ``db._commit``); on a connection in autocommit (the one-call
    writes' session, ``loyalty.one_call``), on the connection itself, each statement its
    own transaction; elsewhere, in the session's transaction.
    """
    info = session.info
    cached = info.get(_CONNECTION)
    # A transaction (the connection's or the session's) is the current one for as long as
    # it is active: a session starts a new one only after ending the last.
    if cached is not None and cached.transaction.is_active:
        return cast(_Bound, cached)
    unit: Connection | None = info.get(UNIT_CONNECTION)
    bind = session.bind
    if unit is not None and unit.in_transaction() and not session.in_transaction():
        conn = unit
        transaction: Any = unit.get_transaction()
    elif _in_autocommit(bind) and not session.in_transaction():
        # Each statement is its own transaction: the session's (an ORM transaction
        # begun on the connection, closed with the session) would add nothing but its
        # cost, a tenth of a PostgreSQL one-call write's client CPU.
        conn = bind
        transaction = _Autocommit(bind)
    else:
        conn = session.connection()
        transaction = session.get_transaction()
    dispatch: Any = conn.dispatch
    before, after = dispatch.before_cursor_execute, dispatch.after_cursor_execute
    if not isinstance(transaction, _Autocommit):
        # Read once per transaction (``None`` when empty): asking a listener collection
        # whether it is empty cost ~0.4 µs, twice per statement. A listener added in the
        # middle of a transaction is called from the next one. A connection held open
        # in autocommit (``ledger.held``) keeps the collections, which follow changes.
        before, after = before or None, after or None
    bound = _Bound(
        transaction=transaction,
        conn=conn,
        cursor=conn.connection.cursor(),
        before=before,
        after=after,
    )
    info[_CONNECTION] = bound
    return bound


def _in_autocommit(bind: Any) -> TypeGuard[Connection]:
    """Whether ``bind`` is a connection in autocommit (a session's bind may also be an
    engine, or nothing)."""
    return (
        isinstance(bind, Connection)
        and bind.get_execution_options().get("isolation_level") == "AUTOCOMMIT"
    )


class _Autocommit:
    """What :class:`_Bound` keeps as the transaction of a connection in autocommit: it
    lasts as long as the connection is open."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @property
    def is_active(self) -> bool:
        return not self._conn.closed


def database_key(session: Session) -> str:
    """A key naming the session's database (its URL without the password), for caches
    that must not mix two databases of one process (tests, benchmarks)."""
    engine = _bound(session).conn.engine
    key = _database_keys.get(engine)
    if key is None:
        key = engine.url.render_as_string(hide_password=True)
        _database_keys[engine] = key
    return key


def _execute(session: Session, prepared: Prepared, params: Any, *, many: bool) -> Any:
    bound = _bound(session)
    conn = bound.conn
    compiled = prepared.for_dialect(conn.dialect)
    if many:
        parameters: Any = [_driver_params(compiled, p) for p in params]
    else:
        parameters = _driver_params(compiled, params)
    cursor = bound.cursor
    if bound.before:
        bound.before(conn, cursor, compiled.sql, parameters, None, many)
    if many:
        cursor.executemany(compiled.sql, parameters)
    elif compiled.server_prepared:
        cursor.execute(compiled.sql, parameters, prepare=True)
    else:
        cursor.execute(compiled.sql, parameters)
    if bound.after:
        bound.after(conn, cursor, compiled.sql, parameters, None, many)
    return compiled, cursor


def run(session: Session, prepared: Prepared, params: Mapping[str, Any] | None = None) -> Rows:
    """Execute ``prepared`` once in the session's transaction; every row is fetched.

    The session's pending ORM changes are not flushed: call
    :func:`recompra.loyalty.ledger.postings.flush_pending` first where they matter.
    """
    compiled, cursor = _execute(session, prepared, params or {}, many=False)
    rows: list[Any] = []
    # ``compiled.row`` says whether the statement returns rows; ``cursor.description``
    # would say it too, but psycopg builds a column object per returned column for it
    # (a sixth of a PostgreSQL write's client CPU).
    if compiled.row is not None:
        make, processors = compiled.row, compiled.results
        if not processors:
            rows = [make(*raw) for raw in cursor.fetchall()]
        else:
            for raw in cursor.fetchall():
                values = list(raw)
                for at, processor in processors:
                    # ``NULL`` stays ``None`` through every result processor: most of
                    # the account's and the reward's timestamps are ``NULL``, and a
                    # write's two wide rows carry nine or ten of them.
                    value = values[at]
                    if value is not None:
                        values[at] = processor(value)
                rows.append(make(*values))
    return Rows(rows, cursor.rowcount)


def run_many(session: Session, prepared: Prepared, params: Sequence[Mapping[str, Any]]) -> None:
    """Execute a DML ``prepared`` once per parameter set, in one driver call."""
    if not params:
        return
    # One set (the usual case: a redemption takes from one lot) is one plain execute:
    # psycopg runs ``executemany`` in pipeline mode, several exchanges with the server.
    if len(params) == 1:
        _execute(session, prepared, params[0], many=False)
    else:
        _execute(session, prepared, params, many=True)
