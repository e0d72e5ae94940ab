"""Test databases: a migrated SQLite file, or a fresh database on the test PostgreSQL.

``RECOMPRA_TEST_POSTGRES_URL`` (set by ``scripts/test``) points at a server; each engine
gets its own database with a random name, dropped afterwards.
"""

from __future__ import annotations

import fcntl
import os
import pickle
import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from recompra.db import held_writer, make_engine, unit_of_work
from recompra.db.dialect import is_postgresql
from recompra.hub.brands import ensure_brand
from recompra.hub.importers.olist import import_olist
from recompra.hub.rejects import ImportReport
from recompra.migrate import upgrade

PG_ENV = "RECOMPRA_TEST_POSTGRES_URL"


def connections_in_use(engine: Engine) -> int:
    """Connections checked out of ``engine``'s pool, but the SQLite writer's connection
    held idle between write units of work (``db/held_writer.py``)."""
    keeper = held_writer(engine)
    return engine.pool.checkedout() - (1 if keeper is not None and keeper.idle else 0)


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def postgres_url() -> str | None:
    """The admin URL of the test PostgreSQL server, if configured."""
    return os.environ.get(PG_ENV) or None


def create_test_engine(backend: str, tmp: Path, *, pool_size: int = 12) -> Iterator[Engine]:
    """Yield a migrated engine on ``backend`` and clean it up afterwards."""
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{tmp}/{uuid.uuid4().hex[:8]}.db")
        upgrade(engine)
        yield engine
        engine.dispose()
        return
    url = postgres_url()
    if url is None:
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (scripts/test starts a server)")
    name = f"recompra_test_{uuid.uuid4().hex[:10]}"
    admin = make_engine(url, pool_size=1)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(
        make_url(url).set(database=name).render_as_string(hide_password=False),
        pool_size=pool_size,
    )
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def olist_database(olist_dir: Path, directory: Path) -> tuple[str, Engine, int]:
    """Olist imported (as ``recompra import olist`` does) into a migrated SQLite file in
    ``directory`` (made by ``tmp_path_factory.mktemp``): its URL, engine and brand id. The
    caller disposes of the engine.

    The import takes about 40 s of CPU and several test modules need it, so it runs once
    per test run (shared by the xdist workers under a file lock) into a template file;
    each caller gets a copy of its own to change as it likes.
    """
    target = directory / "olist.db"
    shutil.copyfile(_olist_template(olist_dir, directory), target)
    url = f"sqlite:///{target}"
    engine = make_engine(url)
    with unit_of_work(engine) as session:
        brand_id = ensure_brand(session, "olist").id
    return url, engine, brand_id


def olist_first_import_report(olist_dir: Path, directory: Path) -> ImportReport:
    """The report of the import that built the run's Olist template (see ``olist_database``):
    the first import of Olist into an empty migrated SQLite database."""
    folder = _olist_template(olist_dir, directory).parent
    with (folder / "report.pickle").open("rb") as handle:
        report: ImportReport = pickle.load(handle)
    return report


def _olist_template(olist_dir: Path, directory: Path) -> Path:
    """The run's one imported Olist database, built by whichever worker asks first."""
    # ``directory`` is <basetemp>/<name>N; an xdist worker's basetemp is <run>/popen-gwK,
    # so the run's folder (shared by the workers, cleaned by pytest's own retention) is
    # two levels up under xdist and one level up without it.
    under_xdist = "PYTEST_XDIST_WORKER" in os.environ
    folder = (directory.parent.parent if under_xdist else directory.parent) / "olist-template"
    folder.mkdir(exist_ok=True)
    template, done = folder / "olist.db", folder / "complete"
    with (folder / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            template.unlink(missing_ok=True)
            engine = make_engine(f"sqlite:///{template}")
            upgrade(engine)
            with unit_of_work(engine) as session:
                brand_id = ensure_brand(session, "olist").id
            report = import_olist(engine, olist_dir, brand_id=brand_id)
            with engine.connect() as conn:
                # Everything into the main file, so copying that one file is the database.
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            engine.dispose()
            # Kept so that the import test checks this import's report instead of paying
            # for another full import of its own.
            with (folder / "report.pickle").open("wb") as handle:
                pickle.dump(report, handle)
            done.touch()
    return template


def wait_until_blocked_or_done(engine: Engine, thread: threading.Thread) -> None:
    """Return once ``thread`` finished or a backend of ``engine``'s database waits on a
    lock (PostgreSQL); on SQLite, once it finished or after a second (a writer there waits
    at ``BEGIN IMMEDIATE``, out of sight). For race tests: a writer held open, a second
    one started in ``thread``, then the first commits."""
    if not is_postgresql(engine):
        thread.join(1.0)
        return
    with engine.connect() as watcher:
        while thread.is_alive():
            waiting = watcher.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar()
            watcher.rollback()
            if waiting:
                return
            thread.join(0.05)
