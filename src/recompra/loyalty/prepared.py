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
from typing import Any, TypeAlias

from sqlalchemy import Connection, DateTime, Engine, Table, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

Processor = Callable[[Any], Any]
#: A row a prepared statement returned: a named tuple, read by attribute or index like a
#: ``sqlalchemy.Row``.
Record: TypeAlias = Any
_CONNECTION = "recompra_prepared_connection"
#: Rendering an engine's URL cost more than the rule lookup it keys.
_database_keys: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class _Compiled:
    """One statement's SQL for one dialect, and how to convert values in and out."""

    sql: str
    #: Whether the driver takes a tuple (sqlite3's ``?``) rather than a dict (psycopg).
    positional: bool
    #: Each parameter (in placeholder order when positional) and its bind processor.
    plan: tuple[tuple[str, Processor | None], ...]
    #: Values the statement carries itself (``literal()``), merged under the caller's.
    fixed: dict[str, Any]
    row: Callable[..., Any] | None
    #: The returned columns' result processors; ``None`` when no column needs one.
    results: tuple[Processor | None, ...] | None


class Prepared:
    """A Core statement compiled once per dialect for :func:`run`.

    ``statement`` is the construct, or a function building it for a dialect (for
    dialect-specific constructs such as ``ON CONFLICT``); ``columns`` lists an
    ``INSERT``'s columns (the keys every call passes).
    """

    def __init__(
        self,
        statement: ClauseElement | Callable[[Dialect], ClauseElement],
        *,
        columns: Sequence[str] | None = None,
    ):
        self._statement = statement
        self._columns = list(columns) if columns is not None else None
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
        compiled = statement.compile(dialect=dialect, column_keys=self._columns)
        assert isinstance(compiled, SQLCompiler)
        if compiled.insert_prefetch or compiled.update_prefetch:
            raise ValueError("a column default cannot run in a prepared statement: pass it")
        sql = compiled.string
        positions = list(compiled.positiontup) if compiled.positiontup else None
        fixed: dict[str, Any] = {}
        binds: dict[str, Processor] = {}
        binds_seen: dict[str, None] = {}
        for bind, name in compiled.bind_names.items():
            if bind.callable is not None:
                raise ValueError(f"{name}: a callable parameter cannot be prepared")
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            names = [name]
            if bind.expanding:
                # ``IN`` over a constant list: expand it here, once, as SQLAlchemy would
                # at each execution.
                if bind.required or not bind.value:
                    raise ValueError(f"{name}: only a constant, non-empty IN list is prepared")
                names = [f"{name}_{n}" for n in range(1, len(bind.value) + 1)]
                marks = ", ".join(compiled.bindtemplate % {"name": n} for n in names)
                sql = sql.replace(f"__[POSTCOMPILE_{name}]", marks)
                if positions is not None:
                    at = positions.index(name)
                    positions[at : at + 1] = names
                fixed.update(zip(names, bind.value, strict=True))
            elif not bind.required:
                fixed[name] = bind.value
            if processor is not None and _is_timestamp(bind.type):
                processor = _LastTimestamp(processor)
            if processor is not None:
                binds.update(dict.fromkeys(names, processor))
            binds_seen.update(dict.fromkeys(names))
        columns = list(getattr(statement, "exported_columns", ()))
        keys = [c.key for c in columns]
        row = namedtuple("Row", keys, rename=True) if keys else None  # type: ignore[misc]
        results = tuple(
            c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns
        )
        order = positions if positions is not None else list(binds_seen)
        return _Compiled(
            sql=sql,
            positional=positions is not None,
            plan=tuple((name, binds.get(name)) for name in order),
            fixed=fixed,
            row=row,
            results=results if any(results) else None,
        )


def _is_timestamp(type_: Any) -> bool:
    return isinstance(type_.impl if isinstance(type_, TypeDecorator) else type_, DateTime)


