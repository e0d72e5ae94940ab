"""SQLite's writer queue across processes (db/writers.py): one writer at a time over a
file lock, released by a crash, and a bounded wait that falls back to the busy handler.

Two :class:`WriterQueue` objects over one database stand for two processes: ``flock``
excludes two open files of one process just as it excludes two processes.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import text

from recompra.db import make_engine, unit_of_work
from recompra.db.writers import LOCK_SUFFIX, WriterQueue


def test_a_writer_of_another_process_waits_until_the_holder_leaves(tmp_path: Path) -> None:
    database = str(tmp_path / "queue.db")
    holder, waiter = WriterQueue(database), WriterQueue(database)
    assert holder.acquire(timeout=5)
    assert holder.holds_file
    entered: list[float] = []

    def wait_in_line() -> None:
        assert waiter.acquire(5)
        entered.append(time.monotonic())

    waiting = threading.Thread(target=wait_in_line)
    waiting.start()
    time.sleep(0.2)
    assert entered == []  # still queued behind the holder
    released_at = time.monotonic()
    holder.release()
    waiting.join(timeout=5)
    assert len(entered) == 1
    assert entered[0] >= released_at
    assert waiter.holds_file
    waiter.release()
    assert holder.acquire(timeout=5)  # and the holder comes back in after the waiter
    holder.release()


def test_a_killed_holder_lets_the_next_writer_in(tmp_path: Path) -> None:
    database = str(tmp_path / "queue.db")
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from recompra.db.writers import WriterQueue; "
            "q = WriterQueue(sys.argv[1]); q.acquire(5); print('held', flush=True); "
            "time.sleep(60)",
            database,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "held"
        queue = WriterQueue(database)
        started = time.monotonic()
        child.kill()
        assert queue.acquire(timeout=30)
        assert time.monotonic() - started < 5  # the crash released the lock, no timeout
        queue.release()
    finally:
        child.kill()
        child.wait()


def test_a_writer_waits_at_most_its_timeout_then_goes_on_unqueued(tmp_path: Path) -> None:
    database = str(tmp_path / "queue.db")
    holder, late = WriterQueue(database), WriterQueue(database)
    assert holder.acquire(timeout=5)
    started = time.monotonic()
    assert late.acquire(timeout=0.1)
    assert not late.holds_file  # SQLite's busy handler takes over from here
    assert 0.1 <= time.monotonic() - started < 2
    late.release()
    holder.release()
    # The abandoned wait's file is closed once it gets the lock: the next one gets in.
    assert late.acquire(timeout=5)
    assert late.holds_file
    late.release()


def test_write_units_of_work_of_two_engines_on_one_file_queue_on_the_lock_file(
    tmp_path: Path,
) -> None:
    """Every write unit of work passes the queue; an in-memory database has no lock file."""
    first = make_engine(f"sqlite:///{tmp_path}/two.db")
    second = make_engine(f"sqlite:///{tmp_path}/two.db")
    with unit_of_work(first) as session:
        session.execute(text("CREATE TABLE t (x INTEGER)"))
    inside = threading.Event()
    leave = threading.Event()

    def hold() -> None:
        with unit_of_work(first) as session:
            session.execute(text("INSERT INTO t VALUES (1)"))
            inside.set()
            leave.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    assert inside.wait(5)
    assert Path(f"{tmp_path}/two.db{LOCK_SUFFIX}").exists()
    other = WriterQueue(f"{tmp_path}/two.db")
    assert other.acquire(timeout=0.05)
    assert not other.holds_file  # gave up waiting: the unit of work holds the file
    other.release()
    leave.set()
    holder.join(5)
    assert other.acquire(timeout=0.05)
    assert other.holds_file  # the unit of work left the queue when it ended
    other.release()
    with unit_of_work(second) as session:
        session.execute(text("INSERT INTO t VALUES (2)"))
        assert session.execute(text("SELECT count(*) FROM t")).scalar() == 2
    memory = make_engine("sqlite:///:memory:")
    with unit_of_work(memory) as session:
        assert session.execute(text("SELECT 1")).scalar() == 1
    first.dispose()
    second.dispose()
