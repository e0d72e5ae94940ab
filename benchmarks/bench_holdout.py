"""Benchmark and simulation: holdout members receive no delivery, through the database.

Issue 16 asks for 0 deliveries to holdout members over 1M simulated entries. This enters
``--entries`` customers into a journey (holdout 10% -> thank-you e-mail -> exit) through
the product's write paths, in bulk, one transaction per chunk:

1. **entry**: ``automation.runs.start_runs`` (the batch entry every trigger uses), which
   writes the runs and their start timers;
2. **decision**: the worker's ``decide_due`` in batches of ``--batch`` (holdout members
   get a ``held_out`` "would have sent" row, the treated a pending e-mail);
3. **delivery claim**: ``automation.delivery.claim``, what the delivery worker hands to
   the mail server.

Then it counts, with its own SQL (not the product's report), the outbox rows claimed for
delivery whose customer's run is in the holdout, checks every run's arm against the
stable hash, and prints the arm sizes and the sample-ratio-mismatch p-value (Pearson
chi-square against the planned 90/10 split, ``scipy.stats.chisquare``).

Beside the entry figure, the **floor**: the same run and timer rows written with two
bare ``INSERT`` statements (no re-entry rule, no conflict handling). CPU time
(``time.process_time``: this process, not the database server) is printed beside wall
time: the machine is shared.

It runs in rounds of ``--round`` entries (entry, decision, claim, check), printing what
is proven so far after each. Usage: ``python benchmarks/bench_holdout.py [--entries
1000000] [--round 100000] [--chunk 10000] [--batch 5000] [--postgres
postgresql+psycopg://...]``.
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scipy import stats
from sqlalchemy import Engine, insert, select, text
from sqlalchemy.engine import make_url

from recompra.automation.definition import parse_journey
from recompra.automation.delivery import claim
from recompra.automation.runs import Entrant, active_journeys, start_runs
from recompra.automation.schedule import ContactPolicy, in_holdout
from recompra.automation.service import apply_journey
from recompra.automation.steps import DecisionContext
from recompra.automation.worker import decide_due
from recompra.db import make_engine, unit_of_work
from recompra.migrate import upgrade
from recompra.models import Brand, BrandCustomer, Customer
from recompra.models.automation import RUNS, TIMERS

#: A Wednesday at 15:00 in São Paulo: inside business hours, outside quiet hours.
NOW = datetime(2026, 6, 17, 18, 0, tzinfo=UTC)
KEY = "holdout_bench"
PERCENT = 10
JOURNEY: dict[str, Any] = {
    "key": KEY,
    "name": {"pt-BR": "Holdout", "en": "Holdout"},
    "trigger": {"type": "order_placed"},
    "entry": {"key": "order", "reentry": "once_per_key"},
    "start": "hold",
    "nodes": {
        "hold": {"type": "holdout", "percent": PERCENT, "next": "send"},
        "send": {
            "type": "send",
            "channel": "email",
            "template": "post_purchase_thanks",
            "next": "done",
        },
        "done": {"type": "exit"},
    },
}
#: Holdout members whose message was handed over for delivery, counted from the tables.
HELD_DELIVERIES = """
SELECT count(*) FROM automation_outbox o JOIN journey_runs r ON r.id = o.run_id
WHERE r.holdout AND o.state IN ('sending', 'sent')
"""
ARMS = "SELECT holdout, count(*) FROM journey_runs GROUP BY holdout"


@contextmanager
def measured(figures: dict[str, list[float]], name: str) -> Iterator[None]:
    """Add the wall and CPU seconds of the block to ``figures[name]``."""
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    total = figures.setdefault(name, [0.0, 0.0])
    total[0] += time.perf_counter() - wall
    total[1] += time.process_time() - cpu


def customers(engine: Engine, n: int) -> tuple[int, list[int]]:
    """A brand with the journey applied and ``n`` customers (bare inserts: setup)."""
    with unit_of_work(engine) as session:
        brand = Brand(slug=f"b{uuid.uuid4().hex[:6]}", name="Loja Holdout")
        session.add(brand)
        session.flush()
        apply_journey(session, brand_id=brand.id, definition=parse_journey(JOURNEY))
        first = (session.scalar(select(text("max(id)")).select_from(Customer)) or 0) + 1
        ids = list(range(first, first + n))
        for start in range(0, n, 50_000):
            chunk = ids[start : start + 50_000]
            session.execute(
                insert(Customer),
                [{"id": c, "name": f"Cliente {c}", "email": f"c{c}@example.com"} for c in chunk],
            )
            session.execute(
                insert(BrandCustomer), [{"brand_id": brand.id, "customer_id": c} for c in chunk]
            )
        return brand.id, ids


def enter(engine: Engine, ids: list[int], chunk: int) -> int:
    """Start every customer's run through the batch entry, ``chunk`` per transaction."""
    started = 0
    for start in range(0, len(ids), chunk):
        with unit_of_work(engine) as session:
            (journey,) = [j for j in active_journeys(session) if j.key == KEY]
            entrants = [Entrant(c, "sim", NOW) for c in ids[start : start + chunk]]
            started += sum(r is not None for r in start_runs(session, journey, entrants))
    return started


def decide(engine: Engine, batch: int) -> int:
    """The worker's decisions until no timer is due."""
    ctx = DecisionContext(policy=ContactPolicy(quiet_from=None, quiet_to=None))
    decided = 0
    while done := decide_due(engine, ctx, now=NOW, batch=batch):
        decided += done
    return decided


