"""Benchmark: the worker's measurement refresh (``measurement.reports.refresh_reports``) at
a sustained run's size, with nothing changed and after one change.

Seeds a brand with ``--runs`` journey runs (a journey with a 10% holdout, one order
and one outbox row per run, the arm of the stable hash) and ``--events`` custom events
(the kind the sustained events run ingests), in bulk (``_automation_seed.py``), then
measures, in child processes that alternate the code under test with ``--base`` (a
``src`` folder: ``PYTHONPATH`` of the child), A B A B:

* **first check after a write**: a refresh when every stored report is current, the
  first after the previous refresh stored them (a write: on PostgreSQL the data
  version is computed in full, its aggregates over every table the reports read);
* **check, 0 changes**: the next refresh, nothing written since (what every worker pass
  and every page pays while the data stands still);
* **recompute, 1 change**: a refresh after one order's total changed (the reports are
  computed again).

Each figure is this process's CPU (``time.process_time``) and the PostgreSQL server's
(``/proc``: its processes and the children it reaped, parallel query workers among
them; 0 on SQLite), medians over the rounds; the server must be used by no one else
during the run (the helper's own test server).
Usage: ``python benchmarks/bench_measurement_refresh.py [--runs 113000] [--events
700000] [--rounds 3] [--base /tmp/base/src] [--postgres postgresql+psycopg://...]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from _automation_seed import NOW, _series_insert, seed_timers
from _cpu import postmaster_pid, server_cpu_seconds
from _worker_harness import load_average, postgres_database
from sqlalchemy import Engine, func, select, text

from recompra.db import make_engine, unit_of_work
from recompra.migrate import upgrade
from recompra.models import Order
from recompra.models.automation import Journey

HOLDOUT = {"type": "holdout", "percent": 10, "next": "done"}


def seed(engine: Engine, runs: int, events: int) -> None:
    """``runs`` runs with their orders and outbox rows, and ``events`` custom events."""
    brand_id = seed_timers(engine, runs, HOLDOUT)
    with unit_of_work(engine) as session:
        journey_id = session.scalar(select(Journey.id).where(Journey.brand_id == brand_id))
        low, high = session.execute(
            text("SELECT min(id), max(id) FROM journey_runs WHERE journey_id = :j"),
            {"j": journey_id},
        ).one()
        values = {"brand": brand_id, "now": NOW, "low": low, "high": high, "j": journey_id}
        session.execute(
            _series_insert(
                session,
                "automation_outbox",
                "brand_id, run_id, customer_id, execution_key, channel, purpose, payload, "
                "state, attempts, decided_at, next_attempt_at, sent_at",
                ":brand, x, (SELECT customer_id FROM journey_runs WHERE id = x), "
                "CAST(:j AS VARCHAR) || ':1:order:' || CAST(x AS VARCHAR) || ':first:x', "
                "'email', 'marketing', '{}', 'sent', 1, :now, :now, :now",
            ),
            values,
        )
        if events:
            session.execute(
                _series_insert(
                    session,
                    "events",
                    "brand_id, customer_id, type, occurred_at, source, payload, created_at",
                    ":brand, NULL, 'e' || CAST(x % 20 AS VARCHAR), :now, 'bench', '{}', :now",
                ),
                {"brand": brand_id, "now": NOW, "low": 1, "high": events},
            )
    with engine.connect() as connection:
        connection.execute(text("ANALYZE"))
        connection.commit()


def measure(url: str, rounds: int) -> dict[str, list[float]]:
    """In this process (the code on ``PYTHONPATH``): the refresh's CPU, nothing changed
    and after one order."""
    from recompra.measurement.reports import page_specs, refresh_reports

    engine = make_engine(url)
    postmaster = postmaster_pid(engine)
    specs = page_specs(point_value_minor_per_1000=10)
    now = NOW + timedelta(days=40)
    refresh_reports(engine, specs=specs, now=now)  # the other code's reports: not timed
    figures: dict[str, list[float]] = {}

    def timed(name: str) -> int:
        cpu, server = time.process_time(), server_cpu_seconds(postmaster)
        computed = refresh_reports(engine, specs=specs, now=now)
        figures.setdefault(f"{name} client", []).append(time.process_time() - cpu)
        figures.setdefault(f"{name} server", []).append(server_cpu_seconds(postmaster) - server)
        return computed

    for _ in range(rounds):
        for name in ("first check after a write", "check, 0 changes"):
            if timed(name) != 0:
                raise RuntimeError("a current report was computed again")
        with unit_of_work(engine) as session:
            order = session.scalars(select(Order).order_by(Order.id.desc()).limit(1)).one()
            order.total_minor += 1
        if timed("recompute, 1 change") == 0:
            raise RuntimeError("a change left the reports current")
    engine.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=113_000)
    parser.add_argument("--events", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=3, help="A B alternations")
    parser.add_argument("--base", help="the base's src folder, measured in alternation")
    parser.add_argument("--postgres", help="admin URL of a PostgreSQL server")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # a child's database URL
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.rounds)))
        return
    with tempfile.TemporaryDirectory() as folder:
        if args.postgres:
            with postgres_database(args.postgres) as url:
                run(url, args)
        else:
            run(f"sqlite:///{Path(folder) / 'bench.db'}", args)


def run(url: str, args: argparse.Namespace) -> None:
    engine = make_engine(url)
    upgrade(engine)
    began = time.perf_counter()
    seed(engine, args.runs, args.events)
    with unit_of_work(engine, write=False) as session:
        runs = session.scalar(text("SELECT count(*) FROM journey_runs"))
        orders = session.scalar(select(func.count(Order.id)))
    engine.dispose()
    print(
        f"seeded {runs} runs, {orders} orders, {args.events} events in "
        f"{time.perf_counter() - began:.0f} s ({url.split(':')[0]})"
    )
    here = str(Path(__file__).parent)
    sources = {"change": os.environ.get("PYTHONPATH", "").split(os.pathsep)[0]}
    if args.base:
        sources = {"base": args.base, **sources}
    figures: dict[str, dict[str, list[float]]] = {label: {} for label in sources}
    for _ in range(args.pairs):
        for label, src in sources.items():
            env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, here])}
            out = subprocess.run(
                [sys.executable, __file__, "--measure", url, "--rounds", str(args.rounds)],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            for name, values in json.loads(out.splitlines()[-1]).items():
                figures[label].setdefault(name, []).extend(values)
    print(f"load average after: {load_average()}")
    print("| refresh | " + " | ".join(f"{label} CPU s (median)" for label in sources) + " |")
    print("|---" * (len(sources) + 1) + "|")
    for name in figures[next(iter(sources))]:
        cells = [f"{statistics.median(figures[label][name]):.3f}" for label in sources]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
