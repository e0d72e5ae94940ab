"""Upgrading an installation that holds data (SQLite).

A migration that rebuilds a table (SQLite's batch mode: copy, drop, rename) failed with
"FOREIGN KEY constraint failed" as soon as other rows referenced the table: an
installation with loyalty movements could not upgrade past ``0017_loyalty_accounts``.
The rows here are written with plain SQL at the revision before, as that installation
holds them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from recompra.db import make_engine
from recompra.migrate import upgrade

BEFORE = "0016_commercial_refit"
NOW = "2026-01-02 03:04:05"
ROWS = [
    (
        "INSERT INTO brands (id, slug, name, default_currency, default_locale, created_at) "
        "VALUES (1, 'loja', 'Loja', 'BRL', 'pt-BR', :now)"
    ),
    "INSERT INTO customers (id, created_at, updated_at) VALUES (1, :now, :now)",
    (
        "INSERT INTO loyalty_programs (id, brand_id, name, status, currency,"
        " return_window_days, release_on, expiry_days, expiry_warning_days,"
        " refund_validity_days, tier_window_days, tier_review_days, tier_grace_days,"
        " created_at) VALUES (1, 1, 'Clube', 'active', 'BRL', 7, 'window', 365, 30, 30,"
        " 365, 30, 30, :now)"
    ),
    (
        "INSERT INTO loyalty_accounts (id, program_id, customer_id, balance, pending, debt,"
        " created_at, updated_at) VALUES (1, 1, 1, 100, 0, 0, :now, :now)"
    ),
    (
        "INSERT INTO loyalty_movements (id, account_id, kind, points, pending_delta,"
        " debt_delta, created_at) VALUES (1, 1, 'earn', 100, 0, 0, :now)"
    ),
]


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return make_engine(f"sqlite:///{tmp_path / 'installed.db'}")


def _count(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_an_installation_with_loyalty_movements_upgrades_to_head(engine: Engine) -> None:
    upgrade(engine, BEFORE)
    with engine.begin() as connection:
        for statement in ROWS:
            connection.execute(text(statement), {"now": NOW})
    upgrade(engine)
    assert (_count(engine, "loyalty_accounts"), _count(engine, "loyalty_movements")) == (1, 1)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall() == []
        # Foreign keys are enforced again on the connection the upgrade used.
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1


def test_a_dangling_reference_is_refused_and_nothing_changes(engine: Engine) -> None:
    upgrade(engine, BEFORE)
    with engine.begin() as connection:
        for statement in ROWS:
            connection.execute(text(statement), {"now": NOW})
    # A movement of an account that does not exist, written with enforcement off (as an
    # old tool or a hand edit could have): the upgrade must not bless it.
    raw = engine.raw_connection()
    try:
        raw.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        raw.driver_connection.execute(  # type: ignore[union-attr]
            "INSERT INTO loyalty_movements (id, account_id, kind, points, pending_delta,"
            " debt_delta, created_at) VALUES (2, 99, 'earn', 5, 0, 0, ?)",
            (NOW,),
        )
        raw.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]
    finally:
        raw.close()
    with pytest.raises(RuntimeError, match="referencing missing rows"):
        upgrade(engine)
    with engine.connect() as connection:
        version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    assert version == BEFORE
