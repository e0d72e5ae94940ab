"""Loyalty benchmarks: earn and redeem throughput with p50/p99 latency, and the expiry job.

    .venv/bin/python benchmarks/bench_loyalty.py sqlite [--ops 5000]
    .venv/bin/python benchmarks/bench_loyalty.py postgres --url postgresql+psycopg://... \
        [--workers 8]
    .venv/bin/python benchmarks/bench_loyalty.py expiry [--lots 1000000] [--accounts 100000] \
        [--url postgresql+psycopg://...]

Each run prints the project beside a bare-transaction floor (the raw driver: lock, update,
insert, commit per op, same threads and database), wall and CPU time (the machine may be
shared: CPU per op is the steadier figure), and the statements and round trips per op
(counted on a separate short run, so the counters do not slow the timed one). Targets
(issues 19 and 20): SQLite, 1 thread >= 2,500 ops/s with p99 <= 5 ms; PostgreSQL, 8
workers >= 1,200 ops/s (>= 2,000 in issue 19); expiring 1M lots <= 10 s on both. Each op
is one unit of work (one transaction): an earn of a new order, or a redemption; customers
are spread over many accounts, as in a real store, except with ``--hot`` (all on one
account). The expiry run (SQLite, then PostgreSQL when ``--url`` is given) generates its
lots in SQL, then times the expiry job (``expire_in_batches``: account locks, batches of
one transaction each, on ``expiry_workers`` connections: two on PostgreSQL) beside a floor
of bare SQL that writes the same rows (movements, events, balances, lot states) in four
statements, one transaction per connection on as many connections, without locks or
batches; on PostgreSQL it also reports the server's CPU time. The loyalty services
re-evaluate no segment (the API routers do), so these figures do not depend on live
segments.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from _worker_harness import postgres_backends_cpu
from sqlalchemy import Engine, event, insert, text
from sqlalchemy.engine import make_url

from recompra.db import make_engine, unit_of_work
from recompra.loyalty import (
    adjust,
    create_program,
    create_reward,
    earn_for_order,
    expire_in_batches,
    publish_rules,
    redeem,
)
from recompra.loyalty.expiry import account_ranges, expiry_workers
from recompra.migrate import upgrade
from recompra.models import Brand, Customer, Order

NOW = datetime.now(UTC)


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


def setup(engine: Engine, *, customers: int, orders: int) -> tuple[int, list[int], list[int]]:
    """A brand, program, reward, funded customers and unearned orders."""
    with unit_of_work(engine) as s:
        brand = Brand(slug=f"bench-{uuid.uuid4().hex[:6]}", name="Bench")
        s.add(brand)
        s.flush()
        program = create_program(s, brand_id=brand.id, name="Bench", return_window_days=0)
        publish_rules(
            s,
            program_id=program.id,
            rules=[
                {"type": "base", "points_per_unit": 1},
                {"type": "first_order_bonus", "points": 5},
            ],
            effective_from=NOW - timedelta(days=30),
        )
        create_reward(s, program_id=program.id, code="coffee", name="Coffee", cost_points=5)
        people = [Customer(name=f"c{n}") for n in range(customers)]
        s.add_all(people)
        s.flush()
        customer_ids = [c.id for c in people]
        rows = [
            {
                "brand_id": brand.id,
                "source": "bench",
                "external_id": f"o{n}",
                "customer_id": customer_ids[n % customers],
                "status": "approved",
                "purchased_at": NOW - timedelta(hours=1),
                "items_total_minor": 5_000,
                "total_minor": 5_000,
                "currency": "BRL",
                "freight_total_minor": 0,
                "discount_total_minor": 0,
                "created_at": NOW,
                "updated_at": NOW,
            }
            for n in range(orders)
        ]
        s.execute(insert(Order), rows)
        order_ids = list(
            s.scalars(text("SELECT id FROM orders WHERE source = 'bench' ORDER BY id"))
        )
        for customer_id in customer_ids:
            adjust(
                s,
                program_id=program.id,
                customer_id=customer_id,
                points=1_000_000,
                request_key=f"fund-{customer_id}",
                reason="bench funding",
            )
    return program.id, customer_ids, order_ids


#: Operations run again with statement counters attached, after the timed run (the
#: counters' listeners would otherwise slow the timed run down).
COUNTED_OPS = 200


def run_ops(
    engine: Engine, *, workers: int, ops: int, customers: int, hot: bool
) -> dict[str, float]:
    """Half earns, half redemptions, spread over ``workers`` threads."""
    program, customer_ids, order_ids = setup(
        engine, customers=1 if hot else customers, orders=(ops + COUNTED_OPS) // 2 + 2 * workers
    )
    queue = list(order_ids)
    lock = threading.Lock()

    def one_op(index: int, n: int, rng: random.Random) -> None:
        if n % 2 == 0:
            with lock:
                order_id = queue.pop()
            with unit_of_work(engine) as s:
                earn_for_order(s, program_id=program, order_id=order_id)
        else:
            with unit_of_work(engine) as s:
                redeem(
                    s,
                    program_id=program,
                    customer_id=rng.choice(customer_ids),
                    reward_code="coffee",
                    request_key=f"w{index}-{n}",
                )

    figures = _in_threads(workers, ops, one_op)
    counter = _RoundTrips(engine)
    counted = _in_threads(workers, COUNTED_OPS, lambda i, n, rng: one_op(i, ops + n, rng))
    counter.remove()
    figures["statements_per_op"] = counter.statements / counted["ops"]
    figures["round_trips_per_op"] = counter.round_trips / counted["ops"]
    return figures


def _in_threads(
    workers: int, ops: int, op: Callable[[int, int, random.Random], None]
) -> dict[str, float]:
    """Run ``ops`` operations over ``workers`` threads; wall and CPU time, latencies."""
    latencies: list[list[float]] = [[] for _ in range(workers)]
    barrier = threading.Barrier(workers + 1)

    def worker(index: int) -> None:
        rng = random.Random(index)
        barrier.wait()
        for n in range(ops // workers):
            began = time.perf_counter()
            op(index, n, rng)
            latencies[index].append(time.perf_counter() - began)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    barrier.wait()
    began, cpu = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.join()
    return _figures(latencies, time.perf_counter() - began, time.process_time() - cpu)


class _RoundTrips:
    """Counts the statements an engine sends, and its round trips (statements, BEGIN on
    PostgreSQL, where the driver sends it apart, and COMMIT)."""

    def __init__(self, engine: Engine) -> None:
        self.statements = 0
        self.round_trips = 0
        self._engine = engine
        self._lock = threading.Lock()
        self._separate_begin = engine.dialect.name == "postgresql"
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "begin", self._begin)
        event.listen(engine, "commit", self._commit)

    def _statement(self, *_: object) -> None:
        with self._lock:
            self.statements += 1
            self.round_trips += 1

    def _begin(self, *_: object) -> None:
        if self._separate_begin:
            with self._lock:
                self.round_trips += 1

    def _commit(self, *_: object) -> None:
        with self._lock:
            self.round_trips += 1

    def remove(self) -> None:
        event.remove(self._engine, "before_cursor_execute", self._statement)
        event.remove(self._engine, "begin", self._begin)
        event.remove(self._engine, "commit", self._commit)


def _figures(latencies: list[list[float]], elapsed: float, cpu: float) -> dict[str, float]:
    flat = sorted(x for per in latencies for x in per)
    figures = {
        "ops": len(flat),
        "seconds": elapsed,
        "ops_per_s": len(flat) / elapsed,
        "p50_ms": statistics.median(flat) * 1000,
        "p99_ms": flat[int(len(flat) * 0.99) - 1] * 1000,
    }
    figures["cpu_ms_per_op"] = cpu / len(flat) * 1000
    return figures


FLOOR_TABLES = (
    "CREATE TABLE floor_accounts (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL)",
    "CREATE TABLE floor_moves (id BIGINT PRIMARY KEY, account_id BIGINT NOT NULL, "
    "points BIGINT NOT NULL, created_at TIMESTAMP NOT NULL)",
)


def run_floor(engine: Engine, *, workers: int, ops: int, customers: int) -> dict[str, float]:
    """The bare-transaction floor: what one ledger write costs at least on this database.

    Each op is one transaction on the raw driver connection (no SQLAlchemy): read and
    lock the account row, update its balance, insert one ledger row, commit. Same
    threads, same database, same serialisation of SQLite writers as the project.
    """
    postgres = engine.dialect.name == "postgresql"
    mark = "%s" if postgres else "?"
    with engine.begin() as conn:
        for ddl in FLOOR_TABLES:
            conn.exec_driver_sql(ddl)
        conn.execute(
            text("INSERT INTO floor_accounts (id, balance) VALUES (:id, 0)"),
            [{"id": n} for n in range(customers)],
        )
    ids = iter(range(10**9))
    write_lock = threading.Lock()
    lock_row = f"SELECT balance FROM floor_accounts WHERE id = {mark}" + (
        " FOR UPDATE" if postgres else ""
    )
    update_row = f"UPDATE floor_accounts SET balance = balance + 1 WHERE id = {mark}"
    insert_row = (
        f"INSERT INTO floor_moves (id, account_id, points, created_at) "
        f"VALUES ({mark}, {mark}, 1, {mark})"
    )

    def op(raw: Any, account: int, move_id: int) -> None:
        cursor = raw.cursor()
        if not postgres:
            cursor.execute("BEGIN IMMEDIATE")
        cursor.execute(lock_row, (account,))
        cursor.fetchone()
        cursor.execute(update_row, (account,))
        cursor.execute(insert_row, (move_id, account, datetime.now(UTC).isoformat()))
        raw.commit() if postgres else cursor.execute("COMMIT")
        cursor.close()

    raws = [engine.raw_connection() for _ in range(workers)]

    def one_op(index: int, _n: int, rng: random.Random) -> None:
        with write_lock:
            move_id = next(ids)
        if postgres:
            op(raws[index], rng.randrange(customers), move_id)
        else:
            with write_lock:  # the project queues SQLite writers the same way
                op(raws[index], rng.randrange(customers), move_id)

    try:
        return _in_threads(workers, ops, one_op)
    finally:
        for raw in raws:
            raw.close()


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

    Generated in SQL (INSERT ... SELECT over a number series): a million lots in seconds,
    without a million parameter rows through the driver. Returns the program id.
    """
    with unit_of_work(engine) as s:
        brand = Brand(slug=f"exp-{uuid.uuid4().hex[:6]}", name="Expiry")
        s.add(brand)
        s.flush()
        program_id = create_program(s, brand_id=brand.id, name="Expiry").id
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
        conn.execute(
            text(
                "INSERT INTO loyalty_lots (account_id, movement_id, source, state, points,"
                " remaining, reversed_points, expired_points, forgiven_points, basis_minor,"
                " returned_minor, earned_at, released_at, expires_at)"
                " SELECT m.account_id, m.id, 'adjust', 'active', 10, 10, 0, 0, 0, 0, 0,"
                f" :old, :old, :due FROM loyalty_movements m CROSS JOIN {_numbers(engine)}"
                " WHERE m.account_id IN (SELECT id FROM loyalty_accounts"
                " WHERE program_id = :program)"
            ),
            {"program": program_id, "count": per_account, "old": old, "due": due},
        )
    if engine.dialect.name == "postgresql":
        # Lots past their expiry are months old: autovacuum has long since visited them
        # (hint bits set, pages all-visible). Without this the timed run would pay for
        # that first visit of a million fresh rows, which no real expiry run does.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
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
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self.figures

    def __exit__(self, *_: object) -> None:
        self.figures["seconds"] = time.perf_counter() - self._wall
        self.figures["cpu_seconds"] = time.process_time() - self._cpu
        server = postgres_backends_cpu(self._engine)
        if server is not None and self._server is not None:
            self.figures["server_cpu_seconds"] = server - self._server


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
    with _Clock(engine) as project:
        report = expire_in_batches(engine, now=NOW, program_id=program_id, workers=workers)
    assert (report.lots, report.accounts) == (lots - lots % accounts, accounts), report
    floor_program = generate_due_lots(engine, lots=lots, accounts=accounts)
    with _Clock(engine) as floor:
        expire_bare(engine, program_id=floor_program, workers=workers)
    return {"project": project, "floor": floor}


