"""The unit of work: transactions, the SQLite writer lock across threads, pool sizing."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import DBAPIError

from dbtest import postgres_url
from recompra.config import Settings
from recompra.db import (
    LAST_USED,
    PING_AFTER_IDLE_S,
    checkpoint,
    dispose_engines,
    get_engine,
    held_writer,
    make_engine,
    unit_of_work,
    wal_checkpoints,
)
from recompra.db.checkpoint import (
    BACKSTOP_PAGES,
    SYNCS_PER_CHECKPOINT,
    WRITES_PER_CHECKPOINT,
    WRITES_PER_SYNC,
)


def test_a_write_unit_of_work_may_end_on_another_thread(tmp_path: Path) -> None:
    """FastAPI enters a generator dependency on one thread and exits it on another."""
    engine = make_engine(f"sqlite:///{tmp_path}/uow.db")
    with unit_of_work(engine) as session:
        session.execute(text("CREATE TABLE t (x INTEGER)"))
    work = unit_of_work(engine)
    opened: list[object] = []
    entering = threading.Thread(target=lambda: opened.append(work.__enter__()))
    entering.start()
    entering.join()
    opened_session = opened[0]
    assert hasattr(opened_session, "execute")
    leaving = threading.Thread(target=lambda: work.__exit__(None, None, None))
    leaving.start()
    leaving.join()

    # The next writer gets the lock at once (the old RLock stayed held for 30 s).
    began = time.monotonic()
    with unit_of_work(engine) as session:
        session.execute(text("INSERT INTO t VALUES (1)"))
    assert time.monotonic() - began < 5
    engine.dispose()


@pytest.mark.parametrize("size", [3, 16])
def test_the_sqlite_pool_has_the_configured_size(tmp_path: Path, size: int) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/pool.db", pool_size=size)
    held = [engine.connect() for _ in range(2 * size)]  # size + as many in overflow
    assert engine.pool.checkedout() == 2 * size  # type: ignore[attr-defined]
    for connection in held:
        connection.close()
    assert engine.pool.size() == size  # type: ignore[attr-defined]
    engine.dispose()


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_recompra_pool_size_is_honoured_on_both_backends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    """``RECOMPRA_POOL_SIZE`` sizes the configured engine (issue 20: it was ignored)."""
    url = f"sqlite:///{tmp_path}/env.db" if backend == "sqlite" else postgres_url()
    if url is None:
        pytest.skip("PostgreSQL tests need RECOMPRA_TEST_POSTGRES_URL")
    monkeypatch.setenv("RECOMPRA_POOL_SIZE", "7")
    monkeypatch.setenv("RECOMPRA_DATABASE_URL", url)
    engine = get_engine(Settings())
    try:
        assert engine.pool.size() == 7  # type: ignore[attr-defined]
        held = [engine.connect() for _ in range(14)]  # 7 kept + 7 in overflow
        assert engine.pool.checkedout() == 14  # type: ignore[attr-defined]
        for connection in held:
            connection.close()
    finally:
        dispose_engines()


@pytest.mark.postgres
def test_an_idle_postgres_connection_killed_by_the_server_is_replaced_at_checkout() -> None:
    """The pool pings a connection idle past ``PING_AFTER_IDLE_S`` and replaces a dead one;
    a connection returned moments ago is used without a ping (one round trip less)."""
    url = postgres_url()
    if url is None:
        pytest.skip("PostgreSQL tests need RECOMPRA_TEST_POSTGRES_URL")
    engine = make_engine(url, pool_size=1)
    admin = make_engine(url, pool_size=1)
    pings: list[object] = []
    do_ping = engine.dialect.do_ping

    def counted_ping(dbapi_connection: Any) -> bool:
        pings.append(dbapi_connection)
        return do_ping(dbapi_connection)

    # The dialect pings on the driver's cursor, unseen by the engine's statement events.
    engine.dialect.do_ping = counted_ping  # type: ignore[method-assign]
    try:
        with engine.connect() as connection:
            first_pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with engine.connect() as connection:  # just returned: no ping
            assert connection.execute(text("SELECT pg_backend_pid()")).scalar_one() == first_pid
        assert pings == []

        with admin.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first_pid})
            connection.commit()
        # Returned moments ago, so not pinged: its first statement finds it dead.
        with engine.connect() as connection, pytest.raises(DBAPIError):
            connection.execute(text("SELECT 1"))
        with engine.connect() as connection:
            first_pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with admin.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first_pid})
            connection.commit()
        idle = engine.pool._pool.queue[0]  # type: ignore[attr-defined]
        idle.info[LAST_USED] -= PING_AFTER_IDLE_S + 1  # as if idle that long
        with engine.connect() as connection:  # pinged, found dead, replaced
            assert connection.execute(text("SELECT pg_backend_pid()")).scalar_one() != first_pid
        assert len(pings) == 1
    finally:
        engine.dispose()
        admin.dispose()


def test_wal_checkpoints_run_in_their_own_thread_not_in_a_writers_commit(tmp_path: Path) -> None:
    """A writer's commit no longer runs SQLite's checkpoint (it drove the ledger's p99):
    the writers' automatic checkpoint is only a backstop, and the checkpointer thread
    copies the WAL back after every WRITES_PER_CHECKPOINT write units of work."""
    engine = make_engine(f"sqlite:///{tmp_path}/wal.db")
    with engine.connect() as conn:
        backstop = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one()
    assert backstop == BACKSTOP_PAGES
    with unit_of_work(engine) as session:
        session.execute(text("CREATE TABLE t (x INTEGER)"))
    for n in range(WRITES_PER_CHECKPOINT - 1):
        with unit_of_work(engine) as session:
            session.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
    assert wal_checkpoints(engine) == 0
    # Reads never count: only write units of work add to the WAL.
    with unit_of_work(engine, write=False) as session:
        session.execute(text("SELECT count(*) FROM t"))
    with unit_of_work(engine) as session:
        session.execute(text("INSERT INTO t VALUES (-1)"))
    deadline = time.monotonic() + 10
    while wal_checkpoints(engine) == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert wal_checkpoints(engine) == 1
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar_one() == WRITES_PER_CHECKPOINT
    engine.dispose()


def _writes(engine: Any, count: int) -> None:
    for n in range(count):
        with unit_of_work(engine) as session:
            session.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})


def _checkpointed(engine: Any, more_than: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while wal_checkpoints(engine) <= more_than and time.monotonic() < deadline:
        time.sleep(0.01)
    return wal_checkpoints(engine) > more_than


def test_the_wal_is_synced_as_often_as_before_and_checkpointed_less_often(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A power loss can lose no more writes than before: the thread syncs the WAL after
    every WRITES_PER_SYNC writes (a checkpoint every 64 writes synced it before). The
    checkpoints, which also copy every page back and sync the database file, come only
    every SYNCS_PER_CHECKPOINT syncs (issue 20: they cost the ledger 55-64 µs a write)."""
    real_sync = getattr(os, "fdatasync", os.fsync)
    synced: list[int] = []

    def recording_sync(descriptor: int) -> None:
        synced.append(os.fstat(descriptor).st_ino)
        real_sync(descriptor)

    monkeypatch.setattr(os, "fdatasync", recording_sync, raising=False)
    monkeypatch.setattr(os, "fsync", recording_sync)
    engine = make_engine(f"sqlite:///{tmp_path}/sync.db")
    with unit_of_work(engine) as session:
        session.execute(text("CREATE TABLE t (x INTEGER)"))
    _writes(engine, WRITES_PER_SYNC - 1)
    for period in range(1, SYNCS_PER_CHECKPOINT):
        deadline = time.monotonic() + 10
        while len(synced) < period and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(synced) == period
        assert set(synced) == {os.stat(f"{tmp_path}/sync.db-wal").st_ino}
        assert wal_checkpoints(engine) == 0
        _writes(engine, WRITES_PER_SYNC)
    assert _checkpointed(engine, 0)
    assert len(synced) == SYNCS_PER_CHECKPOINT - 1  # the last period's sync is the checkpoint's
    assert WRITES_PER_CHECKPOINT == WRITES_PER_SYNC * SYNCS_PER_CHECKPOINT
    engine.dispose()


def test_a_fork_waits_for_the_checkpointer_to_leave_sqlite_and_the_child_checkpoints_alone(
    tmp_path: Path,
) -> None:
    """A child forked while the checkpointer thread was inside SQLite inherited SQLite's
    allocator mutex locked and hung at its first connection (the crash benchmark's forked
    workers did). The fork now waits for the thread to leave SQLite, and the child, which
    has none of the parent's threads, starts a checkpointer of its own."""
    engine = make_engine(f"sqlite:///{tmp_path}/fork.db")
    with unit_of_work(engine) as session:
        session.execute(text("CREATE TABLE t (x INTEGER)"))
    _writes(engine, WRITES_PER_CHECKPOINT)
    assert _checkpointed(engine, 0)
    forked = threading.Event()
    children: list[int] = []

    def fork() -> None:
        pid = os.fork()
        if pid == 0:  # the child: its own writes, its own checkpointer thread
            try:
                engine.dispose(close=False)
                before = wal_checkpoints(engine)
                _writes(engine, WRITES_PER_CHECKPOINT)
                os._exit(0 if _checkpointed(engine, before) else 1)
            except BaseException:
                os._exit(2)
        children.append(pid)
        forked.set()

    # The checkpointer is "inside SQLite" while this test holds its lock.
    checkpoint._in_sqlite.acquire()
    try:
        forking = threading.Thread(target=fork)
        forking.start()
        assert not forked.wait(0.3), "forked while the checkpointer was inside SQLite"
    finally:
        checkpoint._in_sqlite.release()
    forking.join(10)
    assert forked.is_set()
    deadline = time.monotonic() + 30
    status = None
    while time.monotonic() < deadline:
        pid, status = os.waitpid(children[0], os.WNOHANG)
        if pid:
            break
        time.sleep(0.05)
    else:
        os.kill(children[0], signal.SIGKILL)
        os.waitpid(children[0], 0)
    assert status is not None
    assert os.WIFEXITED(status)
    assert os.WEXITSTATUS(status) == 0
    engine.dispose()


def test_the_unit_of_work_ends_its_transaction_through_the_session(tmp_path: Path) -> None:
    """The unit of work begins the connection's transaction itself and hands it to the
    session: the session's commit, rollback, savepoints and events still hold, and the
    connection leaves no transaction open either way (the write units' connection is held
    for the next one: ``db/held_writer.py``)."""
    engine = make_engine(f"sqlite:///{tmp_path}/uow.db")
    ended: list[str] = []
    with unit_of_work(engine) as session:
        event.listen(session, "after_commit", lambda _s: ended.append("commit"))
        session.execute(text("CREATE TABLE t (x INTEGER)"))
    assert ended == ["commit"]

    def failing_savepoint(session: Any) -> None:
        with session.begin_nested():
            session.execute(text("INSERT INTO t VALUES (3)"))
            raise RuntimeError("the savepoint rolls back alone")

    with unit_of_work(engine) as session:
        with session.begin_nested():
            session.execute(text("INSERT INTO t VALUES (1)"))
        with pytest.raises(RuntimeError):
            failing_savepoint(session)
    _only_the_writer_is_out(engine)

    def failing_write() -> None:
        with unit_of_work(engine) as session:
            event.listen(session, "after_rollback", lambda _s: ended.append("rollback"))
            session.execute(text("INSERT INTO t VALUES (2)"))
            raise RuntimeError("the write fails")

    with pytest.raises(RuntimeError):
        failing_write()
    assert ended == ["commit", "rollback"]
    _only_the_writer_is_out(engine)
    with unit_of_work(engine, write=False) as session:
        assert list(session.scalars(text("SELECT x FROM t"))) == [1]
    engine.dispose()


def _only_the_writer_is_out(engine: Engine) -> None:
    """No connection is out of the pool but the writer's, held outside any transaction."""
    keeper = held_writer(engine)
    assert keeper is not None
    held = keeper.idle
    assert held is not None
    assert not held.in_transaction()
    assert not held.connection.dbapi_connection.in_transaction  # type: ignore[union-attr]
    assert engine.pool.checkedout() == 1
