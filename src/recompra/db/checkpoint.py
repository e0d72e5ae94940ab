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

Durability: with ``synchronous=NORMAL`` a commit is safe from a crash of the process at
once, and from a power loss once the WAL has been synced. A checkpoint syncs the WAL
first, but it also copies every page back and syncs the database file, and at every 64
writes that cost the ledger 55-64 µs of CPU a write (issue 20). So the thread syncs the
WAL alone (``fsync`` of the ``-wal`` file) after every :data:`WRITES_PER_SYNC` writes,
and checkpoints only every :data:`SYNCS_PER_CHECKPOINT` syncs: the power-loss window
stays what it was (the writes since the last sync, at most about 64), while a page
written by several of those writes (an account, a B-tree's rightmost leaf) is copied
back once instead of up to four times. The WAL between checkpoints grows to about
4 x 1,000 pages (16 MB at 4 KiB) instead of 4 MB.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import closing, contextmanager

from sqlalchemy import Engine

#: Write units of work between two syncs of the WAL: a loyalty write appends 10-15
#: pages, so about the 1,000 pages of SQLite's own checkpoint default (the cadence of the
#: syncs, and so the power-loss window, the checkpoints gave before).
WRITES_PER_SYNC = 64
#: Syncs between two checkpoints (the last sync of each period is the checkpoint's own).
SYNCS_PER_CHECKPOINT = 4
#: Write units of work between two checkpoints.
WRITES_PER_CHECKPOINT = WRITES_PER_SYNC * SYNCS_PER_CHECKPOINT
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
    """Counts an engine's write units of work, syncs its WAL every
    :data:`WRITES_PER_SYNC` of them and checkpoints it every :data:`WRITES_PER_CHECKPOINT`,
    in a daemon thread started on first use."""

    def __init__(self, engine: Engine, path: str) -> None:
        self._engine = weakref.ref(engine)
        self._path = path
        self._writes = 0
        #: The last checkpoint's period: ``_writes // WRITES_PER_CHECKPOINT`` then (read
        #: and set by the thread only).
        self._checkpoint_period = 0
        self._due = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.checkpoints = 0
        #: WAL syncs that were not checkpoints.
        self.syncs = 0
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
        if self._writes % WRITES_PER_SYNC == 0:
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
            # Decided from the count, not from the turns: two signals that came while
            # the thread was busy are one turn, and must not put a checkpoint off.
            period = self._writes // WRITES_PER_CHECKPOINT
            if period > self._checkpoint_period:
                if self._checkpoint():
                    self._checkpoint_period = period
                    self.checkpoints += 1
            elif self._sync_wal():
                self.syncs += 1

    def _checkpoint(self) -> bool:
        # A connection per checkpoint, not one kept open: a file replaced meanwhile
        # (a restored backup) is never written through a stale connection.
        try:
            with _in_sqlite, closing(sqlite3.connect(self._path, timeout=30)) as connection:
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:
            return False  # the next turn (or the writers' backstop) checkpoints
        return True

    def _sync_wal(self) -> bool:
        """``fsync`` the WAL: the commits appended so far survive a power loss, as a
        checkpoint's own sync of the WAL made them. Any descriptor of the file syncs
        all its written data; without a WAL (none written yet) there is nothing to sync."""
        with _in_sqlite:  # a fork waits for the descriptor to be closed
            try:
                descriptor = os.open(self._path + "-wal", os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                return False
            try:
                # What SQLite's own sync of the WAL is on Linux (the data and the size).
                getattr(os, "fdatasync", os.fsync)(descriptor)
            except OSError:
                return False  # the next sync, or the next checkpoint, covers these writes
            finally:
                os.close(descriptor)
        return True