def run_expiry(backend: str, engine: Engine, *, lots: int, accounts: int) -> None:
    """One backend's expiry figures: project beside floor, wall and CPU, the target."""
    workers = expiry_workers(engine)
    figures = bench_expiry(engine, lots=lots, accounts=accounts, workers=workers)
    print(f"expiry on {backend}: {lots:,} lots, {workers} connection(s) (target <= 10 s)")
    for label, f in (
        ("project expiry job", figures["project"]),
        ("floor: bare SQL   ", figures["floor"]),
    ):
        server = f.get("server_cpu_seconds")
        server_text = (
            "" if backend == "sqlite" or server is None else f"  server CPU {server:6.2f} s"
        )
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
    parser.add_argument("--lots", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=100_000)
    args = parser.parse_args()
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
            run_expiry(backend, engine, lots=args.lots, accounts=args.accounts)
        else:
            workers = args.workers or (1 if backend == "sqlite" else 8)
            figures = run_ops(
                engine, workers=workers, ops=args.ops, customers=args.customers, hot=args.hot
            )
            floor = run_floor(engine, workers=workers, ops=args.ops, customers=args.customers)
            target = "2,500 ops/s, p99 <= 5 ms" if backend == "sqlite" else "1,200 ops/s"
            print(f"{backend}, {workers} worker(s), {figures['ops']:.0f} ops (target {target}):")
            for label, f in (("project earn+redeem", figures), ("floor: bare driver ", floor)):
                print(
                    f"  {label}  {f['ops_per_s']:8,.0f} ops/s  p50 {f['p50_ms']:6.2f} ms  "
                    f"p99 {f['p99_ms']:6.2f} ms  CPU {f['cpu_ms_per_op']:5.2f} ms/op"
                )
            print(
                f"  project: {figures['statements_per_op']:.1f} statements/op, "
                f"{figures['round_trips_per_op']:.1f} round trips/op (floor: lock, update, "
                "insert, commit)"
            )
            print(f"  project / floor      {figures['ops_per_s'] / floor['ops_per_s']:.2f}")
    finally:
        engine.dispose()
        if name and args.url:
            drop_database(args.url, name)


if __name__ == "__main__":
    main()
