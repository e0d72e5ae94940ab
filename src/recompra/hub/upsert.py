"""Idempotent bulk upsert by natural key, with exact inserted/updated/unchanged counts.

This is the one write path of the hub: importers and the API hand it validated rows.
Existing rows are looked up by natural key in chunks, compared column by column, and only
new or changed rows are written, so a second run of the same data writes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Date, Table, bindparam, func, insert, select, text, update
from sqlalchemy.orm import Session

from recompra.db.dialect import in_values, is_postgresql, is_sqlite, retrying_unique_races
from recompra.hub.rejects import EntityCounts
from recompra.models.base import UTCDateTime

#: Rows per lookup / write statement (well under SQLite's bound-parameter limit).
CHUNK = 2000

Key = tuple[Any, ...]
#: Rows inserted at once after which PostgreSQL statistics are refreshed.
ANALYZE_AFTER = 1000


@dataclass
class UpsertResult:
    """Ids by natural key and what happened to each row."""

    ids: dict[Key, int]
    counts: EntityCounts
    inserted_keys: set[Key]
    updated_keys: set[Key]


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def allocate_ids(session: Session, table: Table, count: int) -> list[int]:
    """Reserve ``count`` primary keys of ``table`` for a bulk insert.

    Inserting with known ids lets the hub use plain ``executemany`` (no ``RETURNING``):
    SQLite cannot return rows of a multi-row insert in parameter order, which made
    SQLAlchemy fall back to one statement per row. On SQLite the unit of work holds the
    write lock (``BEGIN IMMEDIATE``), so ``max(id)`` is stable; PostgreSQL draws from the
    table's sequence.
    """
    if count == 0:
        return []
    if is_postgresql(session):
        sequence = session.scalar(
            text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table.name}
        )
        rows = session.execute(
            text("SELECT nextval(:s) FROM generate_series(1, :n)"), {"s": sequence, "n": count}
        )
        return [int(r[0]) for r in rows]
    top = session.scalar(select(func.coalesce(func.max(table.c.id), 0)))
    return list(range(int(top or 0) + 1, int(top or 0) + 1 + count))


def _sqlite_timestamp(value: datetime | None) -> str | None:
    """SQLAlchemy's SQLite DATETIME text for an aware timestamp, stored in UTC."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_converter(column: Column[Any]) -> Callable[[Any], Any]:
    """How SQLAlchemy would store a value of ``column`` on SQLite, without its machinery."""
    kind = column.type
    if isinstance(kind, UTCDateTime):
        return _sqlite_timestamp
    if isinstance(kind, Date):
        return lambda v: None if v is None else v.isoformat()
    if isinstance(kind, JSON):
        return lambda v: None if v is None else json.dumps(v)
    return _identity


def _identity(value: Any) -> Any:
    return value


def _default(column: Column[Any]) -> Any:
    default = column.default
    if default is None or (not getattr(default, "is_scalar", False) and not default.is_callable):
        return None
    arg = default.arg  # type: ignore[attr-defined]
    return arg(None) if default.is_callable else arg


