"""Database engine, sessions and the unit of work.

The unit of work (request, job or CLI command) owns the transaction: services only
``flush()``; :func:`unit_of_work` commits on success and rolls back on any exception.

On SQLite the write lock is taken up front (``BEGIN IMMEDIATE``) for write units of
work. Python's sqlite3 would otherwise start the transaction at the first write, so a
balance check would run outside it and two writers could both pass it.

Every SQLite/PostgreSQL difference that services need is in :mod:`recompra.db.dialect`.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import RootTransaction
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from recompra.config import Settings, get_settings
from recompra.db.checkpoint import BACKSTOP_PAGES, WalCheckpointer
from recompra.db.dialect import is_sqlite
from recompra.db.held_writer import HeldWriter
from recompra.db.writers import WriterQueue

_engines: dict[str, Engine] = {}
IMMEDIATE = "recompra_sqlite_immediate"
_IMMEDIATE_BEGIN = {IMMEDIATE: True}
#: SQLite only: one writer queue per engine (threads, then processes), held from before
#: ``BEGIN IMMEDIATE`` to the end of the write unit of work (see :func:`unit_of_work`).
_sqlite_write_locks: weakref.WeakKeyDictionary[Engine, WriterQueue] = weakref.WeakKeyDictionary()
#: SQLite files only: the thread that checkpoints the engine's WAL (db/checkpoint.py).
_checkpointers: weakref.WeakKeyDictionary[Engine, WalCheckpointer] = weakref.WeakKeyDictionary()
#: SQLite files only: the engine attribute holding its writer's connection between write
#: units of work (db/held_writer.py).
_HELD_WRITER = "_recompra_held_writer"
#: The engine attribute holding its sessionmaker: building one per unit of work cost
#: ~100 µs (event registration) against a few µs for a cached one. An attribute, not a
#: ``WeakKeyDictionary`` entry: the sessionmaker refers to its engine, so as a value of
#: such a dictionary it kept its own key, the engine, alive for good; as an attribute it
#: is a cycle the garbage collector frees with the engine.
_SESSION_MAKER = "_recompra_session_maker"
#: How long a writer waits for the writer queue before falling back to SQLite's own busy
#: handler (same as ``busy_timeout``).
WRITE_LOCK_TIMEOUT_S = 30.0
#: PostgreSQL: a pooled connection idle longer than this is pinged before it is used.
PING_AFTER_IDLE_S = 5.0
#: ``ConnectionRecord.info`` key: when the connection was opened or last returned.
LAST_USED = "recompra_last_used"
#: ``Session.info`` key: the connection whose transaction a :func:`unit_of_work` began
#: for the session; statements run on it without starting the session's transaction
#: (``loyalty/prepared.py``).
UNIT_CONNECTION = "recompra_unit_connection"


def _configure_sqlite(engine: Engine, path: str | None) -> None:
    """``path`` is the database file (``None`` in memory: no WAL, no checkpoints)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy so that we can choose the BEGIN mode.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if path is not None:
            # Checkpoints run in the checkpointer's thread; a writer's commit runs one
            # only if that thread falls far behind.
            cursor.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
        cursor.close()

    if path is not None:
        _checkpointers[engine] = WalCheckpointer(engine, path)
        # An attribute, not a weak dictionary's value: the holder refers to its engine.
        setattr(engine, _HELD_WRITER, HeldWriter(engine, _IMMEDIATE_BEGIN))

    # Not re-entrant and owned by no thread: a unit of work may end on another thread
    # than the one it began on (FastAPI runs a generator dependency's entry and exit as
    # two thread-pool calls). The old RLock then failed to release and stayed held:
    # every later writer waited 30 s (issue 20, ADR 0003). Nesting a write unit of work
    # inside another never worked on SQLite (the inner BEGIN IMMEDIATE waits for the
    # outer one), so re-entrancy is not lost.
    _sqlite_write_locks[engine] = WriterQueue(path)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = "IMMEDIATE" if conn.get_execution_options().get(IMMEDIATE) else "DEFERRED"
        # Straight on the driver's cursor: ``exec_driver_sql`` built a whole execution
        # context for it (~40 µs, a twentieth of a loyalty write). The cursor listeners
        # are still called, so statement counters and tracers see the BEGIN.
        statement = f"BEGIN {mode}"
        cursor = conn.connection.dbapi_connection.cursor()
        dispatch = conn.dispatch
        if dispatch.before_cursor_execute:
            dispatch.before_cursor_execute(conn, cursor, statement, (), None, False)
        cursor.execute(statement)
        if dispatch.after_cursor_execute:
            dispatch.after_cursor_execute(conn, cursor, statement, (), None, False)
        cursor.close()


