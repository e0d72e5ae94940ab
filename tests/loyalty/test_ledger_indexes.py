"""The ledger's hot-path indexes (migration 0031): a movement without a batch or an order
adds no entry to those indexes, and the lookups by batch or by order still use them."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from recompra.db import unit_of_work
from recompra.db.dialect import is_sqlite

#: The partial indexes of ``loyalty_movements`` and their column.
PARTIAL = (
    ("ix_loyalty_movements_batch_id", "batch_id"),
    ("ix_loyalty_movements_order_id", "order_id"),
)


def _plan(engine: Engine, statement: str, value: str | None = None) -> str:
    """The query plan of ``statement`` (its one parameter, if any, bound to ``value``)."""
    with unit_of_work(engine, write=False) as session:
        connection = session.connection()
        if is_sqlite(connection):
            rows = connection.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {statement}", () if value is None else (value,)
            )
            return "\n".join(str(row[-1]) for row in rows)
        # The table is empty, so PostgreSQL would rightly read it whole; with sequential
        # scans priced out, the plan shows which index the statement can use at all.
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        rows = connection.exec_driver_sql(
            f"EXPLAIN {statement}", {} if value is None else {"x": value}
        )
        return "\n".join(str(row[0]) for row in rows)


@pytest.mark.parametrize(("index", "column"), PARTIAL)
def test_a_lookup_by_value_uses_the_index(engine: Engine, index: str, column: str) -> None:
    x = "?" if engine.dialect.name == "sqlite" else "%(x)s"
    value = x if column == "batch_id" else f"CAST({x} AS BIGINT)"
    plan = _plan(engine, f"SELECT id FROM loyalty_movements WHERE {column} = {value}", "7")
    assert index in plan


@pytest.mark.parametrize(("index", "column"), PARTIAL)
def test_the_index_holds_no_null(engine: Engine, index: str, column: str) -> None:
    # An index that holds the NULLs could answer ``IS NULL``; the partial one cannot,
    # since it has no entry for them: the hot path's movements write none.
    plan = _plan(engine, f"SELECT id FROM loyalty_movements WHERE {column} IS NULL")
    assert index not in plan
