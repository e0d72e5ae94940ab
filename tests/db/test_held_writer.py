"""SQLite: the write connection held across write units of work (``db/held_writer.py``)."""

from __future__ import annotations

import gc
import sqlite3
import threading
import weakref
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, text

from recompra.db import held_writer, make_engine, session_factory, unit_of_work


@pytest.fixture
def engine(tmp_path: Path) -> Any:
    engine = make_engine(f"sqlite:///{tmp_path}/held.db")
    with unit_of_work(engine) as session:
        session.execute(text("CREATE TABLE t (x INTEGER)"))
    yield engine
    engine.dispose()


def _driver(engine: Engine) -> Any:
    keeper = held_writer(engine)
    assert keeper is not None
    assert keeper.idle is not None
    return keeper.idle.connection.dbapi_connection


def test_write_units_of_work_check_one_connection_out_and_leave_no_transaction(
    engine: Engine,
) -> None:
    """Five write units of work: one pool checkout between them (each checked one out
    and back in before), each its own ``BEGIN IMMEDIATE`` and commit, none left open."""
    checkouts: list[object] = []
    begins: list[str] = []
    event.listen(engine.pool, "checkout", lambda *_a: checkouts.append(1))

    def statement(_c: Any, _cur: Any, sql: str, *_a: Any) -> None:
        if sql.startswith("BEGIN"):
            begins.append(sql)

    event.listen(engine, "before_cursor_execute", statement)
    for n in range(5):
        with unit_of_work(engine) as session:
            session.execute(text("INSERT INTO t VALUES (:x)"), {"x": n})
        assert not _driver(engine).in_transaction
    assert begins == ["BEGIN IMMEDIATE"] * 5
    assert checkouts == []  # the fixture's unit checked the held one out
    with unit_of_work(engine, write=False) as session:  # a read: a pooled connection
        assert session.scalar(text("SELECT count(*) FROM t")) == 5


def test_a_failed_unit_rolls_back_and_the_next_one_writes_on_the_same_connection(
    engine: Engine,
) -> None:
    driver = _driver(engine)

    def failing_write() -> None:
        with unit_of_work(engine) as session:
            session.execute(text("INSERT INTO t VALUES (1)"))
            raise RuntimeError("the write fails")

    with pytest.raises(RuntimeError):
        failing_write()
    assert _driver(engine) is driver
    assert not driver.in_transaction
    with unit_of_work(engine) as session:
        session.execute(text("INSERT INTO t VALUES (2)"))
    with unit_of_work(engine, write=False) as session:
        assert list(session.scalars(text("SELECT x FROM t"))) == [2]


def test_a_unit_left_in_a_transaction_gives_its_connection_back_to_the_pool(
    engine: Engine,
) -> None:
    """A caller's raw ``BEGIN`` on the driver after the unit's commit: the connection is
    not kept (the pool rolls it back), and the next writer is not blocked by it."""
    driver = _driver(engine)
    with unit_of_work(engine) as session:
        session.execute(text("INSERT INTO t VALUES (1)"))
        session.commit()
        driver.execute("BEGIN IMMEDIATE")
        driver.execute("INSERT INTO t VALUES (99)")
    keeper = held_writer(engine)
    assert keeper is not None
    assert keeper.idle is None
    with unit_of_work(engine) as session:
        session.execute(text("INSERT INTO t VALUES (2)"))
    with unit_of_work(engine, write=False) as session:
        assert sorted(session.scalars(text("SELECT x FROM t"))) == [1, 2]


def test_dispose_closes_the_held_connection_and_the_next_unit_opens_another(
    engine: Engine,
) -> None:
    """A restore disposes the engine, then replaces the database file: a connection left
    open on the old file could checkpoint the new file's WAL into it at its close."""
    driver = _driver(engine)
    engine.dispose()
    with pytest.raises(sqlite3.ProgrammingError):
        driver.execute("SELECT 1")
    with unit_of_work(engine) as session:
        session.execute(text("INSERT INTO t VALUES (1)"))
    assert _driver(engine) is not driver


def test_writer_threads_share_the_held_connection_one_at_a_time(engine: Engine) -> None:
    """Four threads x 50 write units: every row written, the count read under the lock
    never torn (each unit reads the count, then inserts count + 1)."""

    def writer() -> None:
        for _ in range(50):
            with unit_of_work(engine) as session:
                count = session.scalar(text("SELECT count(*) FROM t"))
                session.execute(text("INSERT INTO t VALUES (:x)"), {"x": count + 1})

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with unit_of_work(engine, write=False) as session:
        values = list(session.scalars(text("SELECT x FROM t ORDER BY x")))
    assert values == list(range(1, 201))


@pytest.mark.filterwarnings("error")
def test_an_engine_dropped_without_dispose_is_collected_and_closes_its_held_connection(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The held connection stays checked out between units of work; SQLAlchemy's
    garbage-collection hook of a checked-out connection refers to the engine (through its
    pool), which kept an engine dropped without ``dispose()`` alive with its SQLite
    connection open. Now the engine is collected and its held connection closed, with no
    warning nor pool error logged."""
    engine = make_engine(f"sqlite:///{tmp_path}/dropped.db")
    with unit_of_work(engine) as session:
        session.execute(text("CREATE TABLE t (x INTEGER)"))
    with unit_of_work(engine) as session:
        session.execute(text("INSERT INTO t VALUES (1)"))
    driver = _driver(engine)
    gone = weakref.ref(engine)
    del engine, session
    gc.collect()
    assert gone() is None
    with pytest.raises(sqlite3.ProgrammingError):  # closed
        driver.execute("SELECT 1")
    assert [r.getMessage() for r in caplog.records if r.levelname in ("WARNING", "ERROR")] == []
    reader = sqlite3.connect(tmp_path / "dropped.db")
    assert reader.execute("SELECT x FROM t").fetchall() == [(1,)]  # the commits stayed
    reader.close()


@pytest.mark.filterwarnings("error")
def test_an_engine_whose_sessionmaker_was_used_is_collected(tmp_path: Path) -> None:
    """The API's read sessions come from ``session_factory``'s cached sessionmaker, which
    refers to its engine: cached as the value of a dictionary weakly keyed by the engine,
    it kept that key alive, so such an engine (its pool, its SQLite connections, its
    checkpointer thread) was never collected."""
    engine = make_engine(f"sqlite:///{tmp_path}/maker.db")
    with unit_of_work(engine) as session:
        session.execute(text("CREATE TABLE t (x INTEGER)"))
    assert session_factory(engine) is session_factory(engine)  # cached
    with session_factory(engine)() as read:
        assert read.execute(text("SELECT count(*) FROM t")).scalar_one() == 0
    gone = weakref.ref(engine)
    del engine, session, read
    gc.collect()
    assert gone() is None
