"""Prompt wake-ups of an in-process worker: a committed write to a table journeys react to
sets an event the worker waits on, so a new order is decided in milliseconds rather than
at the next poll.

The hub's write paths are not automation's to change (and sit below it), so the writes
are observed on the engine instead: a statement inserting into or updating a trigger
table marks its pooled connection, a rollback clears the mark, and the connection's
return to the pool (after its commit) fires the wake-up; the SQLite writer's connection,
held across write units of work, calls the pool's check-in listeners when each unit gives
it back (``db/held_writer.py``). A spurious wake-up costs one
pass of the worker; a missed one (a write from another process) waits for the poll.

On PostgreSQL the database announces those writes itself: a statement-level trigger on
each trigger table calls ``pg_notify`` on :data:`CHANNEL` (migration 0035; delivered at
commit, dropped on rollback, folded into one per transaction), whatever process wrote,
and a worker in another process (``recompra worker``) listens on its own connection.
The server sent that ``NOTIFY`` itself before: a round trip more in each of its write
transactions, and the writes of other processes (imports, jobs) went unannounced.
SQLite has no such channel; workers there poll.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url

from recompra.db.dialect import is_postgresql
from recompra.loyalty.ledger.server_side import EARN_FUNCTION, EARN_ORDER_FUNCTION

#: Tables whose writes can start, wake or end runs (see recompra.automation.triggers).
TRIGGER_TABLES = (
    "orders",
    "returns",
    "reviews",
    "events",
    "segment_membership_events",
    "customer_scores",
    "loyalty_tier_changes",
    "loyalty_lots",
)
#: ...and the server-side earns (PostgreSQL), which insert into ``loyalty_lots`` (the
#: order's function through the ledger's).
_WRITE = re.compile(
    r"^\s*(?:(?:INSERT\s+INTO|UPDATE)\s+\"?(" + "|".join(TRIGGER_TABLES) + r")\"?[\s(]"
    rf"|SELECT \* FROM (?:{EARN_FUNCTION}|{EARN_ORDER_FUNCTION})\()",
    re.IGNORECASE,
)
_MARK = "recompra_trigger_write"
#: The PostgreSQL channel committed trigger writes are announced on (by the trigger of
#: migration 0035_trigger_table_notify, which names it too).
CHANNEL = "recompra_automation"


def writes_trigger_table(statement: str) -> bool:
    """Whether ``statement`` inserts into or updates one of :data:`TRIGGER_TABLES`."""
    return _WRITE.match(statement) is not None


def _in_autocommit(conn: Any) -> bool:
    """Whether ``conn`` runs each statement as its own transaction (the ledger's one-call
    writes, ``loyalty.one_call``): a write is committed when its statement returns."""
    return bool(conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT")


def wake_on_trigger_writes(engine: Engine, wake: threading.Event) -> Callable[[], None]:
    """Set ``wake`` after each committed write to a trigger table; returns the remover."""

    def mark(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if writes_trigger_table(statement):
            if _in_autocommit(conn):
                wake.set()  # committed already; a held connection is never checked in
            else:
                conn.info[_MARK] = True

    def forget(conn: Any) -> None:
        conn.info.pop(_MARK, None)

    def returned(dbapi_connection: Any, record: Any) -> None:
        if record is not None and record.info.pop(_MARK, False):
            wake.set()

    listeners: list[tuple[Any, str, Callable[..., None]]] = [
        (engine, "after_cursor_execute", mark),
        (engine, "rollback", forget),
        (engine.pool, "checkin", returned),
    ]
    for target, name, listener in listeners:
        event.listen(target, name, listener)

    def remove() -> None:
        for target, name, listener in listeners:
            event.remove(target, name, listener)

    return remove


class PostgresListener:
    """``LISTEN`` on :data:`CHANNEL` in a daemon thread that sets ``wake`` on each
    notification (its own autocommit connection, outside the engine's pool)."""

    def __init__(self, engine: Engine, wake: threading.Event) -> None:
        import psycopg

        url = make_url(engine.url).set(drivername="postgresql")
        self._connection = psycopg.connect(
            url.render_as_string(hide_password=False), autocommit=True
        )
        self._connection.execute(f"LISTEN {CHANNEL}")
        self._wake = wake
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="recompra-listen", daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        while not self._stop.is_set():
            for _ in self._connection.notifies(timeout=1.0):
                self._wake.set()
                if self._stop.is_set():
                    break

    def close(self) -> None:
        """Stop listening and close the connection."""
        self._stop.set()
        self._thread.join(timeout=5)
        self._connection.close()


def listen_for_trigger_writes(engine: Engine, wake: threading.Event) -> PostgresListener | None:
    """A listener setting ``wake`` on PostgreSQL; ``None`` on SQLite."""
    return PostgresListener(engine, wake) if is_postgresql(engine) else None
