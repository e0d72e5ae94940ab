"""What PostgreSQL's storage did during a timed run: the figures that explain why two runs
of the same code differ (issue 19).

:func:`snapshot` reads the database's table counters (``pg_stat_user_tables``), the
server's checkpoints (``pg_stat_bgwriter``) and WAL (``pg_stat_wal``), and the relations'
sizes; :func:`describe` prints what changed between two snapshots: per table written in
the run, updates and how many were HOT (a non-HOT update writes a new entry in every
index of the table), sequential scans (a plan that reads the whole table), autovacuum and
autoanalyze runs, growth; and for the server, checkpoints started, WAL records, full-page
images and bytes. The backends flush their counters when they disconnect or at most once
a second: read the second snapshot after the workers have disconnected.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Engine, text

#: Per-table counters (``pg_stat_user_tables``) and the table's size with its indexes.
_TABLES = text(
    "SELECT relname, seq_scan, coalesce(idx_scan, 0) AS idx_scan, n_tup_ins, n_tup_upd,"
    " n_tup_hot_upd, autovacuum_count, autoanalyze_count,"
    " pg_table_size(relid) AS heap_bytes, pg_indexes_size(relid) AS index_bytes"
    " FROM pg_stat_user_tables"
)
_SERVER = text(
    "SELECT b.checkpoints_timed, b.checkpoints_req, w.wal_records, w.wal_fpi,"
    " w.wal_bytes::bigint AS wal_bytes FROM pg_stat_bgwriter b, pg_stat_wal w"
)
_COUNTERS = ("seq_scan", "idx_scan", "n_tup_ins", "n_tup_upd", "n_tup_hot_upd")


def snapshot(engine: Engine) -> dict[str, Any] | None:
    """The counters now (``None`` on SQLite)."""
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        tables = {row.relname: row._asdict() for row in conn.execute(_TABLES)}
        server = conn.execute(_SERVER).one()._asdict()
    return {"tables": tables, "server": server}


def difference(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What changed between two snapshots: the server's counters, and per table that was
    written or scanned, its counters and its growth in bytes."""
    server = {key: after["server"][key] - before["server"][key] for key in after["server"]}
    tables = {}
    for name, now in after["tables"].items():
        then = before["tables"].get(name)
        if then is None:
            continue
        delta = {key: now[key] - then[key] for key in now if key != "relname"}
        if delta["n_tup_ins"] or delta["n_tup_upd"] or delta["seq_scan"]:
            tables[name] = delta
    return {"server": server, "tables": tables}


def describe(change: dict[str, Any], ops: float) -> list[str]:
    """Lines for the report: the server's checkpoints and WAL per op, then one line per
    table (most updated first)."""
    server = change["server"]
    lines = [
        f"checkpoints {server['checkpoints_timed']} timed + {server['checkpoints_req']}"
        f" requested; WAL {server['wal_bytes'] / ops:,.0f} B/op,"
        f" {server['wal_records'] / ops:.1f} records/op,"
        f" {server['wal_fpi'] / ops:.2f} full-page images/op"
    ]
    ordered = sorted(change["tables"].items(), key=lambda item: -item[1]["n_tup_upd"])
    for name, t in ordered:
        hot = f"{t['n_tup_hot_upd'] / t['n_tup_upd']:4.0%} HOT" if t["n_tup_upd"] else "        "
        lines.append(
            f"{name:<28} upd {t['n_tup_upd']:6} {hot}  ins {t['n_tup_ins']:6}"
            f"  seq scans {t['seq_scan']:4}  idx scans {t['idx_scan']:6}"
            f"  autovacuum {t['autovacuum_count']} autoanalyze {t['autoanalyze_count']}"
            f"  +heap {t['heap_bytes'] / 1024:5.0f} kB +idx {t['index_bytes'] / 1024:5.0f} kB"
        )
    return lines


class HorizonWatch:
    """Samples, every :attr:`INTERVAL` seconds during a run, the oldest snapshot held in
    the database (``pg_stat_activity.backend_xmin``): row versions newer than it cannot
    be pruned, so its age (in transactions) says how many dead versions a page may have
    to hold before an update no longer fits (and is no longer HOT). Keeps the largest
    age seen and who held it. On its own autocommit connection: it holds no snapshot
    between samples."""

    INTERVAL = 0.05
    _OLDEST = text(
        "SELECT age(backend_xmin) AS age, backend_type, left(query, 50) AS query"
        " FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid() AND backend_xmin IS NOT NULL"
        " ORDER BY age(backend_xmin) DESC LIMIT 1"
    )

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.oldest: tuple[int, str, str] = (0, "", "")
        self.samples = 0

    def __enter__(self) -> HorizonWatch:
        if self._engine.dialect.name == "postgresql":
            self._thread = threading.Thread(target=self._watch, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _watch(self) -> None:
        with self._engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            while not self._stop.wait(self.INTERVAL):
                row = conn.execute(self._OLDEST).first()
                self.samples += 1
                if row is not None and row.age > self.oldest[0]:
                    self.oldest = (int(row.age), row.backend_type, row.query or "")

    def describe(self) -> str:
        age, kind, query = self.oldest
        held = f" ({kind}: {query!r})" if age else ""
        return f"oldest snapshot seen: {age} transactions old{held}, {self.samples} samples"


def settle_storage(engine: Engine, *, skip_empty: bool = False) -> None:
    """Before each timed run: statistics fresh and no write of the set-up left pending.

    PostgreSQL: ``VACUUM ANALYZE`` (lots past their expiry are months old: autovacuum has
    long since visited them, hint bits set and pages all-visible; without it the timed
    run would pay for that first visit, and for the dead rows a previous run left), then
    ``CHECKPOINT``, so that the run starts a checkpoint cycle of its own: where the
    set-up's WAL put the next checkpoint no longer decides how many full-page images the
    run writes. SQLite: ``ANALYZE`` and a truncating WAL checkpoint, for the same reasons.

    ``skip_empty`` (the earn+redeem runs, PostgreSQL): only the tables holding rows are
    vacuumed and analysed. A table analysed empty tells the planner it has no pages, and
    the functions' cached plans then scan it whole at every call as it grows during the
    run (``loyalty_redemptions``: a sequential scan per redemption); left as a new table
    is, the planner assumes ten pages and looks rows up by key, as on a store's tables.
    Without this settling, autovacuum's first visit of the new tables (its ``ANALYZE``
    holds a snapshot, so no row version may be pruned meanwhile) fell inside some timed
    runs and not others, and the workers planned on tables without statistics.
    """
    postgres = engine.dialect.name == "postgresql"
    vacuum = "VACUUM ANALYZE"
    if postgres and skip_empty:
        with engine.connect() as conn:
            names = conn.execute(
                text("SELECT relname FROM pg_stat_user_tables ORDER BY relname")
            ).scalars()
            full = [
                f'"{name}"'
                for name in names
                if conn.execute(text(f'SELECT EXISTS (SELECT FROM "{name}")')).scalar()
            ]
        vacuum = f"VACUUM ANALYZE {', '.join(full)}"
    statements = (
        (vacuum, "CHECKPOINT") if postgres else ("ANALYZE", "PRAGMA wal_checkpoint(TRUNCATE)")
    )
    for statement in statements:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(statement).close()
