"""SQLite's writers queued across threads *and* processes, before ``BEGIN IMMEDIATE``.

SQLite keeps no queue of writers: a ``BEGIN IMMEDIATE`` that finds the database locked
sleeps in the busy handler (1, 2, 5 ... 100 ms steps) and retries. Threads of one
process queue on a lock of their own first, but the processes of one database (the
API's uvicorn workers, the job worker, a CLI command) met only the busy handler: with 2
API workers one worker's writers slept in 25-100 ms steps while the other's took the
lock back between their retries, so the second worker added little throughput and the
p99 was made of those sleeps (issue 20: 425 req/s with 2 workers against 345 with one).

:class:`WriterQueue` adds an exclusive ``flock`` on a file beside the database
(``<database><LOCK_SUFFIX>``), taken after the in-process lock and released with it.
The kernel releases a ``flock`` when its process dies, so a crashed writer never blocks
the others. A waiter polls it with short sleeps (at most :data:`POLL_MAX_S`), and gives
up after its timeout: the unit of work then falls back to SQLite's own busy handler,
as before, so a long transaction of another process is met with SQLite's
``busy_timeout`` error rather than an endless wait.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time

#: Appended to the database file's path to name the writers' lock file.
LOCK_SUFFIX = "-writers"
#: Longest sleep between two tries of another process's lock: a few times a short
#: write transaction, far below the busy handler's 25-100 ms steps.
POLL_MAX_S = 0.001
_POLL_FIRST_S = 0.00005


class WriterQueue:
    """The writers of one SQLite database: a thread lock, then a file lock.

    The thread lock has no owner (a plain ``Lock``): a unit of work may end on another
    thread than the one it began on (issue 20, ADR 0003). ``flock`` belongs to the open
    file, not to a thread, so the release may come from any thread too.
    """

    def __init__(self, database_path: str | None) -> None:
        self._threads = threading.Lock()
        self._lock_path = None if database_path is None else database_path + LOCK_SUFFIX
        #: The lock file while it is locked (read and written by the holder only). It is
        #: opened per unit of work (about 10 µs): nothing stays open after an engine is
        #: dropped, and a process forked while holding it does not share the lock.
        self._held_file = -1

    def acquire(self, timeout: float) -> bool:
        """Wait for this process's writers, then other processes' (up to ``timeout``
        seconds each); ``False`` when the in-process lock was not obtained."""
        if not self._threads.acquire(timeout=timeout):
            return False
        try:
            if self._lock_path is not None:  # in memory: the database is this process's
                self._held_file = _lock_file(self._lock_path, time.monotonic() + timeout)
        except BaseException:
            self._threads.release()
            raise
        return True

    def release(self) -> None:
        """Let the next writer in (this process's or another's)."""
        held, self._held_file = self._held_file, -1
        if held >= 0:
            os.close(held)  # closing the file releases its lock
        self._threads.release()


def _lock_file(path: str, deadline: float) -> int:
    """The open file ``path``, locked; -1 when another process held it past ``deadline``."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        pause = _POLL_FIRST_S
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return descriptor
            except BlockingIOError:
                pass
            if time.monotonic() >= deadline:
                break
            time.sleep(pause)
            pause = min(pause * 2, POLL_MAX_S)
    except BaseException:
        os.close(descriptor)
        raise
    os.close(descriptor)
    return -1
