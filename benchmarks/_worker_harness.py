"""Shared by the automation safety benchmarks: worker processes forked from this warm
process, a scratch PostgreSQL database, and counting what the SMTP sink received.

A forked child inherits the imported modules (SQLAlchemy, Jinja2, the packaged templates
already compiled), so starting a worker costs a fork, not an interpreter start; it opens
its own engine and leaves with ``os._exit`` so that nothing of the parent's state (pooled
connections, atexit handlers) is touched from the child.
"""

from __future__ import annotations

import os
import re
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from _cpu import process_cpu_seconds
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from recompra.db import make_engine

_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)


def fork_worker(body: Callable[[], None]) -> int:
    """Run ``body`` in a child process; its pid. The child exits 0, or 1 on an error."""
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        body()
        code = 0
    except BaseException:  # the child's traceback is the only report of what went wrong
        traceback.print_exc()
    finally:
        os._exit(code)


def wait_status(pid: int) -> int:
    """Wait for ``pid``: its exit code, or minus the signal that killed it."""
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def received_message_ids(folder: Path, *, remove: bool = True) -> Counter[str]:
    """How many stored messages carry each Message-ID (the worker derives it from the
    execution key, so a resend after a crash carries the same one)."""
    counts: Counter[str] = Counter()
    for path in folder.glob("*.eml"):
        counts[stored_message_id(path)] += 1
        if remove:
            path.unlink()
    return counts


def stored_message_id(path: Path) -> str:
    """The Message-ID of a message the sink stored (read from its head only)."""
    with path.open("rb") as stored:
        found = _MESSAGE_ID.search(stored.read(8192))
    return found.group(1).decode() if found else "?"


def scratch_postgres(admin_url: str) -> tuple[Engine, str]:
    """A new, empty database on the server of ``admin_url``: (admin engine, its URL)."""
    admin = make_engine(admin_url, pool_size=1)
    name = f"recompra_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return admin, make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_postgres(admin: Engine, url: str) -> None:
    """Drop the scratch database of :func:`scratch_postgres`."""
    name = make_url(url).database
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A scratch database (:func:`scratch_postgres`) for a ``with`` block; its URL."""
    admin, url = scratch_postgres(admin_url)
    try:
        yield url
    finally:
        drop_postgres(admin, url)


def postgres_backend_pids(engine: Engine) -> list[int]:
    """The PostgreSQL backends connected to ``engine``'s database (none on SQLite, whose
    work is its process's)."""
    if engine.dialect.name != "postgresql":
        return []
    with engine.connect() as conn:
        query = text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        return list(conn.execute(query).scalars())


def postgres_backends_cpu(engine: Engine) -> float | None:
    """CPU seconds so far of the PostgreSQL backends connected to ``engine``'s database
    (the server runs on this machine: on a loaded machine CPU time is the steadier
    figure); 0 on SQLite; ``None`` when the server runs elsewhere."""
    seconds = 0.0
    for pid in postgres_backend_pids(engine):
        cpu = process_cpu_seconds(pid)
        if cpu is None:
            return None
        seconds += cpu
    return seconds


def load_average() -> str:
    """The 1, 5 and 15-minute load averages (the machine is shared: quote them)."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def print_table(rows: Sequence[Sequence[str]]) -> None:
    """The load average after the run, then ``rows`` as the Markdown table the docs quote
    (measure, measured, target, met)."""
    print(f"load average after: {load_average()}")
    print("| measure | measured | target | |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
