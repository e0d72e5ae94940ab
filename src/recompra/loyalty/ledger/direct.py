"""PostgreSQL: the ledger functions' calls sent through libpq on a held connection.

A one-call write on a held autocommit connection (:mod:`.held`) is one prepared
statement with a handful of scalar parameters and one row back. psycopg's cursor around
it (the query's conversion, its prepared-statement cache, the adapters' look-ups, the
result's set-up and row making, the JSON loader's encoding detection) cost the client
about as much CPU again as the round trip itself: measured single-process, the benchmark's
earn and redemption took 0.12-0.13 ms of client CPU through a bare psycopg cursor against
0.06 ms through ``PGconn.exec_prepared`` (docs/loyalty.md, "PostgreSQL: the client's
share of a one-call write"). :class:`Direct` sends the call as psycopg's own ``PGconn``
does underneath: the statement prepared once per connection under the call's name, the
parameters as text, the row read as text and converted by the call's column types.

What stays as it was: the engine's ``before_cursor_execute``/``after_cursor_execute``
listeners see each call with the statement's SQLAlchemy-compiled text and the caller's
parameters (the automation wake-ups and the statement counters read the text); an error
raises psycopg's exception for its SQLSTATE (``server_side.call`` maps class ``RK``);
the libpq call releases the interpreter lock while it waits, as psycopg's wait does.
Unlike psycopg's wait, a blocked call does not answer ``KeyboardInterrupt`` until the
server answers: the functions' statements are short, and a lock wait ends with the
holder's transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from recompra.models.base import to_utc

#: libpq's ``ExecStatusType`` values (psycopg's ``pq.ExecStatus``), without importing
#: psycopg where the database is SQLite.
_COMMAND_OK, _TUPLES_OK, _FATAL_ERROR = 1, 2, 7
#: Where a held connection's ``Session`` keeps its :class:`Direct` (``session.info``).
SESSION_KEY = "recompra_direct_calls"
#: A parameter's value as libpq's text (``None``: SQL ``NULL``).
Encoder = Callable[[Any], bytes]
#: A result column's text converted to its Python value.
Decoder = Callable[[bytes], Any]


def _bigint(value: Any) -> bytes:
    return b"%d" % value


def _text(value: Any) -> bytes:
    return str(value).encode()


def _timestamptz(value: datetime) -> bytes:
    # As ``UTCDateTime`` binds it: naive timestamps are refused, aware ones sent in UTC.
    return to_utc(value).isoformat().encode()


def _jsonb(value: Any) -> bytes:
    return json.dumps(value).encode()


_JSON_DECODER = json.JSONDecoder()


def _jsonb_value(raw: bytes) -> Any:
    # ``json.loads`` of bytes first guesses their encoding; the connection's is UTF-8.
    return _JSON_DECODER.decode(raw.decode())


#: Encoders by the PostgreSQL type a call casts its parameter to.
ENCODERS: dict[str, Encoder] = {
    "bigint": _bigint,
    "text": _text,
    "timestamptz": _timestamptz,
    "jsonb": _jsonb,
}
#: Decoders by the PostgreSQL type of a returned column (what the functions return).
DECODERS: dict[str, Decoder] = {
    "text": bytes.decode,
    "bigint": int,
    "jsonb": _jsonb_value,
}


@dataclass(frozen=True)
class Statement:
    """One function call as :class:`Direct` sends it."""

    #: The prepared statement's name on the server.
    name: bytes
    #: ``SELECT * FROM function(CAST($1 AS type), ...)``.
    sql: bytes
    #: The parameters' names in placeholder order, and each one's encoder.
    params: tuple[tuple[str, Encoder], ...]
    #: Each returned column's decoder, in order.
    columns: tuple[Decoder, ...]
    #: What the engine's listeners see: the statement as SQLAlchemy compiles it (set by
    #: ``server_side.FunctionCall`` for its dialect).
    listener_sql: str = ""
    #: The row type (the compiled statement's, so rows read the same either way).
    row: Callable[..., Any] = tuple


#: Every call's statement by name: each held connection prepares them all as it opens,
#: so that no call pays a round trip of its own to prepare (psycopg's ``prepare=True``
#: sent the preparation with the first execution, in one round trip).
_STATEMENTS: dict[bytes, bytes] = {}


def statement(
    function: str, params: Sequence[tuple[str, str]], returns: Sequence[str]
) -> Statement:
    """The call of ``function`` with ``params`` (name, PostgreSQL type) returning columns
    of the ``returns`` types; prepared on every held connection opened from now on."""
    args = ", ".join(f"CAST(${at} AS {type_})" for at, (_name, type_) in enumerate(params, 1))
    found = Statement(
        name=f"recompra_direct_{function}".encode(),
        sql=f"SELECT * FROM {function}({args})".encode(),
        params=tuple((name, ENCODERS[type_]) for name, type_ in params),
        columns=tuple(DECODERS[type_] for type_ in returns),
    )
    _STATEMENTS[found.name] = found.sql
    return found


class Direct:
    """A held connection's calls through its libpq connection (:mod:`.held`)."""

    __slots__ = ("_conn", "_cursor", "_driver", "_encoding", "_prepared", "dialect")

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.dialect = conn.dialect
        driver: Any = conn.connection.driver_connection
        self._driver = driver
        self._prepared: set[bytes] = set()
        self._cursor: Any = None
        pgconn = driver.pgconn
        self._encoding = "utf-8"
        if driver.info.encoding != "utf-8":
            # The encoders and decoders write and read UTF-8 (psycopg follows the change:
            # it reads the connection's encoding from libpq at each use).
            self._check(pgconn.exec_(b"SET client_encoding TO 'UTF8'"))
        for name, sql in _STATEMENTS.items():
            # A database without the function (not migrated yet) refuses it: the call
            # prepares it when it first runs, or fails as the function's absence makes it.
            if pgconn.prepare(name, sql).status == _COMMAND_OK:
                self._prepared.add(name)

    def call(self, statement: Statement, params: Mapping[str, Any]) -> Any:
        """Run ``statement`` with ``params``; its one row (``LookupError`` otherwise)."""
        pgconn = self._driver.pgconn
        values = [
            None if (v := params[name]) is None else encode(v) for name, encode in statement.params
        ]
        dispatch: Any = self._conn.dispatch
        before, after = dispatch.before_cursor_execute, dispatch.after_cursor_execute
        if before:
            before(self._conn, self._listener_cursor(), statement.listener_sql, params, None, False)
        if statement.name not in self._prepared:
            self._check(pgconn.prepare(statement.name, statement.sql))
            self._prepared.add(statement.name)
        result = self._check(pgconn.exec_prepared(statement.name, values))
        if after:
            after(self._conn, self._listener_cursor(), statement.listener_sql, params, None, False)
        if result.ntuples != 1:
            raise LookupError(f"expected one row, got {result.ntuples}")
        value = result.get_value
        return statement.row(
            *[
                None if (raw := value(0, at)) is None else decode(raw)
                for at, decode in enumerate(statement.columns)
            ]
        )

    def _check(self, result: Any) -> Any:
        status = result.status
        if status in (_TUPLES_OK, _COMMAND_OK):
            return result
        import psycopg  # only here: this module loads with SQLite too (``server_side``)

        if status == _FATAL_ERROR:
            raise psycopg.errors.error_from_result(result, encoding=self._encoding)
        raise psycopg.InterfaceError(f"unexpected result status {status!r}")

    def _listener_cursor(self) -> Any:
        """A driver cursor for the listeners' ``cursor`` argument (none reads it here)."""
        if self._cursor is None:
            self._cursor = self._driver.cursor()
        return self._cursor
