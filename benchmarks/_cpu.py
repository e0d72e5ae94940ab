"""CPU time of processes, read from Linux ``/proc``: the one reader every benchmark uses.

The machine the benchmarks run on is shared, so wall-clock figures move with the
neighbours' load; the CPU time a process (or a PostgreSQL server) spent on the work
does not, and is what the benchmarks compare. Only meaningful for a PostgreSQL server
that runs on this machine and that no one else uses during the run (a helper's own
test server).
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, text

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int | str) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (which may hold spaces
    and parentheses: hence the last ``)``), or ``None`` when the process is gone. Index
    0 is the state, 1 the parent, 11/12 utime/stime, 13/14 the reaped children's."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` so far; ``None`` when it is not on
    this machine (or gone)."""
    fields = _stat(pid)
    return None if fields is None else (int(fields[11]) + int(fields[12])) / _TICK


def cpu_by_process(pid: int) -> dict[int, float]:
    """CPU seconds used so far by ``pid`` and each of its descendants, per process (so
    that a caller can tell whether the work was spread over a server's workers)."""
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        fields = _stat(entry.name) if entry.name.isdigit() else None
        if fields is not None:
            stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK)
    family = {pid}
    grew = True
    while grew:
        children = {p for p, (parent, _) in stats.items() if parent in family} - family
        family |= children
        grew = bool(children)
    return {p: stats[p][1] for p in family if p in stats}


def postmaster_pid(engine: Engine) -> int | None:
    """The PostgreSQL server process behind ``engine`` (the parent of every backend);
    ``None`` on SQLite, whose work is the caller's own process's."""
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        backend = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
        # Read while the backend lives: it exits with its connection.
        fields = _stat(backend)
    if fields is None:
        raise RuntimeError("the PostgreSQL server does not run on this machine")
    return int(fields[1])


def server_cpu_seconds(postmaster: int | None) -> float:
    """CPU seconds used so far by a PostgreSQL server: its own, its live processes' (the
    backends serving the run's connections, parallel query workers, autovacuum among
    them) and those of the children it reaped, so that a backend whose connection closed
    mid-run still counts. 0 for ``None`` (SQLite)."""
    if postmaster is None:
        return 0.0
    own = _stat(postmaster)
    if own is None:
        raise RuntimeError(f"PostgreSQL server {postmaster} is gone")
    reaped = (int(own[13]) + int(own[14])) / _TICK  # cutime, cstime
    return reaped + sum(cpu_by_process(postmaster).values())
