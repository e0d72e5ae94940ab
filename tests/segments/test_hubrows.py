"""The copy of hub rows into DuckDB: only the brand's rows (loyalty through its program),
typed columns (timestamps, dates, nulls kept), ``brand_id`` as a constant.
SQLite and PostgreSQL (their JSON arrays differ: naive text vs offsets)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest
from segmenttest import brand, customer, order
from sqlalchemy import Engine, Table

from dbtest import BACKENDS, create_test_engine
from recompra.db import unit_of_work
from recompra.loyalty import create_program
from recompra.models import CustomerScore, LoyaltyAccount, LoyaltyProgram, Order
from recompra.segments.hubrows import brand_scope, copy_rows

_ORDERS: Table = Order.__table__  # type: ignore[assignment]
_ACCOUNTS: Table = LoyaltyAccount.__table__  # type: ignore[assignment]
_SCORES: Table = CustomerScore.__table__  # type: ignore[assignment]
_PROGRAMS: Table = LoyaltyProgram.__table__  # type: ignore[assignment]
AT = datetime(2026, 3, 1, 23, 59, 59, 999_999, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from create_test_engine(request.param, tmp_path)


def test_only_the_brands_rows_are_copied_typed(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        mine, other = brand(session, "mine"), brand(session, "other")
        ids = {}
        for b in (mine, other):
            c = customer(session, b)
            ids[b] = (c, order(session, b, c, total_minor=1_234, at=AT))
            program = create_program(session, brand_id=b, name=f"Clube {b}")
            session.add(LoyaltyAccount(program_id=program.id, customer_id=c, balance=10 * b))
            session.add(
                CustomerScore(
                    brand_id=b,
                    customer_id=c,
                    as_of=date(2026, 2, 28),
                    p_alive=None,
                    churn_risk=0.25,
                )
            )
        session.flush()
        duck = duckdb.connect()
        duck.execute("SET TimeZone = 'UTC'")
        connection = session.connection()
        for name, table, columns in (
            ("orders", _ORDERS, ["id", "brand_id", "purchased_at", "total_minor"]),
            ("accounts", _ACCOUNTS, ["customer_id", "balance", "override_until"]),
            ("scores", _SCORES, ["brand_id", "as_of", "p_alive", "churn_risk"]),
            ("programs", _PROGRAMS, ["brand_id", "status"]),
        ):
            constants = {"brand_id": mine} if "brand_id" in columns else None
            copy_rows(connection, duck, name, table, columns, brand_scope(table, mine), constants)

    customer_id, order_id = ids[mine]
    assert duck.execute("SELECT * FROM orders").fetchall() == [(order_id, AT, 1_234, mine)]
    assert duck.execute("SELECT * FROM accounts").fetchall() == [(customer_id, 10 * mine, None)]
    assert duck.execute("SELECT * FROM scores").fetchall() == [
        (date(2026, 2, 28), None, 0.25, mine)
    ]
    assert duck.execute("SELECT * FROM programs").fetchall() == [("active", mine)]
    kinds = dict(duck.execute("SELECT column_name, data_type FROM duckdb_columns()").fetchall())
    assert kinds["purchased_at"] == "TIMESTAMP WITH TIME ZONE"
    assert kinds["as_of"] == "DATE"
    assert kinds["brand_id"] == "BIGINT"
