"""The hub rows a full evaluation reads, moved into DuckDB as Arrow columns.

A full evaluation (:mod:`recompra.segments.full`) runs in an in-process DuckDB over a
copy of exactly the hub tables and columns its statement reads, only the brand's rows.
The copy is read through the caller's connection, so it is the hub *at evaluation time*
(inside the caller's transaction when there is one). DuckDB's ``sqlite`` and
``postgres`` scanners would read the hub directly, but they are extensions downloaded
at first use and the deployments we target are offline, so the rows travel this way:

1. the database aggregates each column into one JSON array (``json_group_array`` on
   SQLite, ``json_agg`` on PostgreSQL), all columns of a table in one statement, so they
   are one scan of one snapshot and zip back row by row;
2. pyarrow's JSON reader (C++) parses each array straight into a typed Arrow column;
3. DuckDB creates the table from the Arrow columns (timestamps and dates already typed
   by pyarrow; only SQLite's 1/0 booleans are cast).

Measured at 1M customers on SQLite (docs/segments.md), this is about half the CPU of
fetching Python tuples through the driver or of DuckDB's own JSON parsing and text casts
(the previous way): the database and pyarrow do the work in C, Python never sees a row.

What is not copied: columns the statement does not read; ``brand_id`` where the copy is
filtered by brand (it is the brand's id on every row: DuckDB gets it as a constant); rows
of other brands, including other brands' loyalty programs, accounts, tiers and lots.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.json as pajson
from sqlalchemy import (
    Boolean,
    Connection,
    Date,
    DateTime,
    Float,
    Integer,
    Numeric,
    Select,
    Table,
    Text,
    cast,
    func,
    select,
    type_coerce,
)
from sqlalchemy.sql import visitors
from sqlalchemy.sql.selectable import Alias

from recompra.models import BrandCustomer, LoyaltyAccount, LoyaltyProgram, Order


def tables_read(statement: Select[Any]) -> dict[str, set[str]]:
    """The hub tables a statement reads (through any alias or subquery) and their columns."""
    needed: dict[str, set[str]] = {}
    for element in visitors.iterate(statement):
        table = getattr(element, "table", None)
        name = getattr(element, "name", None)
        while isinstance(table, Alias):
            table = table.element
        if isinstance(table, Table) and isinstance(name, str):
            needed.setdefault(table.name, set()).add(name)
    return needed


@dataclass(frozen=True)
class CopiedColumn:
    """How one hub column travels: its Arrow type in the JSON array, its DuckDB type."""

    name: str
    arrow: pa.DataType
    duck: str


def copied_column(column: Any, dialect: str) -> CopiedColumn:
    """The Arrow and DuckDB types of a hub column's values once aggregated as JSON."""
    kind = column.type
    if isinstance(kind, DateTime) or isinstance(getattr(kind, "impl", None), DateTime):
        # SQLite stores naive UTC text, PostgreSQL's JSON has the offset: read as UTC,
        # both are the same instant.
        return CopiedColumn(column.name, pa.timestamp("us", tz="UTC"), "TIMESTAMPTZ")
    if isinstance(kind, Date):
        return CopiedColumn(column.name, pa.date32(), "DATE")
    if isinstance(kind, Boolean):  # SQLite's JSON says 1/0, PostgreSQL's true/false
        return CopiedColumn(
            column.name, pa.int64() if dialect == "sqlite" else pa.bool_(), "BOOLEAN"
        )
    if isinstance(kind, Integer):
        return CopiedColumn(column.name, pa.int64(), "BIGINT")
    if isinstance(kind, Float | Numeric):
        return CopiedColumn(column.name, pa.float64(), "DOUBLE")
    return CopiedColumn(column.name, pa.string(), "VARCHAR")


def brand_scope(table: Table, brand_id: int) -> list[Any]:
    """Filters keeping only the brand's rows, where the table says whose they are
    (directly, or through its order, its loyalty program or its loyalty account)."""
    if "brand_id" in table.c:
        return [table.c.brand_id == brand_id]
    if table.name == "customers":
        mine = select(BrandCustomer.customer_id).where(BrandCustomer.brand_id == brand_id)
        return [table.c.id.in_(mine)]
    programs = select(LoyaltyProgram.id).where(LoyaltyProgram.brand_id == brand_id)
    if "program_id" in table.c:
        return [table.c.program_id.in_(programs)]
    if "account_id" in table.c:
        accounts = select(LoyaltyAccount.id).where(LoyaltyAccount.program_id.in_(programs))
        return [table.c.account_id.in_(accounts)]
    if "order_id" in table.c:
        return [table.c.order_id.in_(select(Order.id).where(Order.brand_id == brand_id))]
    return []


def _json_array(dialect: str, column: Any) -> Any:
    """The column aggregated into one JSON array, as text (nulls kept in place)."""
    if dialect == "postgresql":
        return cast(func.json_agg(column), Text)
    return type_coerce(func.json_group_array(column), Text)


def _arrow_column(array_text: str | None, kind: pa.DataType) -> pa.Array:
    """One JSON array parsed by pyarrow into a typed Arrow array."""
    if array_text is None:  # PostgreSQL's json_agg of no rows
        return pa.array([], kind)
    # pyarrow's JSON reader reads dates only as timestamps (midnight), cast back below.
    parsed_as = pa.timestamp("s") if kind == pa.date32() else kind
    line = b'{"v":' + array_text.encode() + b"}"
    parsed = pajson.read_json(
        io.BytesIO(line),
        # One block holds the whole line: a JSON value cannot span blocks.
        read_options=pajson.ReadOptions(use_threads=False, block_size=len(line) + 1),
        parse_options=pajson.ParseOptions(explicit_schema=pa.schema([("v", pa.list_(parsed_as))])),
    )
    values: pa.Array = parsed.column(0).combine_chunks().flatten()
    return values.cast(kind) if parsed_as != kind else values


def copy_rows(
    connection: Connection,
    duck: duckdb.DuckDBPyConnection,
    name: str,
    table: Table,
    columns: Sequence[str],
    scope: Sequence[Any] = (),
    constants: dict[str, int] | None = None,
) -> None:
    """Create table ``name`` in ``duck`` with ``columns`` of the ``scope`` rows of ``table``.

    ``constants`` are columns every copied row has the same value of (``brand_id`` of a
    copy filtered by brand): DuckDB gets the value, not a million copies of it.
    """
    dialect = connection.dialect.name
    constants = constants or {}
    fetched = [copied_column(table.c[c], dialect) for c in columns if c not in constants]
    arrays = (
        connection.execute(
            select(*(_json_array(dialect, table.c[c.name]) for c in fetched)).where(*scope)
        ).one()
        if fetched
        else ()
    )
    arrow = pa.table(
        [_arrow_column(text, c.arrow) for text, c in zip(arrays, fetched, strict=True)],
        names=[c.name for c in fetched],
    )
    # Arrow's types are DuckDB's, except SQLite's 1/0 booleans.
    selected = [
        f'CAST("{c.name}" AS {c.duck}) AS "{c.name}"' if c.duck == "BOOLEAN" else f'"{c.name}"'
        for c in fetched
    ]
    selected += [f'CAST({int(value)} AS BIGINT) AS "{c}"' for c, value in constants.items()]
    source = "arrow_rows" if fetched else "(SELECT 1)"
    duck.register("arrow_rows", arrow)
    try:
        duck.execute(
            f'CREATE OR REPLACE TABLE "{name}" AS SELECT {", ".join(selected)} FROM {source}'
        )
    finally:
        duck.unregister("arrow_rows")