def claim_all(engine: Engine, chunk: int) -> int:
    """What the delivery worker hands over, ``chunk`` rows per claim."""
    claimed = 0
    while rows := claim(engine, now=NOW, limit=chunk):
        claimed += len(rows)
    return claimed


def floor(engine: Engine, customer_ids: list[int]) -> None:
    """The same runs and timers (another entry key) as two bare INSERTs."""
    with unit_of_work(engine) as session:
        journey_id = session.scalar(select(RUNS.c.journey_id).limit(1))
        first = session.scalar(select(text("max(id)")).select_from(RUNS)) + 1
        ids = dict(zip(range(first, first + len(customer_ids)), customer_ids, strict=True))
        session.execute(
            insert(RUNS),
            [
                {
                    "id": r,
                    "journey_id": journey_id,
                    "version": 1,
                    "customer_id": ids[r],
                    "entry_key": "floor",
                    "node": "hold",
                    "state": "active",
                    "holdout": False,
                    "started_at": NOW,
                }
                for r in ids
            ],
        )
        session.execute(
            insert(TIMERS),
            [
                {
                    "run_id": r,
                    "node": "hold",
                    "execution_key": f"floor:{r}",
                    "due_at": NOW,
                    "state": "done",
                    "created_at": NOW,
                }
                for r in ids
            ],
        )


def check(engine: Engine, ids: list[int]) -> dict[str, Any]:
    """Deliveries to holdout members, arm sizes, SRM p-value, arms against the hash."""
    with engine.connect() as conn:
        held_deliveries = conn.execute(text(HELD_DELIVERIES)).scalar_one()
        arms = {bool(h): int(n) for h, n in conn.execute(text(ARMS))}
        held = set(
            conn.execute(text("SELECT customer_id FROM journey_runs WHERE holdout")).scalars()
        )
    wrong = sum((c in held) != in_holdout(KEY, c, PERCENT) for c in ids)
    total = arms.get(True, 0) + arms.get(False, 0)
    expected = [total * (100 - PERCENT) / 100, total * PERCENT / 100]
    srm = stats.chisquare([arms.get(False, 0), arms.get(True, 0)], expected).pvalue
    return {
        "held_deliveries": held_deliveries,
        "treated": arms.get(False, 0),
        "holdout": arms.get(True, 0),
        "srm_p": float(srm),
        "arm_not_hash": wrong,
    }


def run(engine: Engine, label: str, args: argparse.Namespace) -> None:
    """Rounds of ``--round`` entries (entry, decision, claim, check), so that a long run
    reports what it has proven so far; then the floor."""
    figures: dict[str, list[float]] = {}
    counts: dict[str, int] = {}
    _, ids = customers(engine, args.entries)
    for first in range(0, len(ids), args.round):
        entering = ids[first : first + args.round]
        steps: list[tuple[str, Callable[[], int]]] = [
            ("entry (start_runs)", functools.partial(enter, engine, entering, args.chunk)),
            ("decision (decide_due)", lambda: decide(engine, args.batch)),
            ("delivery claim", lambda: claim_all(engine, args.chunk)),
        ]
        for name, step in steps:
            with measured(figures, name):
                counts[name] = counts.get(name, 0) + step()
        entered = first + len(entering)
        result = check(engine, ids[:entered])
        print(
            f"[{label}] {entered:,} entries: treated {result['treated']:,}, holdout "
            f"{result['holdout']:,} ({100 * result['holdout'] / entered:.2f}%), SRM p "
            f"{result['srm_p']:.3f}; runs whose arm is not the hash's: "
            f"{result['arm_not_hash']}; deliveries claimed for holdout members: "
            f"{result['held_deliveries']}; claimed {counts['delivery claim']:,}",
            flush=True,
        )
        assert result["held_deliveries"] == 0, result
        assert result["arm_not_hash"] == 0, result
        assert counts["delivery claim"] == result["treated"], (counts, result)
        for name, (wall, cpu) in figures.items():
            print(
                f"[{label}]   {name}: wall {wall:.1f} s, CPU {cpu:.1f} s, "
                f"{1000 * cpu / entered:.3f} ms CPU per entry",
                flush=True,
            )
    floor_n = min(args.entries, 100_000)
    with measured(figures, "floor"):
        floor(engine, ids[:floor_n])
    wall, cpu = figures["floor"]
    entry_cpu = figures["entry (start_runs)"][1] / args.entries
    print(
        f"[{label}] floor (bare INSERT of runs and timers, {floor_n:,}): wall {wall:.1f} s, "
        f"CPU {cpu:.1f} s, {1000 * cpu / floor_n:.3f} ms CPU per entry; "
        f"entry / floor = {entry_cpu / (cpu / floor_n):.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--round", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--postgres", help="also run on this PostgreSQL server (admin URL)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'holdout.db'}")
        upgrade(engine)
        run(engine, "sqlite", args)
        engine.dispose()
    if args.postgres:
        name = f"recompra_bench_{uuid.uuid4().hex[:8]}"
        admin = make_engine(args.postgres, pool_size=1)
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(args.postgres).set(database=name).render_as_string(hide_password=False)
        engine = make_engine(url)
        try:
            upgrade(engine)
            run(engine, "postgresql", args)
        finally:
            engine.dispose()
            with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