class _LastTimestamp:
    """A timestamp's bind processor that remembers its last conversion.

    One write passes the same ``now`` to most of its statements; converting it (to naive
    UTC text on SQLite) each time was a visible share of a write's CPU. Timestamps are
    immutable, so the identity check is enough; the (value, result) pair is replaced as
    one object, so threads sharing the processor never pair a value with another's result.
    """

    def __init__(self, processor: Processor) -> None:
        self._processor = processor
        self._last: tuple[Any, Any] = (object(), None)

    def __call__(self, value: Any) -> Any:
        last = self._last
        if last[0] is value:
            return last[1]
        converted = self._processor(value)
        self._last = (value, converted)
        return converted


def written_columns(table: Table) -> tuple[str, ...]:
    """Every column of ``table`` but its generated primary key: what a prepared ``INSERT``
    of a whole row lists (and every call passes)."""
    return tuple(column.key for column in table.columns if not column.primary_key)


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
    values = {**compiled.fixed, **params} if compiled.fixed else params
    if compiled.positional:
        return tuple(
            values[name] if processor is None else processor(values[name])
            for name, processor in compiled.plan
        )
    return {
        name: values[name] if processor is None else processor(values[name])
        for name, processor in compiled.plan
    }


def _connection(session: Session) -> tuple[Connection, Any]:
    """The session's connection and its DBAPI connection, in the session's transaction.

    Kept in ``session.info`` for as long as the session's transaction lives: asking the
    session each time cost more than running the statement.
    """
    transaction = session.get_transaction()
    cached = session.info.get(_CONNECTION)
    if cached is not None and transaction is not None and cached[0] is transaction:
        return cached[1], cached[2]
    conn = session.connection()
    dbapi = conn.connection.dbapi_connection
    session.info[_CONNECTION] = (session.get_transaction(), conn, dbapi)
    return conn, dbapi


def database_key(session: Session) -> str:
    """A key naming the session's database (its URL without the password), for caches
    that must not mix two databases of one process (tests, benchmarks)."""
    conn, _dbapi = _connection(session)
    engine = conn.engine
    key = _database_keys.get(engine)
    if key is None:
        key = engine.url.render_as_string(hide_password=True)
        _database_keys[engine] = key
    return key


def _execute(session: Session, prepared: Prepared, params: Any, *, many: bool) -> Any:
    conn, dbapi = _connection(session)
    compiled = prepared.for_dialect(conn.dialect)
    if many:
        parameters: Any = [_driver_params(compiled, p) for p in params]
    else:
        parameters = _driver_params(compiled, params)
    dispatch: Any = conn.dispatch
    cursor = dbapi.cursor()
    if dispatch.before_cursor_execute:
        dispatch.before_cursor_execute(conn, cursor, compiled.sql, parameters, None, many)
    if many:
        cursor.executemany(compiled.sql, parameters)
    else:
        cursor.execute(compiled.sql, parameters)
    if dispatch.after_cursor_execute:
        dispatch.after_cursor_execute(conn, cursor, compiled.sql, parameters, None, many)
    return compiled, cursor


def run(session: Session, prepared: Prepared, params: Mapping[str, Any] | None = None) -> Rows:
    """Execute ``prepared`` once in the session's transaction; every row is fetched.

    The session's pending ORM changes are not flushed: call
    :func:`recompra.loyalty.ledger.postings.flush_pending` first where they matter.
    """
    compiled, cursor = _execute(session, prepared, params or {}, many=False)
    rows: list[Any] = []
    if compiled.row is not None and cursor.description is not None:
        make, processors = compiled.row, compiled.results
        if processors is None:
            rows = [make(*raw) for raw in cursor.fetchall()]
        else:
            rows = [
                make(*(p(v) if p is not None else v for p, v in zip(processors, raw, strict=True)))
                for raw in cursor.fetchall()
            ]
    rowcount = cursor.rowcount
    cursor.close()
    return Rows(rows, rowcount)


def run_many(session: Session, prepared: Prepared, params: Sequence[Mapping[str, Any]]) -> None:
    """Execute a DML ``prepared`` once per parameter set, in one driver call."""
    if not params:
        return
    # One set (the usual case: a redemption takes from one lot) is one plain execute:
    # psycopg runs ``executemany`` in pipeline mode, several exchanges with the server.
    if len(params) == 1:
        _compiled, cursor = _execute(session, prepared, params[0], many=False)
    else:
        _compiled, cursor = _execute(session, prepared, params, many=True)
    cursor.close()
