"""Writing a decision batch's new rows (outbox messages, next timers) in one statement.

An ``executemany`` of 500 outbox rows is 500 executions of the ``INSERT`` on the server
(pipelined, but each parsed, bound and planned again): it was half of a "send now"
batch's database time on PostgreSQL. There the rows go instead as one array per
column, unnested by a single ``INSERT ... SELECT unnest(...), unnest(...)``: several
set-returning functions in one select list advance together (PostgreSQL 10 and later),
so row ``i`` is every array's ``i``-th element. SQLite runs in-process, where an
``executemany`` costs no round trip, and keeps it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Insert, Table, bindparam, func, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from recompra.db.dialect import insert_ignoring_conflicts, is_postgresql


@cache
def _unnested_insert(table: Table, columns: tuple[str, ...], unique: tuple[str, ...]) -> Insert:
    arrays = [
        func.unnest(bindparam(name, type_=postgresql.ARRAY(table.c[name].type))) for name in columns
    ]
    return (
        postgresql.insert(table)
        .from_select(list(columns), select(*arrays))
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
    session.execute(
        _unnested_insert(table, columns, unique),
        {name: [row[name] for row in rows] for name in columns},
    )