def _insert_sqlite(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Bulk insert through the driver's ``executemany`` with values converted once.

    SQLAlchemy's per-value processing was the largest cost of the Olist import on SQLite;
    here each column gets one converter and the driver receives plain tuples.
    """
    present = set().union(*(row.keys() for row in rows))
    columns = [c for c in table.columns if c.name in present or c.default is not None]
    converters = [_sqlite_converter(c) for c in columns]
    defaults = {c.name: _default(c) for c in columns if c.name not in present}
    names = [c.name for c in columns]
    statement = (
        f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
    )
    # Column by column: one converter call per value, no per-row generator.
    columns_values = []
    for name, convert in zip(names, converters, strict=True):
        default = defaults.get(name)
        raw = [row.get(name, default) for row in rows]
        columns_values.append(raw if convert is _identity else [convert(v) for v in raw])
    values = list(zip(*columns_values, strict=True))
    session.connection().exec_driver_sql(statement, values)  # type: ignore[arg-type]


def insert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert ``rows`` with freshly allocated ids; return the ids in row order."""
    ids = allocate_ids(session, table, len(rows))
    payload = [{**row, "id": new_id} for row, new_id in zip(rows, ids, strict=True)]
    sqlite = is_sqlite(session)
    for chunk in _chunks(payload):
        if sqlite:
            _insert_sqlite(session, table, chunk)
        else:
            session.connection().execute(insert(table), list(chunk))
    if len(rows) >= ANALYZE_AFTER and is_postgresql(session):
        # A table that was empty when this session planned its foreign-key checks keeps
        # a sequential-scan plan: the first Olist chunk took minutes instead of seconds.
        # Fresh statistics make PostgreSQL re-plan with the index.
        session.execute(text(f"ANALYZE {table.name}"))
    return ids


def existing_rows(
    session: Session, table: Table, key: Sequence[str], keys: Sequence[Key], columns: Sequence[str]
) -> dict[Key, dict[str, Any]]:
    """Existing rows of ``table`` whose natural ``key`` is in ``keys`` (id included).

    Key columns that hold one value across ``keys`` (brand, source) become equality
    filters and the first varying column an ``IN`` list, so the lookup uses the unique
    index on every backend; SQLite does not use an index for row-value ``IN`` lists.
    """
    found: dict[Key, dict[str, Any]] = {}
    if not keys:
        return found
    wanted_keys = set(keys)
    fixed = {i: keys[0][i] for i in range(len(key)) if all(k[i] == keys[0][i] for k in keys)}
    varying = [i for i in range(len(key)) if i not in fixed] or [len(key) - 1]
    probe = varying[0]
    filters = [table.c[key[i]] == value for i, value in fixed.items() if i != probe]
    wanted = [
        table.c.id,
        *(table.c[k] for k in key),
        *(table.c[c] for c in columns if c not in key),
    ]
    probe_values = list(dict.fromkeys(k[probe] for k in keys))
    for chunk in _chunks(probe_values):
        statement = select(*wanted).where(*filters, in_values(session, table.c[key[probe]], chunk))
        for row in session.execute(statement).mappings():
            row_key = tuple(row[k] for k in key)
            if row_key in wanted_keys:
                found[row_key] = dict(row)
    return found


def upsert_rows(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    key: Sequence[str],
    compare: Sequence[str],
    counts: EntityCounts | None = None,
) -> UpsertResult:
    """Insert new rows and update changed ones of ``table``, keyed by ``key``.

    ``rows`` must be unique by key (importers fold duplicates first). ``compare`` lists the
    columns whose change makes a row "updated"; other columns are written on insert only.
    Returns the id of every row's key. Never commits (the unit of work does).

    Two requests may bring the same new key at once (two orders of a product the catalog
    does not have yet): on PostgreSQL the later insert then fails with a unique
    violation, so the lookup and the writes run again, once they see the other
    transaction's row (:func:`retrying_unique_races`). Counts are added only for the
    attempt that succeeded.
    """
    result = retrying_unique_races(
        session, lambda: _upsert_once(session, table, rows, key=key, compare=compare)
    )
    if counts is not None:
        counts.add(result.counts)
        result = UpsertResult(result.ids, counts, result.inserted_keys, result.updated_keys)
    return result


def _upsert_once(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    key: Sequence[str],
    compare: Sequence[str],
) -> UpsertResult:
    counts = EntityCounts()
    keys = [tuple(r[k] for k in key) for r in rows]
    current = existing_rows(session, table, key, keys, compare)
    to_insert: list[dict[str, Any]] = []
    to_update: list[dict[str, Any]] = []
    ids: dict[Key, int] = {}
    updated: set[Key] = set()
    for row_key, row in zip(keys, rows, strict=True):
        old = current.get(row_key)
        if old is None:
            to_insert.append(row)
            continue
        ids[row_key] = old["id"]
        changed = {c: row[c] for c in compare if c in row and row[c] != old[c]}
        if changed:
            updated.add(row_key)
            to_update.append({"b_id": old["id"], **{f"b_{c}": row[c] for c in compare if c in row}})
        else:
            counts.unchanged += 1
    inserted: set[Key] = set()
    new_ids = insert_rows(session, table, to_insert)
    for row, new_id in zip(to_insert, new_ids, strict=True):
        row_key = tuple(row[k] for k in key)
        ids[row_key] = new_id
        inserted.add(row_key)
    counts.inserted += len(to_insert)
    if to_update:
        columns = [c for c in compare if f"b_{c}" in to_update[0]]
        statement = (
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values({c: bindparam(f"b_{c}") for c in columns})
        )
        for chunk in _chunks(to_update):
            session.connection().execute(statement, list(chunk))
        counts.updated += len(to_update)
    return UpsertResult(ids, counts, inserted, updated)
