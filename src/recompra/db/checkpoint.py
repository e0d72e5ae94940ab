"""SQLite WAL checkpoints in a thread of their own, off the writers' path.

In WAL mode SQLite appends each commit to the ``-wal`` file and copies the pages back
into the database file at a checkpoint. By default the writer whose commit pushes the
WAL past 1,000 pages runs that checkpoint inside its own ``COMMIT``: it writes and
syncs the database file while holding the write lock, and that one write in a hundred
takes several milliseconds: it was the whole of the loyalty ledger's p99 (issue 20).

Here each engine gets one daemon thread that runs ``PRAGMA wal_checkpoint(PASSIVE)``
on a connection of its own after every :data:`WRITES_PER_CHECKPOINT` write units of
work. A passive checkpoint never blocks a writer (the ``sqlite3`` module releases the
GIL while it runs), so the writers only append. The writers' automatic checkpoint stays
as a backstop at :data:`BACKSTOP_PAGES`, for a thread that falls behind (a bulk import
writes far more pages per unit of work).

Durability is unchanged in kind: with ``synchronous=NORMAL`` a commit is safe from a
crash of the process at once, and from a power loss once a checkpoint synced the WAL;
checkpoints still come about every 1,000 pages of small writes.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import closing, contextmanager

from sqlalchemy import Engine

#: Write units of work between two checkpoints: a loyalty write appends 10-15 pages,
#: so about the 1,000 pages of SQLite's own default.
WRITES_PER_CHECKPOINT = 64
#: The writers' own automatic checkpoint (pages): only when the thread falls behind.
BACKSTOP_PAGES = 10_000
#: How long the idle thread waits before checking that its engine still exists.
IDLE_WAIT_S = 5.0


#: Held by a checkpointer thread while it is inside SQLite, and by :func:`os.fork`'s
#: caller around the fork: a child forked while the thread held one of SQLite's global
#: mutexes (its allocator's) would inherit it locked and hang at its first connection.
_in_sqlite = threading.Lock()
#: Every checkpointer of the process: a forked child has none of their threads.
_checkpointers: weakref.WeakSet[WalCheckpointer] = weakref.WeakSet()


@contextmanager
def checkpoints_paused() -> Iterator[None]:
    """No checkpoint runs in this process while the block runs: for replacing a database
    file under a live engine (a restore, a benchmark's fresh copy), where a checkpoint
    connection opened on a half-written file would write its own WAL beside it."""
    with _in_sqlite:
        yield


def _after_fork_in_child() -> None:
    global _in_sqlite
    _in_sqlite = threading.Lock()
    for checkpointer in list(_checkpointers):
        checkpointer.forget_thread()


def _before_fork() -> None:
    _in_sqlite.acquire()


def _after_fork_in_parent() -> None:
    _in_sqlite.release()


os.register_at_fork(
    before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child
)


class WalCheckpointer:
    """Counts an engine's write units of work and checkpoints its WAL every
    :data:`WRITES_PER_CHECKPOINT` of them, in a daemon thread started on first use."""

    def __init__(self, engine: Engine, path: str) -> None:
        self._engine = weakref.ref(engine)
        self._path = path
        self._writes = 0
        self._due = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.checkpoints = 0
        _checkpointers.add(self)

    def forget_thread(self) -> None:
        """In a forked child: the parent's thread does not exist here; the next due
        checkpoint starts one of the child's own."""
        self._thread = None
        self._due = threading.Event()
        self._start_lock = threading.Lock()

    def wrote(self) -> None:
        """One write unit of work committed (the caller holds the in-process write lock,
        so the count needs no lock of its own)."""
        self._writes += 1
        if self._writes % WRITES_PER_CHECKPOINT == 0:
            if self._thread is None:
                self._start()
            self._due.set()

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="recompra-wal-checkpoint", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while self._engine() is not None:
            if not self._due.wait(IDLE_WAIT_S):
                continue
            self._due.clear()
            # A connection per checkpoint, not one kept open: a file replaced meanwhile
            # (a restored backup) is never written through a stale connection.
            try:
                with _in_sqlite, closing(sqlite3.connect(self._path, timeout=30)) as connection:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error:
                continue  # the next turn (or the writers' backstop) checkpoints
            self.checkpoints += 1