#: Execution option asking PostgreSQL to prepare the statement on the server, once per
#: pooled connection: ``select(...).execution_options(**PREPARED)``. For a hot statement
#: run with scalar parameters (lookups by key): it then costs the backend its execution
#: alone, not its planning (a customer profile read: 0.8 ms of backend CPU planned each
#: time, 0.13 ms prepared). Not for a statement whose best plan depends on its values
#: (an ``IN`` list, a range): PostgreSQL may settle on a generic plan after five runs
#: (see :func:`make_engine`). Ignored on SQLite, which plans in microseconds.
PREPARE_OPTION = "recompra_prepare"
PREPARED = {PREPARE_OPTION: True}


def _execute_prepared_when_asked(
    cursor: Any, statement: str, parameters: Any, context: Any
) -> bool | None:
    """The engine's ``do_execute``: a statement carrying :data:`PREPARED` runs as a
    server-side prepared statement; any other as SQLAlchemy runs it."""
    if context.execution_options.get(PREPARE_OPTION):
        cursor.execute(statement, parameters, prepare=True)
        return True
    return None


#: psycopg's ``prepare_threshold``: more executions than any process makes, so that only
#: a statement executed with ``prepare=True`` is prepared on the server.
PREPARE_ONLY_WHEN_ASKED = 2**62


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """Create an engine for ``url`` with Recompra's connection settings.

    ``pool_size`` connections are kept per process and as many again may be opened under
    load, on both backends (``RECOMPRA_POOL_SIZE``).
    """
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        in_memory = not path or path == ":memory:"
        if not in_memory:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # An in-memory database lives in one connection (SingletonThreadPool): no sizing.
        sizing = {} if in_memory else {"pool_size": pool_size, "max_overflow": pool_size}
        engine = create_engine(
            url,
            connect_args={"timeout": 30, "check_same_thread": False},
            hide_parameters=True,
            **sizing,
        )
        _configure_sqlite(engine, None if in_memory else path.split("?", 1)[0])
        return engine
    # hide_parameters: errors must not echo customer data (e-mails, documents) into logs.
    # prepare_threshold out of reach: psycopg would otherwise switch a statement to a
    # server-side prepared one after five runs, and PostgreSQL's generic plan for the hub's
    # ``value IN (...)`` lookups scans the whole index range: 6.6 s per lookup instead of
    # milliseconds (measured on the Olist import). Not ``None``, which would also refuse
    # the few statements that ask to be prepared (``execute(..., prepare=True)``: the
    # loyalty hot path's lookups by key, ``loyalty.prepared.Prepared(server_prepared=)``,
    # a statement carrying :data:`PREPARED`).
    engine = create_engine(
        url,
        connect_args={"prepare_threshold": PREPARE_ONLY_WHEN_ASKED},
        pool_size=pool_size,
        max_overflow=pool_size,
        hide_parameters=True,
    )
    event.listen(engine, "do_execute", _execute_prepared_when_asked)
    _ping_idle_connections(engine)
    return engine


def _ping_idle_connections(engine: Engine, *, idle_s: float = PING_AFTER_IDLE_S) -> None:
    """Ping a pooled connection at checkout only when it sat idle over ``idle_s``.

    ``pool_pre_ping`` pinged at every checkout: one more round trip per unit of work, a
    tenth of a loyalty earn's. A connection returned moments ago was alive then; one
    idle longer may have been closed by a server restart, an idle timeout or the
    network, and is replaced (SQLAlchemy's pessimistic disconnect handling).
    """

    @event.listens_for(engine, "connect")
    @event.listens_for(engine, "checkin")
    def _note_use(_dbapi_connection: Any, record: Any) -> None:
        record.info[LAST_USED] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _check(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        last_used = record.info.get(LAST_USED)
        if last_used is not None and time.monotonic() - last_used <= idle_s:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # The pool discards this connection and checks out another (a new one if
            # every pooled one is dead).
            raise DisconnectionError("the pooled connection is gone") from exc


def get_engine(settings: Settings | None = None) -> Engine:
    """Return the (cached) engine of the configured database."""
    settings = settings or get_settings()
    url = settings.sqlalchemy_url
    if url not in _engines:
        _engines[url] = make_engine(url, pool_size=settings.pool_size)
    return _engines[url]


def dispose_engines() -> None:
    """Close every cached engine (tests and forked workers call this)."""
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()


def wal_checkpoints(engine: Engine) -> int:
    """How many WAL checkpoints the engine's checkpointer thread has run (SQLite files;
    0 elsewhere)."""
    checkpointer = _checkpointers.get(engine)
    return checkpointer.checkpoints if checkpointer is not None else 0


def held_writer(engine: Engine) -> HeldWriter | None:
    """The engine's held write connection's keeper (SQLite files; ``None`` elsewhere)."""
    found: HeldWriter | None = getattr(engine, _HELD_WRITER, None)
    return found


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """The engine's sessionmaker (cached); its objects stay usable after commit."""
    maker: sessionmaker[Session] | None = getattr(engine, _SESSION_MAKER, None)
    if maker is None:
        maker = sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)
        setattr(engine, _SESSION_MAKER, maker)
    return maker


