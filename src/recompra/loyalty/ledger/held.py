"""PostgreSQL: connections held open in autocommit for the one-call writes.

An earn or a redemption as its own transaction is one function call
(:mod:`recompra.loyalty.ledger.server_side`). Taking a pooled connection for each call
(checkout, the isolation level set to autocommit and back, the reset at checkin, a new
``Session`` and driver cursor) cost about 40 % of the call's client CPU. The calls run
instead on connections held open in autocommit, each with its ``Session`` (and so its
cursor, ``prepared._bound``), taken from and returned to a free list (a deque's ``pop``
and ``append``, atomic: no lock on the way).

- They are SQLAlchemy connections of the engine, outside its pool (a pool recreated from
  it: the same driver settings and connect-time listeners), so the engine's cursor
  listeners see every call (the automation wake-ups, the statement counters). At most as
  many are held as the engine's pool may open (its size plus overflow); beyond that,
  :func:`held_session` yields ``None`` and the caller takes a pooled connection.
- One sat idle longer than ``db.PING_AFTER_IDLE_S`` is pinged before use and replaced
  when dead (a server restart, an idle timeout), as the pool does at checkout.
- One left outside the idle state (a broken connection, an open transaction) is closed
  rather than returned; a ``Session`` left holding state (a fallback's reads) is closed
  and a new one made, so no call sees another's objects.
- Per process: a child of a fork never uses, nor closes, its parent's (the driver does
  not end another process's connection when it is collected).
- ``engine.dispose()`` closes the idle ones at once and the busy ones when returned.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.orm import Session

from recompra.db import PING_AFTER_IDLE_S
from recompra.loyalty.ledger.direct import SESSION_KEY, Direct

_ATTRIBUTE = "_recompra_held_connections"
#: libpq's ``PQTRANS_IDLE`` (psycopg's ``pq.TransactionStatus.IDLE``).
_PQTRANS_IDLE = 0


class _Held:
    """One held connection: its ``Session`` (bound to it), its driver connection, its
    function calls through libpq (:mod:`.direct`) and when it was last used."""

    __slots__ = ("conn", "direct", "driver", "generation", "holder", "last_used", "session")

    def __init__(self, holder: _Holder, conn: Connection, generation: int) -> None:
        self.holder = holder
        self.conn = conn
        self.driver: Any = conn.connection.driver_connection
        self.direct = Direct(conn)
        self.session = self.new_session()
        self.last_used = time.monotonic()
        self.generation = generation

    def new_session(self) -> Session:
        """A ``Session`` bound to the connection whose function calls go through libpq
        (``server_side.call``)."""
        session = Session(bind=self.conn)
        session.info[SESSION_KEY] = self.direct
        return session


class _Holder:
    """An engine's held connections in this process."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.pid = _process[0]
        self.pool = engine.pool.recreate()
        pool: Any = engine.pool
        self.limit = int(pool.size()) + max(0, int(getattr(pool, "_max_overflow", 0)))
        self.idle: deque[_Held] = deque()
        self.count = 0
        self.generation = 0
        self.lock = threading.Lock()

    def take(self) -> _Held | None:
        """An idle held connection, or a new one; ``None`` when the limit is reached."""
        try:
            held = self.idle.pop()
        except IndexError:
            return self._open()
        if time.monotonic() - held.last_used > PING_AFTER_IDLE_S and not _alive(held):
            self._close(held)
            return self._open()
        return held

    def give_back(self, held: _Held) -> None:
        """Return ``held`` after use: to the free list when it is clean, else closed."""
        session = held.session
        # The session's own dictionaries: its ``new`` and ``deleted`` build a set for each
        # question, a visible share of a call that used none of them.
        if session.in_transaction() or session.identity_map or session._new or session._deleted:
            session.close()
            held.session = held.new_session()
        if held.generation != self.generation or not _idle(held):
            self._close(held)
            return
        held.last_used = time.monotonic()
        self.idle.append(held)

    def _open(self) -> _Held | None:
        with self.lock:
            if self.count >= self.limit:
                return None
            self.count += 1
        try:
            conn = Connection(self.engine, self.pool.connect())
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        except BaseException:
            with self.lock:
                self.count -= 1
            raise
        return _Held(self, conn, self.generation)

    def _close(self, held: _Held) -> None:
        with self.lock:
            self.count -= 1
        held.session.close()
        try:
            held.conn.invalidate()  # a broken connection is not returned to any pool
        finally:
            held.conn.close()

    def dispose(self) -> None:
        """Close the idle ones; the busy ones are closed when given back."""
        self.generation += 1
        while True:
            try:
                held = self.idle.pop()
            except IndexError:
                break
            self._close(held)


def _alive(held: _Held) -> bool:
    try:
        held.conn.dialect.do_ping(held.conn.connection.dbapi_connection)  # type: ignore[arg-type]
    except Exception:
        return False
    return True


def _idle(held: _Held) -> bool:
    """Whether the driver connection is open and outside any transaction (psycopg)."""
    conn = held.conn
    if conn.invalidated or conn.closed:
        return False
    driver = held.driver
    if driver.closed or driver.broken:
        return False
    # libpq's own status (psycopg's ``info.transaction_status`` wraps it in an enum).
    return bool(driver.pgconn.transaction_status == _PQTRANS_IDLE)


def _holder(engine: Engine) -> _Holder:
    holder: _Holder | None = getattr(engine, _ATTRIBUTE, None)
    if holder is not None and holder.pid == _process[0]:
        return holder
    with _lock:
        holder = getattr(engine, _ATTRIBUTE, None)
        if holder is None or holder.pid != os.getpid():
            # A parent's held connections (after a fork) are forgotten, never closed:
            # closing them would end the parent's sessions on the server.
            fresh = _Holder(engine)
            if holder is None:
                event.listen(engine, "engine_disposed", _disposed)
            setattr(engine, _ATTRIBUTE, fresh)
            holder = fresh
    return holder


def _disposed(engine: Engine) -> None:
    holder: _Holder | None = getattr(engine, _ATTRIBUTE, None)
    if holder is not None and holder.pid == os.getpid():
        holder.dispose()


_lock = threading.Lock()
#: This process's id, renewed in a forked child: ``os.getpid()`` is a system call, and
#: was one per one-call write.
_process = [os.getpid()]
os.register_at_fork(after_in_child=lambda: _process.__setitem__(0, os.getpid()))


def take(engine: Engine) -> _Held | None:
    """A held autocommit connection of ``engine`` (PostgreSQL), or ``None`` when as many
    are in use as the engine's pool may open; give it back with :func:`give_back`."""
    return _holder(engine).take()


def give_back(held: _Held) -> None:
    """Return a connection :func:`take` gave."""
    held.holder.give_back(held)


@contextmanager
def held_session(engine: Engine) -> Iterator[Session | None]:
    """A ``Session`` on a held autocommit connection of ``engine`` (PostgreSQL), or
    ``None`` when as many are in use as the engine's pool may open."""
    held = take(engine)
    if held is None:
        yield None
        return
    try:
        yield held.session
    finally:
        give_back(held)
