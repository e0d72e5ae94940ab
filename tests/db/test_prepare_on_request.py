"""PostgreSQL: only the statements that ask to be prepared are, and the driver keeps no
count of the others (its ``prepare_threshold`` is ``None``; docs/api.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, Integer, bindparam, literal_column, select, text

from dbtest import postgres_url
from recompra.db import PREPARED, make_engine

_ASKS = "SELECT %s::int + 1 AS asks_to_be_prepared"
_PLAIN = "SELECT %s::int + 2 AS plain_statement"


def _server_prepared(cursor: Any, fragment: str) -> list[tuple[str, int]]:
    """This session's prepared statements whose text holds ``fragment``, with their runs."""
    cursor.execute(
        "SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements"
        " WHERE strpos(statement, %s) > 0",
        (fragment,),
    )
    return [(row[0], row[1]) for row in cursor.fetchall()]


@pytest.fixture
def engine() -> Iterator[Engine]:
    """An engine on the test PostgreSQL server, as the app makes it."""
    url = postgres_url()
    if url is None:
        pytest.skip("needs RECOMPRA_TEST_POSTGRES_URL")
    engine = make_engine(url, pool_size=1)
    yield engine
    engine.dispose()


@pytest.mark.postgres
def test_only_a_statement_executed_with_prepare_is_prepared(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        driver = conn.connection.driver_connection
        assert driver is not None
        # No count kept per statement: psycopg's bookkeeping is off...
        assert driver.prepare_threshold is None
        cursor = driver.cursor()
        for value in range(10):
            cursor.execute(_PLAIN, (value,))
            assert cursor.fetchone() == (value + 2,)
        for value in range(3):
            cursor.execute(_ASKS, (value,), prepare=True)
            assert cursor.fetchone() == (value + 1,)
        # ...and stays off after a statement asked to be prepared,
        assert driver.prepare_threshold is None
        # which was prepared once and then run prepared (3 runs of one statement);
        assert _server_prepared(cursor, "asks_to_be_prepared") == [
            ("SELECT $1::int + 1 AS asks_to_be_prepared", 3)
        ]
        # the plain one, run 10 times, never was.
        assert _server_prepared(cursor, "plain_statement") == []
        # An executemany's statement is prepared, as psycopg does by itself.
        cursor.executemany("SELECT %s::int AS many_rows", [(1,), (2,), (3,), (4,)])
        assert _server_prepared(cursor, "many_rows") == [("SELECT $1::int AS many_rows", 4)]
        cursor.close()


@pytest.mark.postgres
def test_a_statement_carrying_the_prepared_option_is_prepared_on_the_server(
    engine: Engine,
) -> None:
    asks = select(literal_column("1").label("core_asks")).where(bindparam("x", type_=Integer) > 0)
    with engine.connect() as conn:
        for value in (1, 2, 3):
            assert conn.execute(asks.execution_options(**PREPARED), {"x": value}).all() == [(1,)]
            assert conn.execute(
                asks.add_columns(literal_column("2").label("core_plain")), {"x": value}
            ).all()
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        prepared = _server_prepared(cursor, "core_asks")
        # The one with the option: prepared once, run three times; the other never.
        assert [runs for _, runs in prepared] == [3]
        assert "core_plain" not in prepared[0][0]
        cursor.close()


def test_the_prepared_option_changes_nothing_on_sqlite(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/prepared.db")
    statement = select(bindparam("x", type_=Integer) + 1).execution_options(**PREPARED)
    with engine.connect() as conn:
        assert conn.execute(statement, {"x": 41}).scalar_one() == 42
    engine.dispose()
