"""Loyalty benchmarks: earn and redeem throughput with p50/p99 latency, and the expiry job.

    .venv/bin/python benchmarks/bench_loyalty.py sqlite [--ops 5000]
    .venv/bin/python benchmarks/bench_loyalty.py postgres --url postgresql+psycopg://... \
        [--workers 8] [--processes]
    .venv/bin/python benchmarks/bench_loyalty.py expiry [--lots 1000000] [--accounts 100000] \
        [--url postgresql+psycopg://...] [--lots-fillfactor 100]

Each run prints the project beside a bare-transaction floor (the raw driver: lock, update,
insert, commit per op, same workers and database), wall and CPU time (the machine may be
shared: CPU per op is the steadier figure), and the statements and round trips per op
(counted on a separate short run, so the counters do not slow the timed one). The workers
are threads of this process, or with ``--processes`` (PostgreSQL) worker processes with
an engine each, as production runs them (see ``_loyalty_ops.py``). Targets
(issues 19 and 20): SQLite, 1 thread >= 2,500 ops/s with p99 <= 5 ms; PostgreSQL, 8
workers >= 1,200 ops/s (>= 2,000 in issue 19); expiring 1M lots <= 10 s on both. Each op
is one unit of work (one transaction): an earn of a new order, or a redemption; customers
are spread over many accounts, as in a real store, except with ``--hot`` (all on one
account). The expiry run (SQLite, then PostgreSQL when ``--url`` is given) generates its
lots in SQL (each earned on an order, in the orders' time order; ``--lots-fillfactor``: on
PostgreSQL into a lots table of that fillfactor instead of the migrations' 70), vacuums,
analyses and checkpoints, then times the expiry job (``expire_in_batches``: account locks,
batches of one transaction each, on ``expiry_workers`` connections: two on PostgreSQL)
beside a floor of bare SQL that writes the same rows (movements, events, balances, lot
states) in four statements, one transaction per connection on as many connections,
without locks or batches; on PostgreSQL it also reports the server's CPU time. The
loyalty services re-evaluate no segment (the API routers do), so these figures do not
depend on live segments.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from _loyalty_ops import NOW, run_floor, run_ops
from _pg_storage import describe, settle_storage
from _worker_harness import load_average, postgres_backends_cpu
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from recompra.db import make_engine, unit_of_work
from recompra.loyalty import create_program, expire_in_batches
from recompra.loyalty.expiry import account_ranges, expiry_workers
from recompra.migrate import upgrade
from recompra.models import Brand


def fresh_database(kind: str, url: str | None) -> tuple[Engine, str | None]:
    """A migrated empty database: a temp SQLite file or a new PostgreSQL database."""
    if kind == "sqlite":
        path = tempfile.mkdtemp(prefix="bench-loyalty-")
        engine = make_engine(f"sqlite:///{path}/bench.db")
        upgrade(engine, "heads")
        return engine, None
    assert url, "--url is required for PostgreSQL"
    name = f"bench_loyalty_{uuid.uuid4().hex[:8]}"
    admin = make_engine(url, pool_size=1)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    engine = make_engine(
        make_url(url).set(database=name).render_as_string(hide_password=False), pool_size=16
    )
    upgrade(engine, "heads")
    return engine, name


def drop_database(url: str, name: str) -> None:
    """Drop a benchmark database."""
    admin = make_engine(url, pool_size=1)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _numbers(engine: Engine) -> str:
    """A ``seq(n)`` relation of 1..:count in the engine's SQL (no rows cross the wire)."""
    if engine.dialect.name == "postgresql":
        return "generate_series(1, :count) AS seq(n)"
    return (
        "(WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < :count)"
        " SELECT n FROM seq) AS seq"
    )


def _stamp(engine: Engine, moment: datetime) -> datetime:
    """A timestamp as the database stores it (SQLite: naive UTC text)."""
    return moment.replace(tzinfo=None) if engine.dialect.name == "sqlite" else moment


