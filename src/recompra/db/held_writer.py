"""SQLite: the write connection held open across write units of work.

A write unit of work on an SQLite file runs behind the writer queue (``db/writers.py``):
one writer of the process at a time. Checking a pooled connection out for each one,
setting its ``BEGIN IMMEDIATE`` option, joining the engine's event dispatch to a new
``Connection`` and checking it back in (the pool's reset, its queue) cost about 20 µs of
a loyalty write's 450 (issue 20), for a connection that only the queue's holder may use.

So each engine on a file keeps its writer's ``Connection`` between units of work: the
queue's holder takes it, the unit of work begins, commits or rolls back its transaction
on it, and gives it back. Nothing else changes: the same driver connection settings, the
same ``begin`` listener (``BEGIN IMMEDIATE``), the engine's statement, commit and
rollback events; the pool's ``checkin`` listeners (the automation wake-ups) are called
when it is given back, as the pool calls them when a connection returns. It is dropped,
and the next unit of work opens another from the pool:

- when it is given back still in a transaction, invalidated or closed (an error);
- after ``engine.dispose()`` (a restore replaces the database file under the engine: a
  connection left open on the old file must neither write to it nor, at its close,
  checkpoint the new file's WAL into it). An idle one is closed at once, a busy one when
  it is given back;
- in a forked child, which never uses nor closes its parent's.

An engine dropped without ``dispose()`` closes its held connection when it is collected.
A checked-out connection's garbage-collection hook (SQLAlchemy's finalizer of the pooled
connection) refers to its pool, and the pool's listeners to the engine: that hook kept
every such engine alive for good, with its SQLite connection (three open files) and its
checkpointer thread. The held connection's hook is therefore replaced by one that refers
to the driver connection alone, called when the keeper (so the engine) is collected.

An in-memory database (one connection per thread, ``SingletonThreadPool``) holds none.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any

from sqlalchemy import Connection, Engine, event


class HeldWriter:
    """One engine's write connection, taken and given back by the writer queue's holder
    (so never by two threads at once)."""

    def __init__(self, engine: Engine, begin_options: dict[str, Any]) -> None:
        """``begin_options``: the connection's execution options that make the engine's
        ``begin`` listener issue ``BEGIN IMMEDIATE`` (``db._configure_sqlite``)."""
        self._engine = engine
        self._begin_options = begin_options
        self._pid = os.getpid()
        self._pool = engine.pool
        self._conn: Connection | None = None
        #: A forked child's references to its parent's connection: kept, so that the
        #: child's garbage collector never closes the parent's SQLite connection.
        self._parents: list[Connection] = []
        #: Closes the held connection's driver connection when this keeper is collected.
        self._closer: weakref.finalize[Any, Any] | None = None
        #: Guards ``_conn`` against ``engine.dispose()`` on another thread.
        self._swap = threading.Lock()
        event.listen(engine, "engine_disposed", self._disposed)

    def take(self) -> Connection:
        """The held connection, or a new one from the pool (the first unit of work, or
        after one was dropped), with ``BEGIN IMMEDIATE`` as its begin."""
        with self._swap:
            conn, self._conn = self._conn, None
        if conn is not None and self._pool is self._engine.pool and self._pid == os.getpid():
            return conn
        if self._pid != os.getpid():
            # A forked child: the parent's connection is forgotten, never closed here.
            self._pid = os.getpid()
            if conn is not None:
                self._parents.append(conn)
        elif conn is not None:
            _close(conn)  # the engine was disposed: a new pool, maybe a new file
        self._pool = self._engine.pool
        conn = self._engine.connect()
        conn.execution_options(**self._begin_options)
        self._unpin(conn)
        return conn

    def _unpin(self, conn: Connection) -> None:
        """Swap SQLAlchemy's garbage-collection hook of ``conn`` (it keeps the engine
        alive) for one that closes the driver connection when this keeper is collected."""
        fairy: Any = conn.connection
        hook = getattr(fairy, "_finalizer", None)  # SQLAlchemy's (a ``weakref.finalize``)
        if hook is not None:
            hook.detach()
        if self._closer is not None:
            self._closer.detach()
        # Not at exit (SQLAlchemy's hook does nothing then either), and never in a forked
        # child: closing the parent's SQLite connection there could checkpoint its WAL.
        self._closer = weakref.finalize(self, _close_driver, fairy.dbapi_connection, os.getpid())
        self._closer.atexit = False

    def give_back(self, conn: Connection) -> None:
        """Keep ``conn`` for the next unit of work (its transaction ended), or close it."""
        if conn.closed or conn.invalidated:
            conn.close()
            return
        if self._pid != os.getpid():
            self._parents.append(conn)  # a unit of work a fork interrupted: its parent's
            return
        if self._pool is not self._engine.pool:
            _close(conn)
            return
        record: Any = conn.connection._connection_record
        driver: Any = conn.connection.dbapi_connection
        if conn.in_transaction() or driver is None or driver.in_transaction:
            conn.close()  # the pool rolls back whatever is left and checks it in
            return
        checkin = self._pool.dispatch.checkin
        if checkin:
            checkin(driver, record)
        with self._swap:
            stale, self._conn = self._conn, conn
        if stale is not None:  # never expected: one holder at a time
            stale.close()

    @property
    def idle(self) -> Connection | None:
        """The held connection while no unit of work has it (tests, diagnostics)."""
        return self._conn

    def _disposed(self, engine: Engine) -> None:
        with self._swap:
            conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._pid != os.getpid():
            self._parents.append(conn)  # a forked child's ``dispose(close=False)``
        else:
            _close(conn)


def _close_driver(driver: Any, pid: int) -> None:
    """Close an engine's held driver connection once the engine is gone (in its process)."""
    if os.getpid() == pid:
        driver.close()


def _close(conn: Connection) -> None:
    """Close ``conn``'s driver connection itself: after ``engine.dispose()`` its pool is
    the old one, and checking it in there would keep it open."""
    try:
        conn.invalidate()
    finally:
        conn.close()
