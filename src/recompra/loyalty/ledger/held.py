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

_ATTRIBUTE = "_recompra_held_connections"


class _Held:
    """One held connection: its ``Session`` (bound to it) and when it was last used."""

    __slots__ = ("conn", "generation", "last_used", "session")

    def __init__(self, conn: Connection, generation: int) -> None:
        self.conn = conn
        self.session = Session(bind=conn)
        self.last_used = time.monotonic()
        self.generation = generation


class _Holder:
    """An engine's held connections in this process."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.pid = os.getpid()
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
        if session.in_transaction() or session.identity_map or session.new or session.deleted:
            session.close()
            held.session = Session(bind=held.conn)
        if held.generation != self.generation or not _idle(held.conn):
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
        return _Held(conn, self.generation)

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


def _idle(conn: Connection) -> bool:
    """Whether the driver connection is open and outside any transaction (psycopg)."""
    if conn.invalidated or conn.closed:
        return False
    driver: Any = conn.connection.driver_connection
    if driver is None or driver.closed or getattr(driver, "broken", False):
        return False
    import psycopg

    return bool(driver.info.transaction_status == psycopg.pq.TransactionStatus.IDLE)


def _holder(engine: Engine) -> _Holder:
    holder: _Holder | None = getattr(engine, _ATTRIBUTE, None)
    if holder is not None and holder.pid == os.getpid():
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


@contextmanager
def held_session(engine: Engine) -> Iterator[Session | None]:
    """A ``Session`` on a held autocommit connection of ``engine`` (PostgreSQL), or
    ``None`` when as many are in use as the engine's pool may open."""
    holder = _holder(engine)
    held = holder.take()
    if held is None:
        yield None
        return
    try:
        yield held.session
    finally:
        holder.give_back(held)