@contextmanager
def unit_of_work(engine: Engine | None = None, *, write: bool = True) -> Iterator[Session]:
    """Open a session in one transaction: commit on success, roll back on error.

    ``write=True`` takes SQLite's write lock at BEGIN so that reads made to validate a
    write (balances, stock, uniqueness) are serialised with other writers. The unit of
    work may be entered and exited on different threads.
    """
    engine = engine or get_engine()
    # SQLite writer fairness: when BEGIN IMMEDIATE finds the database locked, SQLite's busy
    # handler sleeps (1, 2, 5 ... 100 ms steps) and retries; it keeps no queue, so under
    # load a waiting writer can lose every retry and fail after busy_timeout with
    # "database is locked" (seen with 8 threads x 1,000 loyalty writes), and p99 latency
    # is made of those sleeps. Writers therefore queue before BEGIN IMMEDIATE and leave
    # the queue after commit/rollback, so SQLite's lock is normally free when they ask
    # for it: threads of this process on a lock, processes on a file lock (db/writers.py).
    sqlite_write = write and is_sqlite(engine)
    lock = _sqlite_write_locks.get(engine) if sqlite_write else None
    locked = lock.acquire(timeout=WRITE_LOCK_TIMEOUT_S) if lock is not None else False
    try:
        # The unit of work begins the connection's transaction itself and hands it to the
        # session ("control_fully": the session's commit and rollback end it, and the
        # session's events still fire). Letting the session check out, branch and begin
        # its own connection cost ~70 µs more per unit of work (measured on SQLite: a
        # tenth of a loyalty write); the transaction, the pool's check-in and every
        # engine event (BEGIN IMMEDIATE, the automation wake-ups) are the same.
        # The queue's holder reuses the writer's connection of the last write unit of
        # work (db/held_writer.py); others (reads, in memory, the queue's wait timed out)
        # check one out of the pool.
        held: HeldWriter | None = getattr(engine, _HELD_WRITER, None) if locked else None
        conn = held.take() if held is not None else engine.connect()
        try:
            if sqlite_write and held is None:
                conn.execution_options(**_IMMEDIATE_BEGIN)
            transaction = conn.begin()
            session = _UnitSession(
                bind=conn,
                join_transaction_mode="control_fully",
                expire_on_commit=False,
                autoflush=False,
            )
            session.info[UNIT_CONNECTION] = conn
            try:
                yield session
                _commit(session, transaction)
                if sqlite_write and locked:
                    checkpointer = _checkpointers.get(engine)
                    if checkpointer is not None:
                        checkpointer.wrote()
            except BaseException:
                _rollback(session, transaction)
                raise
            finally:
                if session.in_transaction() or session.identity_map or session.new:
                    session.close()
        finally:
            if held is not None:
                held.give_back(conn)
            else:
                conn.close()
    finally:
        if locked and lock is not None:
            lock.release()


class _UnitSession(Session):
    """A unit of work's session. Statements run on the unit's connection
    (:data:`UNIT_CONNECTION`) may leave the session's own transaction unbegun: a caller's
    ``commit``, ``rollback`` or ``close`` first joins the connection's transaction, so
    that it ends it as it would have had the session begun it."""

    def _join_unit(self) -> None:
        conn = self.info.get(UNIT_CONNECTION)
        if conn is not None and conn.in_transaction() and not self.in_transaction():
            self.connection()

    def commit(self) -> None:
        self._join_unit()
        super().commit()

    def rollback(self) -> None:
        self._join_unit()
        super().rollback()

    def close(self) -> None:
        self._join_unit()
        super().close()


def _commit(session: Session, transaction: RootTransaction) -> None:
    """Commit the unit of work: through the session when the ORM was used in it, else
    (the loyalty hot path's Core statements only) the connection's transaction itself.

    The session's own transaction machinery (begin, prepare, commit and close events,
    snapshots) cost about 30 µs of a loyalty write's 520 (SQLite, idle machine) where no
    ORM object was touched. Its ``after_commit`` listeners (``auth.keys`` forgets revoked
    keys there) still run.
    """
    if session.in_transaction():
        session.commit()
        return
    if transaction.is_active:  # else a caller's session.commit() already ended it
        transaction.commit()
    if session.dispatch.after_commit:
        session.dispatch.after_commit(session)


def _rollback(session: Session, transaction: RootTransaction) -> None:
    """Roll the unit of work back (see :func:`_commit`)."""
    if session.in_transaction():
        session.rollback()
    elif transaction.is_active:
        transaction.rollback()
