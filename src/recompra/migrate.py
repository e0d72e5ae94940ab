"""Schema migrations: upgrade to head, check that models and migrations agree."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine

from recompra.db import get_engine
from recompra.models import Base

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", (engine or get_engine()).url.render_as_string(False))
    return config


def _migrate(step: Callable[[Config, str], None], engine: Engine | None, revision: str) -> None:
    """Run an Alembic ``step`` to ``revision`` in one transaction on ``engine``.

    On SQLite, foreign keys are off while the migrations run, then checked before the
    commit. SQLite alters most constraints by rebuilding the table (Alembic's batch mode:
    copy, drop the old table, rename), and with foreign keys on, dropping a table that
    other rows reference fails: an installation with loyalty movements could not upgrade
    past ``0017_loyalty_accounts``. This is SQLite's own procedure for such changes
    (https://www.sqlite.org/lang_altertable.html, "other kinds of table schema changes");
    ``PRAGMA foreign_key_check`` before the commit still refuses a migration that leaves
    a dangling reference, and nothing is written then.
    """
    engine = engine or get_engine()
    config = alembic_config(engine)
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # A PRAGMA is a no-op inside a transaction: set it on the driver's connection
            # before SQLAlchemy begins one.
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            with connection.begin():
                # env.py migrates on this connection instead of opening its own.
                config.attributes["connection"] = connection
                step(config, revision)
                if sqlite:
                    _check_foreign_keys(connection)
        finally:
            if sqlite:
                connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


def _check_foreign_keys(connection: Connection) -> None:
    dangling = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if dangling:
        table, rowid, parent, _ = dangling[0]
        raise RuntimeError(
            f"the migration leaves {len(dangling)} rows referencing missing rows "
            f"(first: {table} rowid {rowid} -> {parent}); nothing was changed"
        )


def upgrade(engine: Engine | None = None, revision: str = "heads") -> None:
    """Bring the database of ``engine`` to ``revision`` (default: every head)."""
    _migrate(command.upgrade, engine, revision)


def downgrade(engine: Engine | None = None, revision: str = "base") -> None:
    """Take the database of ``engine`` down to ``revision``."""
    _migrate(command.downgrade, engine, revision)


def pending_differences(engine: Engine | None = None) -> list[object]:
    """Differences between the ORM models and the migrated schema (empty when they agree)."""
    engine = engine or get_engine()
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def revision(message: str, engine: Engine | None = None) -> None:
    """Autogenerate a new migration from the models (for developers; see CONTRIBUTING)."""
    config = alembic_config(engine)
    command.revision(config, message=message, autogenerate=True)
