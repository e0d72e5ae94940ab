"""What expiring a lot costs PostgreSQL, written three ways (issue 19, fourth pass).

    .venv/bin/python benchmarks/bench_expiry_variants.py --url postgresql+psycopg://... \
        [--lots 1000000] [--variants update,move,accounts]

Builds the expiry benchmark's lots (``bench_loyalty.generate_due_lots``: each earned on an
order, in time order), then runs each variant as one statement over every due lot under
``EXPLAIN (ANALYZE, BUFFERS, WAL)`` and rolls it back, after ``VACUUM ANALYZE`` and
``CHECKPOINT`` (``settle_storage``), printing the backend's CPU time and the plan:

- ``update``: today's row change, the lots' ``UPDATE`` (state, points, expiry time);
- ``move``: the lots moved to an archive table (primary key and an (account, id) index)
  by ``WITH moved AS (DELETE ... RETURNING *) INSERT ...``;
- ``accounts``: no lot written at all, only the per-account rows (``expire`` movements,
  balances, ``points_expired`` events): what an account-level "expired through" model
  would leave the job.

One connection, no batches: the statements' own cost, not the job's.
"""

from __future__ import annotations

import argparse
import time

from _cpu import process_cpu_seconds
from _loyalty_ops import NOW
from _worker_harness import load_average
from bench_loyalty import drop_database, fresh_database, generate_due_lots, settle_storage
from sqlalchemy import Engine, text

_DUE = "state = 'active' AND expires_at <= :now"
_LOT_COLUMNS = (
    "id, account_id, movement_id, source, order_id, state, points, remaining,"
    " reversed_points, expired_points, forgiven_points, basis_minor, returned_minor,"
    " earned_at, release_at, released_at, expires_at, warned_at, expired_at"
)
VARIANTS = {
    "update": (
        "UPDATE loyalty_lots SET state = 'expired', expired_points = expired_points"
        f" + remaining, remaining = 0, expired_at = :now WHERE {_DUE}"
    ),
    "move": (
        f"WITH moved AS (DELETE FROM loyalty_lots WHERE {_DUE} RETURNING *)"
        f" INSERT INTO loyalty_lots_expired ({_LOT_COLUMNS})"
        " SELECT id, account_id, movement_id, source, order_id, 'expired', points, 0,"
        " reversed_points, expired_points + remaining, forgiven_points, basis_minor,"
        " returned_minor, earned_at, release_at, released_at, expires_at, warned_at, :now"
        " FROM moved"
    ),
    "accounts": (
        "WITH m AS (INSERT INTO loyalty_movements (account_id, kind, points, pending_delta,"
        " debt_delta, batch_id, note, created_at) SELECT account_id, 'expire',"
        f" -sum(remaining), 0, 0, 'variants', 'variants', :now FROM loyalty_lots WHERE {_DUE}"
        " AND remaining > 0 GROUP BY account_id RETURNING id, account_id, points),"
        " b AS (UPDATE loyalty_accounts a SET balance = balance + m.points, updated_at = :now"
        " FROM m WHERE a.id = m.account_id RETURNING a.id, a.program_id, a.balance)"
        " INSERT INTO loyalty_events (program_id, account_id, type, movement_id, points,"
        " payload, created_at) SELECT b.program_id, m.account_id, 'points_expired', m.id,"
        " m.points, jsonb_build_object('balance', b.balance), :now FROM m"
        " JOIN b ON b.id = m.account_id"
    ),
}


def create_archive(engine: Engine) -> None:
    """The ``move`` variant's archive: the lots' columns, a primary key and the one index
    an account's readers would need."""
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE loyalty_lots_expired (LIKE loyalty_lots INCLUDING DEFAULTS)"
        )
        conn.exec_driver_sql("ALTER TABLE loyalty_lots_expired ADD PRIMARY KEY (id)")
        conn.exec_driver_sql("CREATE INDEX ON loyalty_lots_expired (account_id, id)")


def run_variant(engine: Engine, label: str) -> None:
    """One variant over every due lot, explained, timed on the server, rolled back."""
    settle_storage(engine)
    with engine.connect() as conn:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        cpu, wall = process_cpu_seconds(pid), time.perf_counter()
        statement = text("EXPLAIN (ANALYZE, BUFFERS, WAL) " + VARIANTS[label])
        plan = conn.execute(statement, {"now": NOW}).scalars().all()
        cpu_after, wall_after = process_cpu_seconds(pid), time.perf_counter()
        conn.rollback()
    server = "?" if cpu is None or cpu_after is None else f"{cpu_after - cpu:.2f} s"
    print(f"== {label}: server CPU {server}, wall {wall_after - wall:.2f} s")
    print("\n".join(plan))


def main() -> None:
    """Parse arguments, build the lots, run the variants."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True, help="PostgreSQL admin URL")
    parser.add_argument("--lots", type=int, default=1_000_000)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    engine, name = fresh_database("postgres", args.url)
    try:
        generate_due_lots(engine, lots=args.lots, accounts=args.lots // 10)
        create_archive(engine)
        for label in args.variants.split(","):
            run_variant(engine, label)
        print(f"load average after: {load_average()}")
    finally:
        engine.dispose()
        if name:
            drop_database(args.url, name)


if __name__ == "__main__":
    main()
