"""Everything the operational database holds about one customer, found from the schema.

The tables are not listed by hand: starting from the customer's rows in ``customers``
(and the customers merged into it), every table with a foreign key to a table already
collected contributes the rows that point at collected rows, following the foreign keys
downwards (orders -> order lines -> return lines, loyalty account -> movements, case ->
messages ...). A table added later with a ``customer_id`` (or a foreign key to any
customer-linked table) is therefore exported and erased without anyone remembering to.
Foreign keys are only followed from child to parent row, so shared reference tables
(brands, products) are never pulled in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, Table, select
from sqlalchemy.orm import Session

from recompra.models import Base, Customer

#: Rows per ``IN (...)`` list (SQLite allows 32,766 parameters; PostgreSQL 65,535).
_IN_CHUNK = 5_000


@dataclass
class Holdings:
    """The rows held about a customer, per table (table name -> rows as dicts)."""

    customer_id: int
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Rows per table (tables with no row left out)."""
        return {name: len(rows) for name, rows in self.rows.items() if rows}


#: Tables whose ``customer_id`` is a reference kept on purpose after erasure, not data
#: about the person (the record of the request itself).
UNLINKED_TABLES = frozenset({"privacy_requests"})


def _parents(table: Table) -> list[tuple[Column[Any], str, str]]:
    """``(column, parent table, parent column)`` per reference of ``table``: its foreign
    keys, and a ``customer_id`` column without one (still the customer's id)."""
    if table.name in UNLINKED_TABLES:
        return []
    found = []
    for column in table.columns:
        for key in column.foreign_keys:
            found.append((column, key.column.table.name, key.column.name))
        if column.name == "customer_id" and not column.foreign_keys:
            found.append((column, Customer.__tablename__, "id"))
    return [link for link in found if link[1] != table.name]


def customer_linked_tables() -> list[Table]:
    """Every table reachable from ``customers`` by following foreign keys downwards."""
    linked = {Customer.__tablename__}
    tables = [Base.metadata.tables[Customer.__tablename__]]
    for table in Base.metadata.sorted_tables:
        if table.name in linked:
            continue
        if {parent for _, parent, _ in _parents(table)} & linked:
            linked.add(table.name)
            tables.append(table)
    return tables


def _chunks(values: list[Any]) -> Iterable[list[Any]]:
    for start in range(0, len(values), _IN_CHUNK):
        yield values[start : start + _IN_CHUNK]


def _customer_rows(session: Session, customer_id: int) -> list[dict[str, Any]]:
    """The customer and, transitively, the customer rows merged into it (the same person)."""
    table = Base.metadata.tables[Customer.__tablename__]
    ids = {customer_id}
    frontier = [customer_id]
    rows: list[dict[str, Any]] = []
    first = session.execute(select(table).where(table.c.id == customer_id)).mappings().first()
    if first is None:
        return []
    rows.append(dict(first))
    while frontier:
        merged = session.execute(select(table).where(table.c.merged_into_id.in_(frontier)))
        frontier = []
        for row in merged.mappings():
            if row["id"] not in ids:
                ids.add(row["id"])
                frontier.append(row["id"])
                rows.append(dict(row))
    return rows


def collect(session: Session, customer_id: int) -> Holdings:
    """Every row held about ``customer_id`` (empty when there is no such customer)."""
    holdings = Holdings(customer_id)
    customers = _customer_rows(session, customer_id)
    if not customers:
        return holdings
    holdings.rows[Customer.__tablename__] = customers
    for table in customer_linked_tables()[1:]:
        seen: dict[tuple[Any, ...], dict[str, Any]] = {}
        primary = [c.name for c in table.primary_key.columns]
        for column, parent, parent_column in _parents(table):
            if parent not in holdings.rows:
                continue
            values = sorted({r[parent_column] for r in holdings.rows[parent]} - {None})
            for chunk in _chunks(values):
                for row in session.execute(select(table).where(column.in_(chunk))).mappings():
                    seen[tuple(row[p] for p in primary)] = dict(row)
        holdings.rows[table.name] = list(seen.values())
    return holdings
