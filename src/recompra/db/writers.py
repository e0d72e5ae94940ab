"""SQLite's writers queued across threads *and* processes, before ``BEGIN IMMEDIATE``.

SQLite keeps no queue of writers: a ``BEGIN IMMEDIATE`` that finds the database locked
sleeps in the busy handler (1, 2, 5 ... 100 ms steps) and retries. Threads of one
process queue on a lock of their own first, but the processes of one database (the
API's uvicorn workers, the job worker, a CLI command) met only the busy handler: a
process's writers slept while the other's took the lock back between their retries, so
a second API worker added little throughput and the p99 was made of those sleeps
(issue 20: 425 req/s with 2 workers against 345 with one).

:class:`WriterQueue` adds an exclusive ``flock`` on a file beside the database
(``<database><LOCK_SUFFIX>``), taken after the in-process lock and released with it.
A contended ``flock`` is waited for in a blocking call, so the kernel hands the lock
over the moment its holder lets go; that call runs in a helper thread, so that the
writer itself waits with a timeout. The kernel releases a ``flock`` when its process
dies, so a crashed writer never blocks the others; a writer that waited its whole
timeout goes on unqueued and meets SQLite's ``busy_timeout``, as before, so a long
transaction of another process ends in SQLite's error rather than an endless wait.
"""

from __future__ import annotations

import fcntl
import os
import queue
import threading

#: Appended to the database file's path to name the writers' lock file.
LOCK_SUFFIX = "-writers"


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
        self._waiter: _FileWaiter | None = None

    def acquire(self, timeout: float) -> bool:
        """Wait for this process's writers, then other processes' (up to ``timeout``
        seconds each); ``False`` when the in-process lock was not obtained."""
        if not self._threads.acquire(timeout=timeout):
            return False
        try:
            if self._lock_path is not None:  # in memory: the database is this process's
                self._held_file = self._lock_file(self._lock_path, timeout)
        except BaseException:
            self._threads.release()
            raise
        return True

    @property
    def holds_file(self) -> bool:
        """Whether the current holder keeps other processes' writers out (``False`` for
        an in-memory database, or after the wait for another process timed out)."""
        return self._held_file >= 0

    def release(self) -> None:
        """Let the next writer in (this process's or another's)."""
        held, self._held_file = self._held_file, -1
        if held >= 0:
            os.close(held)  # closing the file releases its lock
        self._threads.release()

    def _lock_file(self, path: str, timeout: float) -> int:
        """The open file ``path``, locked; -1 when another process held it past
        ``timeout`` seconds."""
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return descriptor
        except BlockingIOError:
            pass
        except BaseException:
            os.close(descriptor)
            raise
        if self._waiter is None or self._waiter.pid != os.getpid():
            self._waiter = _FileWaiter()  # a forked child does not inherit the thread
        return descriptor if self._waiter.wait(descriptor, timeout) else -1


class _Wait:
    """One writer's wait for the lock file, settled by the helper thread."""

    def __init__(self, descriptor: int) -> None:
        self.descriptor = descriptor
        self._settled = threading.Event()
        self._mutex = threading.Lock()
        self._abandoned = False
        self._granted = False

    def settle(self, *, granted: bool) -> None:
        """The helper's ``flock`` returned (helper thread)."""
        with self._mutex:
            if self._abandoned or not granted:
                # Nobody waits for it any more (or it failed): close it, which lets the
                # next writer in.
                os.close(self.descriptor)
                return
            self._granted = True
            self._settled.set()

    def outcome(self, timeout: float) -> bool:
        """Whether the lock was granted within ``timeout`` (writer's thread); if not, the
        wait is abandoned and the helper closes the file when its ``flock`` returns."""
        self._settled.wait(timeout)
        with self._mutex:
            if not self._granted:
                self._abandoned = True
            return self._granted


class _FileWaiter:
    """A daemon thread blocked in ``flock`` for this process's writers, one at a time
    (they hold the in-process lock while they wait)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self._waits: queue.SimpleQueue[_Wait] = queue.SimpleQueue()
        thread = threading.Thread(target=self._serve, name="recompra-sqlite-writers", daemon=True)
        thread.start()

    def wait(self, descriptor: int, timeout: float) -> bool:
        """Lock ``descriptor``'s file within ``timeout`` seconds; on ``False`` the file
        is no longer the caller's (the helper closes it)."""
        wait = _Wait(descriptor)
        self._waits.put(wait)
        return wait.outcome(timeout)

    def _serve(self) -> None:
        while True:
            wait = self._waits.get()
            try:
                fcntl.flock(wait.descriptor, fcntl.LOCK_EX)  # blocks without the GIL
                granted = True
            except OSError:
                granted = False
            wait.settle(granted=granted)
