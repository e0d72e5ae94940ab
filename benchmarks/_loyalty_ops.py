"""Earn+redeem throughput for ``bench_loyalty.py``: the project and its bare-driver floor,
in worker threads of this process or in worker processes.

Threads share this process's GIL: with 8 threads the Python CPU of one core caps even the
bare floor. Production runs several API or job worker processes, each with its own
engine and pool; ``--processes`` measures that: ``workers`` processes, each with its own
engine (pool of 2), started and warmed up (one earn and one redemption, or one floor op)
before a common start, so start-up and first-use compilation are not timed. Wall time is
from the common start to the last worker's end; CPU time is the sum of the workers' own
CPU over their timed loops. Statements and round trips per op do not depend on the mode:
they are counted on a short run in threads of this process either way.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import random
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from _pg_storage import HorizonWatch, difference, settle_storage, snapshot
from _worker_harness import postgres_backends_cpu
from sqlalchemy import Engine, event, insert, text

from recompra.db import make_engine, unit_of_work
from recompra.loyalty import (
    adjust,
    create_program,
    create_reward,
    earn_for_order,
    publish_rules,
    redeem,
)
from recompra.models import Brand, Customer, Order

NOW = datetime.now(UTC)
#: Operations run again with statement counters attached, after the timed run (the
#: counters' listeners would otherwise slow the timed run down).
COUNTED_OPS = 200
#: Each worker process's pool: one connection in use, one spare.
PROCESS_POOL_SIZE = 2
#: Floor movement ids of worker process ``i`` start at ``i * FLOOR_IDS_PER_PROCESS``.
FLOOR_IDS_PER_PROCESS = 10**8
#: How long the workers' backends are given to report their counters after they exit.
STATS_FLUSH_SECONDS = 1.0

Op = Callable[[int, int, random.Random], None]


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


def project_op(
    engine: Engine,
    *,
    program: int,
    customer_ids: list[int],
    next_order: Callable[[], int],
    unit_of_work_mode: bool = False,
) -> Op:
    """One project op: an earn of a new order (even ``n``) or a redemption (odd ``n``)
    for a random customer, as a transaction of its own (``earn_order``/``redeem_reward``:
    on PostgreSQL one server-side function call in autocommit), or with
    ``unit_of_work_mode`` as the API runs it, in a unit of work (``earn_for_order``/
    ``redeem``: the same function inside the transaction; the only mode the code before
    migration 0029 has, for before/after runs)."""
    if not unit_of_work_mode:
        from recompra.loyalty import earn_order, redeem_reward

        def own_transaction(index: int, n: int, rng: random.Random) -> None:
            if n % 2 == 0:
                earn_order(engine, program_id=program, order_id=next_order())
            else:
                redeem_reward(
                    engine,
                    program_id=program,
                    customer_id=rng.choice(customer_ids),
                    reward_code="coffee",
                    request_key=f"w{index}-{n}",
                )

        return own_transaction

    def one_op(index: int, n: int, rng: random.Random) -> None:
        if n % 2 == 0:
            order_id = next_order()
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

    return one_op


def _orders_per_process(*, workers: int, ops: int) -> int:
    """The orders one worker process earns: half its timed ops, and one warm-up."""
    return (ops // workers + 1) // 2 + 1


def orders_needed(*, workers: int, ops: int) -> int:
    """Orders :func:`setup` must create for a timed run, its warm-ups and the counted run."""
    return workers * _orders_per_process(workers=workers, ops=ops) + COUNTED_OPS // 2 + workers


def run_ops(
    engine: Engine,
    *,
    workers: int,
    ops: int,
    customers: int,
    hot: bool,
    processes: bool,
    unit_of_work_mode: bool = False,
) -> dict[str, Any]:
    """Half earns, half redemptions, over ``workers`` threads (or worker processes)."""
    program, customer_ids, order_ids = setup(
        engine, customers=1 if hot else customers, orders=orders_needed(workers=workers, ops=ops)
    )
    if engine.dialect.name == "postgresql":
        settle_storage(engine, skip_empty=True)  # tables in steady state (_pg_storage)
    if processes:
        per_worker = _orders_per_process(workers=workers, ops=ops)
        shares = [order_ids[i * per_worker : (i + 1) * per_worker] for i in range(workers)]
        del order_ids[: workers * per_worker]
        payloads = [
            {
                "kind": "project",
                "program": program,
                "customers": customer_ids,
                "orders": share,
                "unit_of_work_mode": unit_of_work_mode,
            }
            for share in shares
        ]
        figures = _in_processes(engine, workers, ops, payloads)
    queue = list(order_ids)
    lock = threading.Lock()

    def next_order() -> int:
        with lock:
            return queue.pop()

    one_op = project_op(
        engine,
        program=program,
        customer_ids=customer_ids,
        next_order=next_order,
        unit_of_work_mode=unit_of_work_mode,
    )
    if not processes:
        figures = _in_threads(workers, ops, one_op, engine=engine)
    counter = _RoundTrips(engine)
    counted = _in_threads(workers, COUNTED_OPS, lambda i, n, rng: one_op(i, ops + n, rng))
    counter.remove()
    figures["statements_per_op"] = counter.statements / counted["ops"]
    figures["round_trips_per_op"] = counter.round_trips / counted["ops"]
    return figures


def _in_threads(
    workers: int, ops: int, op: Op, *, engine: Engine | None = None
) -> dict[str, float]:
    """Run ``ops`` operations over ``workers`` threads; wall and CPU time, latencies (and
    with ``engine`` on PostgreSQL, the server's CPU time)."""
    latencies: list[list[float]] = [[] for _ in range(workers)]
    barrier = threading.Barrier(workers + 1)

    def worker(index: int) -> None:
        rng = random.Random(index)
        barrier.wait()
        latencies[index] = _timed_loop(op, index, ops // workers, rng)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    server = postgres_backends_cpu(engine) if engine is not None else None
    barrier.wait()
    began, cpu = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.join()
    figures = _figures(latencies, time.perf_counter() - began, time.process_time() - cpu)
    return _with_server_cpu(figures, engine, server)


def _with_server_cpu(
    figures: dict[str, float], engine: Engine | None, server_before: float | None
) -> dict[str, float]:
    """``figures`` with the database backends' CPU per op since ``server_before``, when
    the server runs on this machine (PostgreSQL)."""
    if engine is None or engine.dialect.name != "postgresql":
        return figures
    server_after = postgres_backends_cpu(engine)
    if server_before is not None and server_after is not None:
        figures["server_cpu_ms_per_op"] = (server_after - server_before) / figures["ops"] * 1000
    return figures


def _timed_loop(op: Op, index: int, count: int, rng: random.Random) -> list[float]:
    """Run ``count`` ops; each one's latency in seconds."""
    latencies = []
    for n in range(count):
        began = time.perf_counter()
        op(index, n, rng)
        latencies.append(time.perf_counter() - began)
    return latencies


def _in_processes(
    engine: Engine, workers: int, ops: int, payloads: list[dict[str, Any]]
) -> dict[str, Any]:
    """Run ``ops`` operations over ``workers`` processes (``payloads[i]`` says process
    ``i``'s work); wall time from the common start, the workers' summed CPU time."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(workers + 1)
    # The workers keep their connections (their server backends) until the server's CPU
    # time has been read after the run.
    finished = context.Barrier(workers + 1)
    results = context.Queue()
    url = engine.url.render_as_string(hide_password=False)
    children = [
        context.Process(
            target=_process_worker,
            args=(url, i, ops // workers, payloads[i], barrier, finished, results),
        )
        for i in range(workers)
    ]
    for child in children:
        child.start()
    storage = snapshot(engine)
    barrier.wait()
    server = postgres_backends_cpu(engine)
    began = time.perf_counter()
    with HorizonWatch(engine) as horizon:
        outcomes = [results.get() for _ in children]
    server_after = postgres_backends_cpu(engine)
    with contextlib.suppress(threading.BrokenBarrierError):  # a worker failed: see below
        finished.wait()
    for child in children:
        child.join()
    failures = [o["error"] for o in outcomes if "error" in o]
    if failures:
        raise RuntimeError(f"worker process failed: {failures[0]}")
    ended = max(o["ended"] for o in outcomes)
    figures: dict[str, Any] = _figures(
        [o["latencies"] for o in outcomes], ended - began, sum(o["cpu"] for o in outcomes)
    )
    if engine.dialect.name == "postgresql" and server is not None and server_after is not None:
        figures["server_cpu_ms_per_op"] = (server_after - server) / figures["ops"] * 1000
    if storage is not None:
        # The workers' backends flush their table counters as they exit, just after
        # their clients disconnect: wait for it (untimed).
        time.sleep(STATS_FLUSH_SECONDS)
        figures["storage"] = difference(storage, snapshot(engine) or storage)
        figures["horizon"] = horizon.describe()
    return figures


def _process_worker(
    url: str,
    index: int,
    count: int,
    payload: dict[str, Any],
    barrier: Any,
    finished: Any,
    results: Any,
) -> None:
    """One worker process: its own engine, a warm-up, the common start, the timed loop."""
    engine = make_engine(url, pool_size=PROCESS_POOL_SIZE)
    try:
        rng = random.Random(index)
        if payload["kind"] == "project":
            orders: Iterator[int] = iter(payload["orders"])
            op = project_op(
                engine,
                program=payload["program"],
                customer_ids=payload["customers"],
                next_order=lambda: next(orders),
                unit_of_work_mode=payload["unit_of_work_mode"],
            )
            op(index, 0, rng)  # warm-up: an earn and a redemption, untimed
            op(index, 1, rng)
            offset = 2
        else:
            raw = engine.raw_connection()
            op = floor_op(
                raw, customers=payload["customers"], first_id=index * FLOOR_IDS_PER_PROCESS
            )
            op(index, 0, rng)
            offset = 1
    except BaseException as exc:
        barrier.abort()
        finished.abort()
        results.put({"error": repr(exc)})
        raise
    barrier.wait()
    cpu = time.process_time()
    latencies = _timed_loop(lambda i, n, r: op(i, n + offset, r), index, count, rng)
    results.put(
        {"latencies": latencies, "cpu": time.process_time() - cpu, "ended": time.perf_counter()}
    )
    with contextlib.suppress(threading.BrokenBarrierError):
        finished.wait()
    engine.dispose()


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

    def _begin(self, conn: Any) -> None:
        # A connection in autocommit (the server-side functions' calls) sends no BEGIN.
        autocommit = conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT"
        if self._separate_begin and not autocommit:
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


def floor_op(raw: Any, *, customers: int, first_id: int) -> Op:
    """One floor op on the raw driver connection ``raw`` (no SQLAlchemy): read and lock a
    random account row, update its balance, insert one ledger row, commit. Movement ids
    count up from ``first_id``."""
    postgres = "psycopg" in type(raw.driver_connection).__module__
    mark = "%s" if postgres else "?"
    lock_row = f"SELECT balance FROM floor_accounts WHERE id = {mark}" + (
        " FOR UPDATE" if postgres else ""
    )
    update_row = f"UPDATE floor_accounts SET balance = balance + 1 WHERE id = {mark}"
    insert_row = (
        f"INSERT INTO floor_moves (id, account_id, points, created_at) "
        f"VALUES ({mark}, {mark}, 1, {mark})"
    )
    ids = iter(range(first_id, first_id + FLOOR_IDS_PER_PROCESS))

    def op(_index: int, _n: int, rng: random.Random) -> None:
        account = rng.randrange(customers)
        cursor = raw.cursor()
        if not postgres:
            cursor.execute("BEGIN IMMEDIATE")
        cursor.execute(lock_row, (account,))
        cursor.fetchone()
        cursor.execute(update_row, (account,))
        cursor.execute(insert_row, (next(ids), account, datetime.now(UTC).isoformat()))
        raw.commit() if postgres else cursor.execute("COMMIT")
        cursor.close()

    return op


def run_floor(
    engine: Engine, *, workers: int, ops: int, customers: int, processes: bool
) -> dict[str, Any]:
    """The bare-transaction floor: what one ledger write costs at least on this database.

    Each op is one transaction on the raw driver connection (:func:`floor_op`). Same
    threads or processes, same database, same serialisation of SQLite writers as the
    project.
    """
    with engine.begin() as conn:
        for ddl in FLOOR_TABLES:
            conn.exec_driver_sql(ddl)
        conn.execute(
            text("INSERT INTO floor_accounts (id, balance) VALUES (:id, 0)"),
            [{"id": n} for n in range(customers)],
        )
    if engine.dialect.name == "postgresql":
        settle_storage(engine, skip_empty=True)
    if processes:
        payloads = [{"kind": "floor", "customers": customers}] * workers
        return _in_processes(engine, workers, ops, payloads)
    raws = [engine.raw_connection() for _ in range(workers)]
    ops_of = [
        floor_op(raw, customers=customers, first_id=i * FLOOR_IDS_PER_PROCESS)
        for i, raw in enumerate(raws)
    ]
    write_lock = threading.Lock()
    serialise = engine.dialect.name == "sqlite"

    def one_op(index: int, n: int, rng: random.Random) -> None:
        if serialise:
            with write_lock:  # the project queues SQLite writers the same way
                ops_of[index](index, n, rng)
        else:
            ops_of[index](index, n, rng)

    try:
        return _in_threads(workers, ops, one_op, engine=engine)
    finally:
        for raw in raws:
            raw.close()
