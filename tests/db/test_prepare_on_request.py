"""PostgreSQL: a statement carrying ``db.PREPARED`` is prepared on the server, the others
are not (docs/api.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, Integer, bindparam, literal_column, select, text

from dbtest import create_test_engine, postgres_url
from recompra.db import PREPARED, make_engine, unit_of_work
from recompra.segments.service import reevaluate_customers

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


@pytest.mark.postgres
def test_the_segments_lookup_of_every_loyalty_write_is_prepared(tmp_path: Path) -> None:
    """Every earn and redemption asks the brand's active segments (their rule hashes);
    planned on each call it cost PostgreSQL more CPU than running it (docs/api.md)."""
    for engine in create_test_engine("postgres", tmp_path, pool_size=1):
        with unit_of_work(engine) as session:
            for _ in range(3):
                # No active segment: the lookup is all an incremental re-evaluation runs.
                assert reevaluate_customers(session, 1, [1]) == {}
            prepared = session.execute(
                text(
                    "SELECT generic_plans + custom_plans FROM pg_prepared_statements"
                    " WHERE strpos(statement, 'segment_versions.rule_hash') > 0"
                )
            ).all()
        # Prepared once on the unit's connection, run prepared three times.
        assert [runs for (runs,) in prepared] == [3]
