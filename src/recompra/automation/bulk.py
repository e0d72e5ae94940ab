"""Writing a decision batch's new rows (outbox messages, next timers) in one statement.

An ``executemany`` of 500 outbox rows is 500 executions of the ``INSERT`` on the server
(pipelined, but each bound and planned again): it was half of a "send now" batch's
database time on PostgreSQL. There the rows go instead as one JSON array, expanded by
a single ``INSERT ... SELECT ... FROM jsonb_to_recordset(...)``: the client encodes the
whole batch with one ``json.dumps`` (500 separate JSONB parameters, or one array per
column, cost a fifth of a decision's client CPU in adaptation and escaping) and the
server parses it once. SQLite runs in-process, where an ``executemany`` costs no round
trip, and keeps it.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Insert, String, Table, bindparam, cast, column, func, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from recompra.db.dialect import insert_ignoring_conflicts, is_postgresql
from recompra.models.base import UTCDateTime


@cache
def _recordset_insert(table: Table, columns: tuple[str, ...], unique: tuple[str, ...]) -> Insert:
    records = (
        func.jsonb_to_recordset(cast(bindparam("rows", type_=String), postgresql.JSONB))
        .table_valued(*(column(name, table.c[name].type) for name in columns))
        .render_derived(name="batch", with_types=True)
    )
    return (
        postgresql.insert(table)
        .from_select(list(columns), select(*(records.c[name] for name in columns)))
        .on_conflict_do_nothing(index_elements=unique)
    )


def insert_rows(
    session: Session, table: Table, rows: list[dict[str, Any]], *, unique: tuple[str, ...]
) -> None:
    """Insert ``rows`` (all with the same keys), skipping those whose ``unique`` columns
    conflict with a row already there (a replayed decision adds nothing)."""
    if not rows:
        return
    if not is_postgresql(session):
        session.execute(insert_ignoring_conflicts(session, table, index_elements=unique), rows)
        return
    columns = tuple(rows[0])
    session.execute(_recordset_insert(table, columns, unique), {"rows": _document(session, rows)})


def insert_rows_returning(
    session: Session,
    table: Table,
    rows: list[dict[str, Any]],
    *,
    unique: tuple[str, ...],
    returning: tuple[str, ...],
) -> list[Any]:
    """:func:`insert_rows`, and the ``returning`` columns of the rows inserted (a row
    skipped on a conflict returns nothing). On PostgreSQL the statement's text is the
    same whatever the number of rows: an ``INSERT ... VALUES`` of 100 rows was rendered
    by SQLAlchemy and converted by psycopg again for every call (a trigger slice's runs:
    a fifth of the worker's client CPU)."""
    if not rows:
        return []
    if not is_postgresql(session):
        plain = insert_ignoring_conflicts(session, table, index_elements=unique)
        return list(session.execute(plain.returning(*(table.c[n] for n in returning)), rows))
    statement = _recordset_insert_returning(table, tuple(rows[0]), unique, returning)
    return list(session.execute(statement, {"rows": _document(session, rows)}))


@cache
def _recordset_insert_returning(
    table: Table, columns: tuple[str, ...], unique: tuple[str, ...], returning: tuple[str, ...]
) -> Insert:
    return _recordset_insert(table, columns, unique).returning(*(table.c[n] for n in returning))


def _document(session: Session, rows: list[dict[str, Any]]) -> str:
    """``rows`` as one JSON array (all with the same keys).

    A batch's rows mostly share their timestamps (a trigger slice's runs start, and their
    first timers are due, at the slice's ``now``): each distinct one is converted once
    (converting it per row was two thirds of this function's CPU)."""
    dialect = session.get_bind().dialect
    converted: dict[Any, Any] = {}

    def value(v: Any) -> Any:
        if not isinstance(v, datetime):
            return v
        text = converted.get(v)
        if text is None:
            text = converted[v] = _json_value(dialect, v)
        return text

    return json.dumps([{k: value(v) for k, v in row.items()} for row in rows])


_TIMESTAMP = UTCDateTime()


def _json_value(dialect: Dialect, value: Any) -> Any:
    """A column value as JSON: a timestamp as ISO 8601 in UTC (refused when naive, as
    :class:`~recompra.models.base.UTCDateTime` refuses it), anything else as it is."""
    if isinstance(value, datetime):
        utc = _TIMESTAMP.process_bind_param(value, dialect)
        assert utc is not None
        return utc.isoformat()
    return value