def generate_due_lots(engine: Engine, *, lots: int, accounts: int) -> int:
    """A program with ``accounts`` funded accounts holding ``lots`` lots, all past expiry.

    Each lot was earned on an order of its own, as real lots are: the orders (and so the
    lots, inserted as they were earned) come in rounds, one order per customer per round,
    so an account's lots lie spread over the table and the job's lots over the orders'
    index, not in one run at its end. Generated in SQL (INSERT ... SELECT over a number
    series): a million lots in seconds, without a million parameter rows through the
    driver. Returns the program id.
    """
    with unit_of_work(engine) as s:
        brand = Brand(slug=f"exp-{uuid.uuid4().hex[:6]}", name="Expiry")
        s.add(brand)
        s.flush()
        brand_id = brand.id
        program_id = create_program(s, brand_id=brand_id, name="Expiry").id
    per_account = lots // accounts
    now, old = _stamp(engine, NOW), _stamp(engine, NOW - timedelta(days=400))
    due = _stamp(engine, NOW - timedelta(days=35))
    with engine.begin() as conn:
        first = conn.execute(text("SELECT coalesce(max(id), 0) FROM customers")).scalar_one()
        conn.execute(
            text(
                "INSERT INTO customers (name, created_at, updated_at) "
                f"SELECT 'e' || n, :now, :now FROM {_numbers(engine)}"
            ),
            {"count": accounts, "now": now},
        )
        # Round r (0-based) holds order n = r * accounts + i of customer i: the orders'
        # ids interleave the customers, as orders arrive over time.
        conn.execute(
            text(
                "INSERT INTO orders (brand_id, source, external_id, customer_id, status,"
                " currency, purchased_at, items_total_minor, freight_total_minor,"
                " discount_total_minor, total_minor, created_at, updated_at)"
                " SELECT :brand, 'bench', 'o' || n, :first + 1 + (n - 1) % :accounts,"
                " 'delivered', 'BRL', :old, 1000, 0, 0, 1000, :old, :old"
                f" FROM {_numbers(engine)}"
            ),
            {
                "brand": brand_id,
                "first": first,
                "accounts": accounts,
                "count": per_account * accounts,
                "old": old,
            },
        )
        conn.execute(
            text(
                "INSERT INTO loyalty_accounts (program_id, customer_id, balance, pending, debt,"
                " created_at, updated_at) SELECT :program, id, :points, 0, 0, :now, :now"
                " FROM customers WHERE id > :first"
            ),
            {"program": program_id, "points": 10 * per_account, "now": now, "first": first},
        )
        conn.execute(
            text(
                "INSERT INTO loyalty_movements (account_id, kind, points, pending_delta,"
                " debt_delta, created_at) SELECT id, 'adjust', balance, 0, 0, :old"
                " FROM loyalty_accounts WHERE program_id = :program"
            ),
            {"program": program_id, "old": old},
        )
        if engine.dialect.name == "postgresql":
            # Statistics of the rows this transaction just wrote (autovacuum cannot see
            # them yet): without them the planner joins a million orders by nested loops.
            conn.exec_driver_sql("ANALYZE orders, loyalty_accounts, loyalty_movements")
        # One lot per order, inserted in the orders' (time) order.
        conn.execute(
            text(
                "INSERT INTO loyalty_lots (account_id, movement_id, source, order_id, state,"
                " points, remaining, reversed_points, expired_points, forgiven_points,"
                " basis_minor, returned_minor, earned_at, released_at, expires_at)"
                " SELECT a.id, m.id, 'order', o.id, 'active', 10, 10, 0, 0, 0, 1000, 0,"
                " :old, :old, :due FROM orders o"
                " JOIN loyalty_accounts a ON a.customer_id = o.customer_id"
                " AND a.program_id = :program"
                " JOIN loyalty_movements m ON m.account_id = a.id"
                " WHERE o.brand_id = :brand ORDER BY o.id"
            ),
            {"program": program_id, "brand": brand_id, "old": old, "due": due},
        )
    return program_id


