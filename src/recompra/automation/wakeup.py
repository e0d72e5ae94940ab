"""Prompt wake-ups of an in-process worker: a committed write to a table journeys react to
sets an event the worker waits on, so a new order is decided in milliseconds rather than
at the next poll.

The hub's write paths are not automation's to change (and sit below it), so the writes
are observed on the engine instead: a statement inserting into or updating a trigger
table marks its pooled connection, a rollback clears the mark, and the connection's
return to the pool (after its commit) fires the wake-up. A spurious wake-up costs one
pass of the worker; a missed one (a write from another process) waits for the poll.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, event

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
_WRITE = re.compile(
    r"^\s*(?:INSERT\s+INTO|UPDATE)\s+\"?(" + "|".join(TRIGGER_TABLES) + r")\"?[\s(]",
    re.IGNORECASE,
)
_MARK = "recompra_trigger_write"


def writes_trigger_table(statement: str) -> bool:
    """Whether ``statement`` inserts into or updates one of :data:`TRIGGER_TABLES`."""
    return _WRITE.match(statement) is not None


def wake_on_trigger_writes(engine: Engine, wake: threading.Event) -> Callable[[], None]:
    """Set ``wake`` after each committed write to a trigger table; returns the remover."""

    def mark(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if writes_trigger_table(statement):
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
