"""The Alembic migrations build exactly the schema the ORM models describe."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text

from dbtest import BACKENDS, create_test_engine
from recompra.migrate import downgrade, pending_differences, upgrade
from recompra.models import Base


@pytest.fixture(params=BACKENDS)
def fresh_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from create_test_engine(request.param, tmp_path)


@pytest.fixture(params=[p for p in BACKENDS if p != "sqlite"])
def postgres_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated PostgreSQL engine only: storage parameters exist there alone."""
    yield from create_test_engine(request.param, tmp_path)


def test_models_and_migrations_agree(fresh_engine: Engine) -> None:
    assert pending_differences(fresh_engine) == []
    tables = set(inspect(fresh_engine).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_downgrade_to_base_and_back(fresh_engine: Engine) -> None:
    downgrade(fresh_engine, "base")
    assert set(inspect(fresh_engine).get_table_names()) <= {"alembic_version"}
    upgrade(fresh_engine)
    assert pending_differences(fresh_engine) == []


def test_journeys_are_analyzed_after_any_change_on_postgresql(postgres_engine: Engine) -> None:
    # A brand's few dozen journeys never reach PostgreSQL's default analyze threshold (50
    # changed rows): without statistics the due-timer claim joined every run first.
    with postgres_engine.connect() as conn:
        options = conn.execute(
            text("SELECT reloptions FROM pg_class WHERE relname = 'journeys'")
        ).scalar_one()
    assert sorted(options) == [
        "autovacuum_analyze_scale_factor=0",
        "autovacuum_analyze_threshold=0",
    ]


def test_rows_every_ledger_write_updates_keep_room_in_their_pages(postgres_engine: Engine) -> None:
    # Each earn and redemption updates its account's row and a redemption the lots it
    # takes from: free room in their pages keeps those updates HOT while a slow
    # transaction delays pruning (migration 0038, issue 19).
    with postgres_engine.connect() as conn:
        options = dict(
            conn.execute(
                text(
                    "SELECT relname, reloptions FROM pg_class"
                    " WHERE relname IN ('loyalty_accounts', 'loyalty_lots')"
                )
            ).all()
        )
    assert options == {"loyalty_accounts": ["fillfactor=50"], "loyalty_lots": ["fillfactor=70"]}