class _Clock:
    """Wall time, this process's CPU time and, on PostgreSQL, the server's: the CPU time
    of the database's backend processes (from ``/proc``; the server runs on this machine,
    and on a loaded machine CPU time is the steadier figure)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def __enter__(self) -> dict[str, float]:
        self.figures: dict[str, float] = {}
        self._server = postgres_backends_cpu(self._engine)
        self._wal = _wal_position(self._engine)
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self.figures

    def __exit__(self, *_: object) -> None:
        self.figures["seconds"] = time.perf_counter() - self._wall
        self.figures["cpu_seconds"] = time.process_time() - self._cpu
        server = postgres_backends_cpu(self._engine)
        if server is not None and self._server is not None:
            self.figures["server_cpu_seconds"] = server - self._server
        wal = _wal_position(self._engine)
        if wal is not None and self._wal is not None:
            self.figures["wal_mb"] = (wal - self._wal) / 1e6


def _wal_position(engine: Engine) -> int | None:
    """PostgreSQL's WAL insert position in bytes (``None`` on SQLite): the difference
    over a run is the WAL it wrote, the whole server's (this benchmark runs alone on
    its server)."""
    if engine.dialect.name != "postgresql":
        return None
    with engine.connect() as conn:
        query = text("SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn")
        return int(conn.execute(query).scalar_one())


def expire_bare(engine: Engine, *, program_id: int, workers: int) -> None:
    """The floor: the expiry job's writes in the least SQL, no locks, no batches.

    The same rows as the job (one ``expire`` movement and one ``points_expired`` event
    per account, the balances, the lots' state, points and expiry time), written by four
    statements in one transaction per connection: with ``workers`` connections (as many
    as the job uses), each takes one of the job's account ranges, at the same time.
    """
    ranges = account_ranges(engine, program_id=program_id, parts=workers)
    batch = uuid.uuid4().hex
    with ThreadPoolExecutor(max_workers=len(ranges)) as pool:
        list(
            pool.map(
                lambda ids: _expire_bare_range(engine, program_id=program_id, batch=batch, ids=ids),
                ranges,
            )
        )


def _expire_bare_range(
    engine: Engine, *, program_id: int, batch: str, ids: tuple[int, int]
) -> None:
    """The floor's four statements over the accounts of ``ids`` (``(after, until]``)."""
    postgres = engine.dialect.name == "postgresql"
    build_json = "jsonb_build_object" if postgres else "json_object"
    accounts = "account_id > :after AND account_id <= :until"
    due = (
        f"state = 'active' AND expires_at <= :now AND {accounts} AND account_id IN"
        " (SELECT id FROM loyalty_accounts WHERE program_id = :program)"
    )
    after, until = ids
    params = {
        "now": _stamp(engine, NOW),
        "program": program_id,
        "batch": batch,
        "after": after,
        "until": until,
    }
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO loyalty_movements (account_id, kind, points, pending_delta,"
                " debt_delta, batch_id, note, created_at) SELECT account_id, 'expire',"
                " -sum(remaining), 0, 0, :batch, 'floor', :now FROM loyalty_lots"
                f" WHERE {due} AND remaining > 0 GROUP BY account_id"
            ),
            params,
        )
        conn.execute(
            text(
                "UPDATE loyalty_accounts SET balance = balance + m.points, updated_at = :now"
                " FROM loyalty_movements m WHERE m.account_id = loyalty_accounts.id"
                f" AND m.batch_id = :batch AND m.{accounts}"
            ),
            params,
        )
        conn.execute(
            text(
                "INSERT INTO loyalty_events (program_id, account_id, type, movement_id, points,"
                " payload, created_at) SELECT a.program_id, m.account_id, 'points_expired',"
                f" m.id, m.points, {build_json}('balance', a.balance, 'batch_id', m.batch_id), :now"
                " FROM loyalty_movements m JOIN loyalty_accounts a ON a.id = m.account_id"
                f" WHERE m.batch_id = :batch AND m.{accounts}"
            ),
            params,
        )
        conn.execute(
            text(
                "UPDATE loyalty_lots SET state = 'expired', expired_points = expired_points"
                f" + remaining, remaining = 0, expired_at = :now WHERE {due}"
            ),
            params,
        )


def bench_expiry(
    engine: Engine, *, lots: int, accounts: int, workers: int
) -> dict[str, dict[str, float]]:
    """Generate ``lots`` due lots, time one expiry run; again for the bare floor."""
    program_id = generate_due_lots(engine, lots=lots, accounts=accounts)
    settle_storage(engine)
    with _Clock(engine) as project:
        report = expire_in_batches(engine, now=NOW, program_id=program_id, workers=workers)
    assert (report.lots, report.accounts) == (lots - lots % accounts, accounts), report
    floor_program = generate_due_lots(engine, lots=lots, accounts=accounts)
    settle_storage(engine)
    with _Clock(engine) as floor:
        expire_bare(engine, program_id=floor_program, workers=workers)
    return {"project": project, "floor": floor}


def lots_fillfactor(engine: Engine, fillfactor: int | None) -> str:
    """PostgreSQL: set the lots' table to ``fillfactor`` (when given; before any lot is
    written, so every page has it); the fillfactor the run's lots have, as printed."""
    if engine.dialect.name != "postgresql":
        return ""
    with engine.begin() as conn:
        if fillfactor is not None:
            conn.exec_driver_sql(f"ALTER TABLE loyalty_lots SET (fillfactor = {int(fillfactor)})")
        options = conn.execute(
            text("SELECT reloptions FROM pg_class WHERE relname = 'loyalty_lots'")
        ).scalar_one()
    found = [o.split("=")[1] for o in options or () if o.startswith("fillfactor=")]
    return f", lots fillfactor {found[0] if found else 100}"


