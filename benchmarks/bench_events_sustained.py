"""Benchmark: events ingested and evaluated against 20 active journeys, sustained.

Issue 15's first speed row asks for >= 1,000 events/s on SQLite and >= 2,000/s on
PostgreSQL, **sustained for 10 minutes**. Per backend (SQLite, then PostgreSQL when
``--postgres`` is given), for ``--seconds`` (600 by default):

* setup: 20 active journeys triggered by the custom events ``e0`` ... ``e19`` (one run
  per journey and customer; their start node waits a day, so the run's first timer is
  not due during the run) and enough customers for every event to be a new (customer,
  journey) pair: event ``n`` goes to customer ``n % customers`` with type
  ``e{n // customers % 20}``; after the first pass over the population every event's
  customer is already in journeys (the trigger pass's slower path: exit conditions and
  ``wait_for_event`` wake-ups are looked up for them);
* a **producer process** offers events at a fixed rate (``--rate``; 1,200/s SQLite and
  2,200/s PostgreSQL by default) in batches of ``--batch`` (100) through the product's
  ingest path, the one ``POST /v1/ingest/events/batch`` runs (``ingest_events`` with its
  validation, then the live-segment re-evaluation, in one unit of work; on PostgreSQL
  each commit wakes the worker: the events table's trigger sends the ``NOTIFY``);
* the **real worker**, ``recompra worker``, in its own process, evaluates them; it is
  started first, and the producer once the worker has evaluated a warm-up event (the
  worker's start-up is printed, not counted).

Every second of the run the bench reads the worker's ``events`` feed cursor: a batch is
evaluated once the cursor (moved in the same transaction that writes its runs) reaches
its last event, so its lag (event committed -> run row exists) is that moment minus the
producer's commit, to within the 0.1 s poll. Per interval (``--interval``, a minute by
default) it prints the events ingested and evaluated, the runs started, the lag p50, p95
and max, the backlog (ingested - evaluated) at the interval's end and the CPU seconds of
the producer, the worker and (PostgreSQL) the database server's backends, with their sum
per evaluated event (a figure that grows from interval to interval is a cost growing with
the tables).

The verdict: evaluated events per second >= the target in every interval, the backlog
bounded (at every interval's end at most 5 seconds of offered events, and never more
than 1 second of them above the interval before: it does not grow), and, counted with
plain SQL at the end, every event started exactly one run (each event's customer has a
run of the event's journey, and there are as many runs as events and as distinct
(customer, type) pairs).

At the end the worker (``recompra worker --timings``) prints each step's and job's count,
wall and CPU seconds and longest run: the trigger pass, the decisions, the deliveries,
the pass (the event path's longest pause) and each job on its own thread.
``--worker-src DIR`` runs another checkout's worker instead (the base, beside the same
producer: it prints no timings).

Usage: ``python benchmarks/bench_events_sustained.py [--seconds 600] [--interval 60]
[--rate N] [--batch 100] [--postgres postgresql+psycopg://...] [--skip-sqlite]
[--worker-src /path/to/base/src]``;
a short check: ``--seconds 60 --interval 20``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

from _automation_seed import seed_event_journeys
from _cpu import process_cpu_seconds
from _worker_harness import (
    fork_worker,
    load_average,
    postgres_backend_pids,
    postgres_backends_cpu,
    postgres_database,
    wait_status,
)
from sqlalchemy import Engine, insert, text

from recompra.db import make_engine, unit_of_work
from recompra.hub.customers import external_identity
from recompra.hub.ingest.aftersale import ingest_events
from recompra.migrate import upgrade
from recompra.models import CustomerIdentity, Event
from recompra.models.automation import JourneyRun, JourneyTimer
from recompra.segments.live import reevaluate_written

JOURNEYS = 20
SOURCE = "bench"
#: Worst backlog allowed at an interval's end, in seconds of offered events.
BACKLOG_SECONDS = 5
#: How long the run may take to evaluate what is left once the producer stops.
DRAIN_SECONDS = 60


def seed(engine: Engine, customers: int) -> int:
    """The journeys and customers of :func:`seed_event_journeys`, each with the store's
    external id (its own id as text) the producer's events name; the brand's id."""
    brand_id, ids = seed_event_journeys(engine, customers, JOURNEYS)
    with unit_of_work(engine) as session:
        _, source, _ = external_identity(brand_id, SOURCE, "")
        session.execute(
            insert(CustomerIdentity),
            [
                {"customer_id": c, "kind": "external", "source": source, "value": str(c)}
                for c in ids
            ],
        )
    return brand_id


def _customer_ids(conn: Any, brand_id: int) -> list[int]:
    query = text("SELECT customer_id FROM brand_customers WHERE brand_id = :b ORDER BY 1")
    return list(conn.execute(query, {"b": brand_id}).scalars())


def warm_up(engine: Engine, brand_id: int, worker: subprocess.Popen[bytes]) -> float:
    """One event of the last customer, through the producer's path; wait until the
    worker has evaluated it: the seconds it took the worker to start (importing, its
    first pass and jobs), which the sustained figures leave out."""
    began = time.perf_counter()
    with engine.connect() as conn:
        customer = _customer_ids(conn, brand_id)[-1]
    event = {"event_id": "warm-up", "type": "e0", "occurred_at": datetime.now(UTC).isoformat()}
    with unit_of_work(engine) as session:
        result = ingest_events(
            session,
            brand_id=brand_id,
            source=SOURCE,
            events=[{**event, "customer_id": str(customer)}],
        )
        reevaluate_written(session, brand_id, "events", result.ids)
    (event_id,) = result.ids
    while True:
        with engine.connect() as conn:
            position = conn.execute(
                text("SELECT position FROM automation_cursors WHERE feed = 'events'")
            ).scalar()
        if position is not None and event_id is not None and position >= event_id:
            return time.perf_counter() - began
        if worker.poll() is not None:
            _, errors = worker.communicate()
            raise RuntimeError(f"the worker stopped: {errors.decode(errors='replace')}")
        time.sleep(0.1)


def produce(url: str, brand_id: int, *, rate: float, batch: int, seconds: float, log: Path) -> None:
    """The producer (a forked process): batch ``k`` is due ``k * batch / rate`` seconds
    after the start; each is ingested and committed, then logged as a JSON line
    (commit time, first and last event id, count). Behind schedule it sends at once, and
    it stops after ``seconds`` whatever it sent."""
    engine = make_engine(url, pool_size=1)
    with engine.connect() as conn:
        # The last customer is the warm-up's (:func:`warm_up`).
        customers = _customer_ids(conn, brand_id)[:-1]
    began = time.perf_counter()
    sent = 0
    with log.open("a") as out:
        # The schedule's origin: the intervals are counted from here, not from the fork
        # (the connection and the customer list before it are set-up, not sending).
        out.write(json.dumps({"start": time.time()}) + "\n")
        out.flush()
        for k in range(math.ceil(seconds * rate / batch)):
            delay = began + k * batch / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            elif time.perf_counter() > began + seconds:
                break  # behind schedule at the end: the intervals show the rate reached
            events = []
            for n in range(sent, sent + batch):
                customer, round_ = customers[n % len(customers)], n // len(customers)
                events.append(
                    {
                        "event_id": f"ev-{n}",
                        "type": f"e{round_ % JOURNEYS}",
                        "occurred_at": datetime.now(UTC).isoformat(),
                        "customer_id": str(customer),
                        "payload": {"n": n},
                    }
                )
            with unit_of_work(engine) as session:
                result = ingest_events(session, brand_id=brand_id, source=SOURCE, events=events)
                reevaluate_written(session, brand_id, "events", result.ids)
            ids = [i for i in result.ids if i is not None]
            assert len(ids) == batch, result  # a rejected event would never start a run
            sent += batch
            record = {"at": time.time(), "first": min(ids), "last": max(ids), "count": len(ids)}
            out.write(json.dumps(record) + "\n")
            out.flush()
    engine.dispose()


@dataclass
class Interval:
    """What one interval of the run measured."""

    ingested: int = 0
    evaluated: int = 0
    runs: int = 0
    lags: list[float] = field(default_factory=list)
    backlog: int = 0
    producer_cpu: float = 0.0
    worker_cpu: float = 0.0
    server_cpu: float | None = None


class Monitor:
    """Follows the producer's log and the worker's cursor; cuts the run into intervals."""

    def __init__(self, engine: Engine, log: Path, pids: dict[str, int]) -> None:
        self.engine, self.log, self.pids = engine, log, pids
        self.pending: list[dict[str, Any]] = []
        self.lines = log.open()
        self.partial = ""
        self.ingested = self.evaluated = 0
        self.intervals: list[Interval] = []
        self.current = Interval()
        self.backends: dict[int, float] = {}
        self.ended: dict[str, float] = {}
        self.cpu = self.first_cpu = self._cpu()
        self.runs = self._runs()
        #: When the producer began sending (``time.time()``), once its log says so.
        self.started: float | None = None

    def restart(self) -> None:
        """Count CPU and runs from now (the producer's first send): what the processes
        spent before it (the producer's connection, the worker's idle passes) is set-up."""
        self.cpu = self.first_cpu = self._cpu()
        self.runs = self._runs()

    def _cpu(self) -> dict[str, float | None]:
        figures: dict[str, float | None] = {}
        for name, pid in self.pids.items():
            # A process reaped (the producer) has its total from ``wait4``.
            figures[name] = self.ended.get(name) or process_cpu_seconds(pid)
        # Per backend, each keeping its last reading once its connection closes (a sum of
        # the live ones would drop).
        for pid in postgres_backend_pids(self.engine):
            self.backends[pid] = process_cpu_seconds(pid) or self.backends.get(pid, 0.0)
        postgres = self.engine.dialect.name == "postgresql"
        figures["server"] = sum(self.backends.values()) if postgres else None
        return figures

    def _runs(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM journey_runs")).scalar_one())

    def poll(self) -> None:
        """Take the producer's new batches; mark those the worker's cursor has passed."""
        self.partial += self.lines.read()
        *lines, self.partial = self.partial.split("\n")  # the last may be half-written
        for line in lines:
            batch = json.loads(line)
            if "start" in batch:
                self.started = batch["start"]
                continue
            self.pending.append(batch)
            self.ingested += batch["count"]
            self.current.ingested += batch["count"]
        with self.engine.connect() as conn:
            position = conn.execute(
                text("SELECT position FROM automation_cursors WHERE feed = 'events'")
            ).scalar()
        now = time.time()
        while self.pending and position is not None and self.pending[0]["last"] <= position:
            batch = self.pending.pop(0)
            self.current.lags.append(now - batch["at"])
            self.evaluated += batch["count"]
            self.current.evaluated += batch["count"]

    def cpu_spent(self) -> float:
        """CPU seconds of the producer, the worker and the server since the start."""
        now = self._cpu()
        return sum((now[k] or 0.0) - (self.first_cpu[k] or 0.0) for k in now)

    def close_interval(self) -> Interval:
        """End the current interval: its runs, backlog and CPU; start the next."""
        runs, cpu = self._runs(), self._cpu()
        done = self.current
        done.runs, self.runs = runs - self.runs, runs
        done.backlog = self.ingested - self.evaluated
        done.producer_cpu = (cpu["producer"] or 0.0) - (self.cpu["producer"] or 0.0)
        done.worker_cpu = (cpu["worker"] or 0.0) - (self.cpu["worker"] or 0.0)
        if cpu["server"] is not None and self.cpu["server"] is not None:
            done.server_cpu = cpu["server"] - self.cpu["server"]
        self.cpu = cpu
        self.intervals.append(done)
        self.current = Interval()
        return done


def _quantile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def _print_interval(index: int, seconds: float, row: Interval) -> None:
    server = "" if row.server_cpu is None else f"  server CPU {row.server_cpu:5.1f} s"
    # CPU per evaluated event: its growth from interval to interval is a cost that grows
    # with the tables (the rate alone hides it while the machine has cores to spare).
    spent = row.producer_cpu + row.worker_cpu + (row.server_cpu or 0.0)
    per_event = spent / row.evaluated * 1e3 if row.evaluated else float("nan")
    print(
        f"  {index:>3}  ingested {row.ingested:>7,} ({row.ingested / seconds:6,.0f}/s)"
        f"  evaluated {row.evaluated:>7,} ({row.evaluated / seconds:6,.0f}/s)"
        f"  runs {row.runs:>7,}  lag p50 {_quantile(row.lags, 0.5):5.2f} s"
        f" p95 {_quantile(row.lags, 0.95):5.2f} s max {max(row.lags, default=float('nan')):5.2f} s"
        f"  backlog {row.backlog:>6,}  CPU producer {row.producer_cpu:5.1f} s"
        f" worker {row.worker_cpu:5.1f} s{server} ({per_event:.2f} ms/event)",
        flush=True,
    )


def exactly_one_run_each(engine: Engine, brand_id: int) -> dict[str, int]:
    """Counted with plain SQL: the brand's events, their distinct (customer, type) pairs,
    the events whose customer has a run of the event's journey (``e7`` -> ``ev7``), and
    the runs of the brand's journeys. Every event started exactly one run when all four
    are equal (the unique (journey, customer, entry key) allows one run per pair)."""
    with engine.connect() as conn:
        params = {"brand": brand_id}
        events, pairs = conn.execute(
            text(
                "SELECT count(*), count(DISTINCT customer_id || ':' || type) FROM events"
                " WHERE brand_id = :brand"
            ),
            params,
        ).one()
        matched = conn.execute(
            text(
                "SELECT count(*) FROM events e JOIN journeys j ON j.brand_id = e.brand_id"
                " AND j.key = 'ev' || substr(e.type, 2) JOIN journey_runs r"
                " ON r.journey_id = j.id AND r.customer_id = e.customer_id"
                " WHERE e.brand_id = :brand"
            ),
            params,
        ).scalar_one()
        runs = conn.execute(
            text(
                "SELECT count(*) FROM journey_runs r JOIN journeys j ON j.id = r.journey_id"
                " WHERE j.brand_id = :brand"
            ),
            params,
        ).scalar_one()
    return {"events": events, "pairs": pairs, "matched": matched, "runs": runs}


#: Events the floor writes (enough for a steady rate, short beside the run).
FLOOR_EVENTS = 20_000


def floor_cpu(engine: Engine, brand_id: int, n: int, batch: int) -> dict[str, float]:
    """The floor: the rows the run writes per event (the event, its run, the run's first
    timer) written in bare SQL, three statements per batch of ``batch`` and one
    transaction each, in this process, with no producer, worker or pacing: events per
    second and CPU milliseconds per event (this process's and PostgreSQL's)."""
    with engine.connect() as conn:
        customers = _customer_ids(conn, brand_id)
        journey_id = conn.execute(
            text("SELECT id FROM journeys WHERE brand_id = :b AND key = 'ev0'"), {"b": brand_id}
        ).scalar_one()
    now = datetime.now(UTC)
    server = postgres_backends_cpu(engine)
    began, cpu = time.perf_counter(), time.process_time()
    for first in range(0, n, batch):
        numbers = range(first, min(first + batch, n))
        with engine.begin() as conn:
            conn.execute(
                insert(Event),
                [
                    {
                        "brand_id": brand_id,
                        "customer_id": customers[k % len(customers)],
                        "type": "floor",
                        "occurred_at": now,
                        "source": SOURCE,
                        "external_id": f"floor-{k}",
                        "payload": {"n": k},
                        "created_at": now,
                    }
                    for k in numbers
                ],
            )
            runs = conn.execute(
                insert(JourneyRun).returning(JourneyRun.id, JourneyRun.entry_key),
                [
                    {
                        "journey_id": journey_id,
                        "version": 1,
                        "customer_id": customers[k % len(customers)],
                        "entry_key": f"floor:{k}",
                        "node": "first",
                        "state": "active",
                        "holdout": False,
                        "started_at": now,
                    }
                    for k in numbers
                ],
            ).all()
            conn.execute(
                insert(JourneyTimer),
                [
                    {
                        "run_id": run_id,
                        "node": "first",
                        "execution_key": key,
                        "due_at": now,
                        "state": "pending",
                        "created_at": now,
                    }
                    for run_id, key in runs
                ],
            )
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    after = postgres_backends_cpu(engine)
    server_ms = 0.0 if server is None or after is None else (after - server) / n * 1e3
    return {"per_second": n / seconds, "client_ms": cpu / n * 1e3, "server_ms": server_ms}


def run_backend(label: str, url: str, args: argparse.Namespace, home: Path) -> bool:
    """One backend's sustained run; prints its intervals and verdict; whether it was met."""
    target = 1_000 if label == "SQLite" else 2_000
    rate = args.rate or (1_200 if label == "SQLite" else 2_200)
    engine = make_engine(url, pool_size=2)
    upgrade(engine)
    total = math.ceil(args.seconds * rate / args.batch) * args.batch
    customers = math.ceil(total / JOURNEYS)
    brand_id = seed(engine, customers=customers + 1)  # and the warm-up's customer
    log = home / f"producer-{label}.jsonl"
    log.write_text("")
    env = {**os.environ, "RECOMPRA_DATABASE_URL": url, "RECOMPRA_HOME": str(home)}
    command = [sys.executable, "-m", "recompra.cli.main", "worker"]
    if args.worker_src:  # another checkout's worker (the code before a change)
        env["PYTHONPATH"] = args.worker_src
    else:
        command.append("--timings")
    worker = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    print(f"{label}: worker ready after {warm_up(engine, brand_id, worker):.1f} s", flush=True)
    engine.dispose()  # the producer forks: no pooled connection may cross the fork
    producer = fork_worker(
        lambda: produce(url, brand_id, rate=rate, batch=args.batch, seconds=args.seconds, log=log)
    )
    print(
        f"{label}: {rate:,.0f} events/s offered for {args.seconds} s in batches of {args.batch},"
        f" {JOURNEYS} journeys, {customers:,} customers (target {target:,}/s)",
        flush=True,
    )
    monitor = Monitor(engine, log, {"producer": producer, "worker": worker.pid})
    forked = time.perf_counter()
    while monitor.started is None:  # the producer's set-up: not part of any interval
        time.sleep(0.01)
        monitor.poll()
        if os.waitpid(producer, os.WNOHANG)[0] != 0:
            raise RuntimeError("the producer stopped before sending")
    # Interval 1 starts when the producer's schedule does (its first batch is due then),
    # so that no interval is short of offered events by construction.
    began = time.perf_counter() - (time.time() - monitor.started)
    monitor.restart()
    print(
        f"{label}: intervals counted from the producer's first send,"
        f" {began - forked:.2f} s after its fork (its connection and customer list)",
        flush=True,
    )
    boundary = began + args.interval
    producing = True
    while True:
        time.sleep(0.1)
        monitor.poll()
        if producing:
            finished, status, usage = os.wait4(producer, os.WNOHANG)
            producing = finished == 0
            if not producing:
                assert os.waitstatus_to_exitcode(status) == 0, "the producer failed"
                monitor.ended["producer"] = usage.ru_utime + usage.ru_stime
        if time.perf_counter() >= boundary:
            _print_interval(len(monitor.intervals) + 1, args.interval, monitor.close_interval())
            boundary += args.interval
        drained = not producing and monitor.evaluated == monitor.ingested
        if drained or time.perf_counter() > began + args.seconds + DRAIN_SECONDS:
            break
    if producing:
        wait_status(producer)
    spent = monitor.cpu_spent()
    worker.send_signal(signal.SIGINT)
    try:
        output, errors = worker.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()
        output, errors = worker.communicate()
    if worker.returncode not in (0, -signal.SIGINT, 130):
        print(errors.decode(errors="replace"), file=sys.stderr)
    # With ``--timings`` the worker's totals end with each step's and job's count, total
    # and longest run: the event path's steps and ``pass`` (its longest pause), the jobs.
    for line in output.decode(errors="replace").splitlines():
        print(f"  worker: {line}")
    counts = exactly_one_run_each(engine, brand_id)
    floor = floor_cpu(engine, brand_id, min(FLOOR_EVENTS, monitor.ingested), args.batch)
    engine.dispose()
    # Intervals wholly inside the offered period: the drain after it offers nothing.
    full = monitor.intervals[: int(args.seconds // args.interval)]
    throughput_ok = bool(full) and all(r.evaluated / args.interval >= target for r in full)
    backlogs = [r.backlog for r in full]
    bounded = all(b <= BACKLOG_SECONDS * rate for b in backlogs) and all(
        later <= earlier + rate for earlier, later in pairwise(backlogs)
    )
    # The warm-up's event is one more, with its run.
    exact = len(set(counts.values())) == 1 and counts["events"] == monitor.ingested + 1
    lags = [lag for r in monitor.intervals for lag in r.lags]
    print(
        f"  whole run: {monitor.ingested:,} events ingested"
        f" ({monitor.ingested / args.seconds:,.0f}/s of {rate:,.0f}/s offered),"
        f" {monitor.evaluated:,} evaluated;"
        f" lag p50 {_quantile(lags, 0.5):.2f} s p95 {_quantile(lags, 0.95):.2f} s"
        f" max {max(lags, default=float('nan')):.2f} s; plain SQL: {counts}"
    )
    print(
        f"  project: {spent / max(monitor.evaluated, 1) * 1e3:.2f} ms CPU per event"
        " (producer, worker and server); floor, bare SQL writing the same rows (event, run,"
        f" first timer) in batches of {args.batch}, one process: {floor['per_second']:,.0f}"
        f" events/s, {floor['client_ms'] + floor['server_ms']:.2f} ms CPU per event"
        f" ({floor['client_ms']:.2f} client, {floor['server_ms']:.2f} server)"
    )
    print(
        f"  verdict: evaluated >= {target:,}/s in every interval: {_yes(throughput_ok)};"
        f" backlog at every interval's end <= {BACKLOG_SECONDS} s of offered events and"
        f" never 1 s more than the interval before: {_yes(bounded)};"
        f" every event started exactly one run: {_yes(exact)}"
        f" -> {'met' if throughput_ok and bounded and exact else 'NOT met'}",
        flush=True,
    )
    return throughput_ok and bounded and exact


def _yes(ok: bool) -> str:
    return "yes" if ok else "NO"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=600)
    parser.add_argument("--interval", type=int, default=60, help="seconds per printed row")
    parser.add_argument("--rate", type=float, default=0, help="offered events/s")
    parser.add_argument("--batch", type=int, default=100, help="events per ingest call")
    parser.add_argument("--postgres", default="", help="admin URL: also run on PostgreSQL")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument(
        "--worker-src", default="", help="run the worker of this src folder (a base checkout)"
    )
    args = parser.parse_args()
    print(f"load average before: {load_average()}")
    met = []
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        if not args.skip_sqlite:
            met.append(run_backend("SQLite", f"sqlite:///{home / 'bench.db'}", args, home))
        if args.postgres:
            with postgres_database(args.postgres) as url:
                met.append(run_backend("PostgreSQL", url, args, home))
    print(f"load average after: {load_average()}")
    sys.exit(0 if all(met) else 1)


if __name__ == "__main__":
    main()