def run_expiry(
    backend: str, engine: Engine, *, lots: int, accounts: int, fillfactor: int | None = None
) -> None:
    """One backend's expiry figures: project beside floor, wall and CPU, the target."""
    workers = expiry_workers(engine)
    storage = lots_fillfactor(engine, fillfactor)
    figures = bench_expiry(engine, lots=lots, accounts=accounts, workers=workers)
    print(f"expiry on {backend}: {lots:,} lots{storage}, {workers} connection(s) (target <= 10 s)")
    for label, f in (
        ("project expiry job", figures["project"]),
        ("floor: bare SQL   ", figures["floor"]),
    ):
        server = f.get("server_cpu_seconds")
        server_text = (
            "" if backend == "sqlite" or server is None else f"  server CPU {server:6.2f} s"
        )
        if "wal_mb" in f:
            server_text += f"  WAL {f['wal_mb']:6.0f} MB"
        print(f"  {label}  wall {f['seconds']:6.2f} s  CPU {f['cpu_seconds']:6.2f} s{server_text}")
    ratio = figures["project"]["seconds"] / figures["floor"]["seconds"]
    print(f"  project / floor (wall)  {ratio:.2f}")


def main() -> None:
    """Parse arguments, run one benchmark, print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=["sqlite", "postgres", "expiry"])
    parser.add_argument("--url", default=None, help="PostgreSQL admin URL")
    parser.add_argument("--ops", type=int, default=4_000)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--customers", type=int, default=1_000)
    parser.add_argument("--hot", action="store_true", help="all operations on one account")
    parser.add_argument(
        "--processes",
        action="store_true",
        help="PostgreSQL: the workers are processes with an engine each (default: threads)",
    )
    parser.add_argument(
        "--unit-of-work",
        action="store_true",
        help="each op in a unit of work, as the API runs it (default: a transaction of its "
        "own, earn_order/redeem_reward; the code before migration 0029 has only this mode)",
    )
    parser.add_argument("--lots", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument(
        "--lots-fillfactor",
        type=int,
        default=None,
        help="expiry on PostgreSQL: the lots' table fillfactor (default: the migrations', 70)",
    )
    args = parser.parse_args()
    if args.processes and args.kind != "postgres":
        parser.error("--processes applies to the postgres benchmark")
    if args.lots_fillfactor is not None and (args.kind != "expiry" or not args.url):
        parser.error("--lots-fillfactor applies to the expiry benchmark on PostgreSQL")
    backend = "sqlite" if args.kind == "sqlite" or not args.url else "postgres"
    engine, name = fresh_database(backend, args.url)
    try:
        if args.kind == "expiry":
            # Both backends in one run, same sizes: SQLite first, then PostgreSQL when
            # --url is given (``engine`` is then PostgreSQL's).
            if backend == "postgres":
                sqlite_engine, _ = fresh_database("sqlite", None)
                run_expiry("sqlite", sqlite_engine, lots=args.lots, accounts=args.accounts)
                sqlite_engine.dispose()
            run_expiry(
                backend,
                engine,
                lots=args.lots,
                accounts=args.accounts,
                fillfactor=args.lots_fillfactor,
            )
        else:
            workers = args.workers or (1 if backend == "sqlite" else 8)
            sizes = {"workers": workers, "ops": args.ops, "customers": args.customers}
            figures = run_ops(
                engine,
                **sizes,
                hot=args.hot,
                processes=args.processes,
                unit_of_work_mode=args.unit_of_work,
            )
            floor = run_floor(engine, **sizes, processes=args.processes)
            target = "2,500 ops/s, p99 <= 5 ms" if backend == "sqlite" else "1,200 ops/s"
            mode = "process(es)" if args.processes else "thread(s)"
            each = "in a unit of work" if args.unit_of_work else "a transaction of its own"
            print(
                f"{backend}, {workers} worker {mode}, {figures['ops']:.0f} ops, each op "
                f"{each} (target {target}):"
            )
            for label, f in (("project earn+redeem", figures), ("floor: bare driver ", floor)):
                server = f.get("server_cpu_ms_per_op")
                server_text = "" if server is None else f"  server CPU {server:5.2f} ms/op"
                print(
                    f"  {label}  {f['ops_per_s']:8,.0f} ops/s  p50 {f['p50_ms']:6.2f} ms  "
                    f"p99 {f['p99_ms']:6.2f} ms  CPU {f['cpu_ms_per_op']:5.2f} ms/op{server_text}"
                )
            print(
                f"  project: {figures['statements_per_op']:.1f} statements/op, "
                f"{figures['round_trips_per_op']:.1f} round trips/op (floor: lock, update, "
                "insert, commit)"
            )
            print(f"  project / floor      {figures['ops_per_s'] / floor['ops_per_s']:.2f}")
            if "storage" in figures:
                print("  during the project's timed run (storage; --processes only):")
                for line in describe(figures["storage"], figures["ops"]):
                    print(f"    {line}")
                print(f"    {figures['horizon']}")
            print(f"  load average after: {load_average()}")
    finally:
        engine.dispose()
        if name and args.url:
            drop_database(args.url, name)


if __name__ == "__main__":
    main()
