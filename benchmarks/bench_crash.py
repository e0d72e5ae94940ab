"""Benchmark: kill -9 of a worker at random points, in 1,000 randomized trials per backend.

Each trial, seeded from ``--seed`` and its number:

1. a fresh database: SQLite copies a prepared file (migrated, one brand, three journeys,
   customers with e-mails); PostgreSQL empties the run, timer, outbox and contact tables
   of a prepared database;
2. 4 to 24 runs, each of a random journey with its first timer due: ``now`` (a
   transactional e-mail at once), ``later`` (wait a day, then a marketing e-mail) and
   ``branch`` (a random split; each branch sends a transactional e-mail, waits, and sends
   a marketing one);
3. a worker process forked from this warm process runs the worker's loop (``decide_due``
   then ``deliver_due`` to the project's SMTP sink, a separate aiosmtpd process), with a
   clock that moves one day per pass so that waits come due, and is killed with SIGKILL
   at a random moment: after a random delay, or at a random injection point (the n-th
   send decision of a batch, before its commit; the n-th message before it is handed to
   SMTP; the n-th message after the sink accepted it and before it is marked sent);
4. a fresh worker process finishes everything, once the dead one's lease has passed
   (its claims are moved back by :data:`LEASE`; the worker's ``recover_stale`` takes them);
5. checks with its own SQL and the sink's files: every run completed along exactly one
   path of its journey (a run with more outbox rows than its path has sends is a
   duplicate decision, fewer is a lost one), no timer left pending, every outbox row
   ``sent`` (marketing rows may be ``unknown``: not resent after a crash, by design),
   every ``sent`` row received at least once, and duplicates received per crash.

Usage: ``python benchmarks/bench_crash.py [--trials 1000] [--seed 15]
[--postgres postgresql+psycopg://...] [--unsubscribe-customers 5000]``. The
unsubscribe-in-flight measure (``--unsubscribe-customers``, 0 to skip) is in
:mod:`bench_unsubscribe`.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import signal
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from _worker_harness import (
    drop_postgres,
    fork_worker,
    load_average,
    print_table,
    received_message_ids,
    scratch_postgres,
    wait_status,
)
from sqlalchemy import Engine, insert, select, text, update

from recompra.automation import steps
from recompra.automation.definition import parse_journey
from recompra.automation.delivery import LEASE
from recompra.automation.email import SmtpSender, message_id, smtp_settings
from recompra.automation.schedule import ContactPolicy
from recompra.automation.service import apply_journey
from recompra.automation.sink import running_sink
from recompra.automation.steps import DecisionContext
from recompra.automation.worker import decide_due, deliver_due
from recompra.db import make_engine, unit_of_work
from recompra.db.checkpoint import checkpoints_paused
from recompra.migrate import upgrade
from recompra.models import Brand, BrandCustomer, Customer
from recompra.models.automation import Journey, JourneyRun, JourneyTimer, OutboxMessage
from recompra.models.base import utcnow

CUSTOMERS = 60
#: The seeded timers are due at START; each worker pass moves the clock a day.
START = utcnow().replace(microsecond=0) - timedelta(days=60)
CONTEXT = DecisionContext(policy=ContactPolicy(quiet_from=None, quiet_to=None))
MAIL = {"type": "send", "channel": "email", "template": "post_purchase_thanks"}
#: Each journey: its definition's nodes and the sets of send nodes its paths decide.
JOURNEYS: dict[str, tuple[dict[str, Any], list[set[str]]]] = {
    "now": (
        {
            "first": {**MAIL, "purpose": "transactional", "next": "done"},
            "done": {"type": "exit"},
        },
        [{"first"}],
    ),
    "later": (
        {
            "first": {"type": "wait", "duration": "1d", "next": "mail"},
            "mail": {**MAIL, "purpose": "marketing", "next": "done"},
            "done": {"type": "exit"},
        },
        [{"mail"}],
    ),
    "branch": (
        {
            "first": {
                "type": "split",
                "branches": [{"weight": 1, "next": "a_mail"}, {"weight": 1, "next": "b_wait"}],
            },
            "a_mail": {**MAIL, "purpose": "transactional", "next": "a_wait"},
            "a_wait": {"type": "wait", "duration": "2d", "next": "a_offer"},
            "a_offer": {**MAIL, "purpose": "marketing", "next": "done"},
            "b_wait": {"type": "wait", "duration": "1h", "next": "b_mail"},
            "b_mail": {**MAIL, "purpose": "transactional", "next": "b_wait2"},
            "b_wait2": {"type": "wait", "duration": "1d", "next": "b_offer"},
            "b_offer": {**MAIL, "purpose": "marketing", "next": "done"},
            "done": {"type": "exit"},
        },
        [{"a_mail", "a_offer"}, {"b_mail", "b_offer"}],
    ),
}
KILL_PLANS = ("delay", "deciding", "before_smtp", "after_smtp")


@dataclass
class Backend:
    """Where trials run: an engine whose compiled-statement cache the forked workers
    inherit warm (its pool is emptied before each fork), a way to reset its data, the
    journeys' ids and the customers."""

    label: str
    engine: Engine
    reset: Callable[[], None]
    journey_ids: dict[str, int] = field(default_factory=dict)
    customers: list[int] = field(default_factory=list)


@dataclass
class Totals:
    """What the trials of one backend found."""

    trials: int = 0
    crashes: int = 0
    kills: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KILL_PLANS, 0))
    decisions: int = 0
    duplicate_decisions: int = 0
    lost_decisions: int = 0
    lost_timers: int = 0
    stuck_rows: int = 0
    delivered: int = 0
    lost_sends: int = 0
    duplicate_sends: int = 0
    max_duplicates_in_a_trial: int = 0
    unknown: int = 0
    unknown_never_sent: int = 0
    failures: list[str] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)


def _prepare(engine: Engine) -> tuple[dict[str, int], list[int]]:
    """Migrate, then one brand, the three journeys and :data:`CUSTOMERS` customers."""
    upgrade(engine)
    with unit_of_work(engine) as session:
        brand = Brand(slug="crash", name="Loja Crash")
        session.add(brand)
        session.flush()
        for key, (nodes, _) in JOURNEYS.items():
            document = {
                "key": key,
                "name": {"pt-BR": key, "en": key},
                "trigger": {"type": "order_placed"},
                "entry": {"key": "customer", "reentry": "once_per_key"},
                "start": "first",
                "nodes": nodes,
            }
            apply_journey(session, brand_id=brand.id, definition=parse_journey(document))
        ids = {
            key: id_
            for key, id_ in session.execute(
                select(Journey.key, Journey.id).where(Journey.brand_id == brand.id)
            ).all()
        }
        customers = [
            Customer(name=f"Cliente {i}", email=f"c{i}@example.com") for i in range(CUSTOMERS)
        ]
        session.add_all(customers)
        session.flush()
        session.execute(
            insert(BrandCustomer), [{"brand_id": brand.id, "customer_id": c.id} for c in customers]
        )
        return ids, [c.id for c in customers]


def sqlite_backend(folder: Path) -> Backend:
    """Trials on copies of one prepared SQLite file."""
    template = folder / "template.db"
    engine = make_engine(f"sqlite:///{template}")
    ids, customers = _prepare(engine)
    engine.dispose()  # the last connection's close checkpoints the WAL into the file
    path = folder / "trial.db"
    engine = make_engine(f"sqlite:///{path}", pool_size=1)

    def reset() -> None:
        with checkpoints_paused():  # this process's checkpointer must not see a half copy
            engine.dispose()
            for old in folder.glob("trial.db*"):  # a killed worker may leave -wal and -shm
                old.unlink()
            shutil.copyfile(template, path)

    return Backend("SQLite", engine, reset, ids, customers)


def postgres_backend(url: str) -> Backend:
    """Trials on one prepared PostgreSQL database, emptied of runs between trials."""
    engine = make_engine(url, pool_size=1)
    ids, customers = _prepare(engine)

    def reset() -> None:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "TRUNCATE journey_timers, automation_outbox, "
                    "journey_runs RESTART IDENTITY CASCADE"
                )
            )

    return Backend("PostgreSQL", engine, reset, ids, customers)


def _seed_runs(backend: Backend, rng: random.Random, trial: int) -> dict[int, str]:
    """Random runs with their first timer due; the journey key of each run id."""
    runs = {r: rng.choice(list(JOURNEYS)) for r in range(1, rng.randint(4, 24) + 1)}
    owners = {r: rng.choice(backend.customers) for r in runs}
    with unit_of_work(backend.engine) as session:
        session.execute(
            insert(JourneyRun),
            [
                {
                    "id": r,
                    "journey_id": backend.journey_ids[key],
                    "version": 1,
                    "customer_id": owners[r],
                    "entry_key": f"t{trial}:{r}",
                    "node": "first",
                    "started_at": START,
                }
                for r, key in runs.items()
            ],
        )
        session.execute(
            insert(JourneyTimer),
            [
                {
                    "run_id": r,
                    "node": "first",
                    "execution_key": f"{backend.journey_ids[key]}:1:t{trial}:{r}:first:{owners[r]}",
                    "due_at": START - timedelta(minutes=rng.randint(0, 600)),
                }
                for r, key in runs.items()
            ],
        )
    return runs


def _worker_loop(engine: Engine, port: int, sender: str, batch: int, *, finishing: bool) -> None:
    """The worker's passes (decide, then deliver) until nothing is left to do; the clock
    moves a day per pass. A finishing worker starts after the dead one's lease passed."""
    smtp = SmtpSender(smtp_settings(f"smtp://127.0.0.1:{port}", sender))
    if finishing:
        _lease_passed(engine)
    now = START + timedelta(days=10 if finishing else 0)
    for _ in range(12):
        decided = decide_due(engine, CONTEXT, now=now, batch=batch)
        while True:
            delivered = deliver_due(engine, smtp=smtp, sender=sender)
            if not (delivered.sent or delivered.failed or delivered.suppressed):
                break
        if not decided and finishing:
            with engine.connect() as conn:
                if not conn.scalar(
                    text("SELECT count(*) FROM journey_timers WHERE state = 'pending'")
                ):
                    break
        now += timedelta(days=1)
    smtp.close()


def _lease_passed(engine: Engine) -> None:
    """Move the claims a dead worker left back by :data:`LEASE`: as if the lease had
    passed, so the worker's own recovery (``recover_stale`` in ``deliver_due``) takes
    them, without waiting ten minutes."""
    with unit_of_work(engine) as session:
        claims = session.execute(
            select(OutboxMessage.id, OutboxMessage.next_attempt_at).where(
                OutboxMessage.state == "sending"
            )
        ).all()
        for claim_id, claimed_at in claims:
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == claim_id)
                .values(next_attempt_at=claimed_at - LEASE - timedelta(seconds=1))
            )


def _die_at(target: Any, name: str, nth: int, when: Callable[..., bool]) -> None:
    """Replace ``target.name`` by a wrapper that SIGKILLs this process at its ``nth`` call
    for which ``when(*args, **kwargs)`` holds, before calling the original."""
    original = getattr(target, name)
    seen = [0]

    def dying(*args: Any, **kwargs: Any) -> Any:
        if when(*args, **kwargs):
            seen[0] += 1
            if seen[0] == nth:
                os.kill(os.getpid(), signal.SIGKILL)
        return original(*args, **kwargs)

    setattr(target, name, dying)


def _die_after(target: Any, name: str, nth: int) -> None:
    """Replace ``target.name`` by a wrapper that SIGKILLs this process once its ``nth``
    call has returned."""
    original = getattr(target, name)
    seen = [0]

    def dying(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        seen[0] += 1
        if seen[0] == nth:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(target, name, dying)


def _arm(plan: str, nth: int) -> None:
    """Install the injection point of ``plan`` in this (child) process."""
    if plan == "deciding":
        _die_at(steps, "_send", nth, lambda *a, **k: True)
    elif plan == "before_smtp":
        _die_at(SmtpSender, "send", nth, lambda *a, **k: True)
    elif plan == "after_smtp":
        # Once the sink said 250 for the n-th message, before its outcome is recorded
        # (with the next hand-over batch, or after the last one).
        _die_after(SmtpSender, "send", nth)


def run_trial(
    backend: Backend, port: int, folder: Path, seed: int, trial: int, totals: Totals, typical: float
) -> None:
    """One trial (see the module's docstring); adds what it found to ``totals``."""
    rng = random.Random(seed * 1_000_003 + trial)
    backend.reset()
    runs = _seed_runs(backend, rng, trial)
    engine = backend.engine
    sender = f"Loja <loja@t{trial}.crash.test>"
    batch = rng.choice((1, 3, 10, 50))
    plan = rng.choice(KILL_PLANS)
    nth = rng.randint(1, max(1, len(runs)))
    began = time.perf_counter()

    def doomed() -> None:
        _arm(plan, nth)
        _worker_loop(engine, port, sender, batch, finishing=False)

    engine.dispose()
    pid = fork_worker(doomed)
    if plan == "delay":
        time.sleep(rng.uniform(0.0, typical))
        os.kill(pid, signal.SIGKILL)
    status = wait_status(pid)
    crashed = status == -signal.SIGKILL
    totals.crashes += crashed
    totals.kills[plan] += crashed
    finished = wait_status(
        fork_worker(lambda: _worker_loop(engine, port, sender, 500, finishing=True))
    )
    totals.seconds.append(time.perf_counter() - began)
    totals.trials += 1
    problems = _check(engine, runs, received_message_ids(folder), sender, totals)
    if status not in (0, -signal.SIGKILL) or finished != 0:
        problems.append(f"worker exit codes {status}, {finished}")
    if problems:
        totals.failures.append(
            f"seed {seed} trial {trial} ({plan} #{nth}, batch {batch}): {'; '.join(problems)}"
        )


def _check(
    engine: Engine, runs: dict[int, str], received: Any, sender: str, totals: Totals
) -> list[str]:
    """Compare the database and the sink with what the trial's runs must have done."""
    with engine.connect() as conn:
        states = {r.id: r.state for r in conn.execute(text("SELECT id, state FROM journey_runs"))}
        pending = conn.scalar(text("SELECT count(*) FROM journey_timers WHERE state = 'pending'"))
        outbox = conn.execute(
            text("SELECT run_id, execution_key, purpose, state FROM automation_outbox")
        ).all()
    problems: list[str] = []
    by_run: dict[int, list[Any]] = {}
    for row in outbox:
        by_run.setdefault(row.run_id, []).append(row)
    trial_duplicates = 0
    for run_id, key in runs.items():
        rows = by_run.get(run_id, [])
        nodes = [r.execution_key.split(":")[4] for r in rows]
        paths = JOURNEYS[key][1]
        expected = len(paths[0])
        totals.decisions += len(rows)
        if len(rows) > expected or len(set(nodes)) < len(nodes):
            totals.duplicate_decisions += len(rows) - len(set(nodes)) or len(rows) - expected
            problems.append(f"run {run_id}: {nodes} decided more than once")
        if set(nodes) not in paths:
            totals.lost_decisions += max(0, expected - len(set(nodes)))
            problems.append(f"run {run_id} ({key}): sends {sorted(nodes)} are not a path")
        if states.get(run_id) != "completed":
            problems.append(f"run {run_id} is {states.get(run_id)}")
        for row in rows:
            count = received.get(message_id(row.execution_key, sender), 0)
            totals.delivered += count
            trial_duplicates += max(0, count - 1)
            if row.state == "unknown" and row.purpose == "marketing":
                totals.unknown += 1
                totals.unknown_never_sent += count == 0
            elif row.state != "sent":
                totals.stuck_rows += 1
                problems.append(f"outbox {row.execution_key} is {row.state}")
            elif count == 0:
                totals.lost_sends += 1
                problems.append(f"outbox {row.execution_key} sent but never received")
    totals.lost_timers += pending or 0
    if pending:
        problems.append(f"{pending} timers left pending")
    totals.duplicate_sends += trial_duplicates
    totals.max_duplicates_in_a_trial = max(totals.max_duplicates_in_a_trial, trial_duplicates)
    if trial_duplicates > 1:
        problems.append(f"{trial_duplicates} duplicate sends after one crash")
    return problems


def run_backend(backend: Backend, trials: int, seed: int, folder: Path) -> Totals:
    """All trials of one backend against one sink process."""
    totals = Totals()
    mail = folder / f"mail-{backend.label}"
    with running_sink(mail) as port:
        # A first worker left alone measures how long a whole trial's work takes: the
        # random delays of the "delay" plan fall within it.
        # It runs in this process: the statements it compiles stay in the engine's cache,
        # which every forked worker inherits.
        backend.reset()
        _seed_runs(backend, random.Random(seed), -1)
        began = time.perf_counter()
        _worker_loop(backend.engine, port, "x <x@warm.test>", 10, finishing=True)
        typical = time.perf_counter() - began
        received_message_ids(mail)
        for trial in range(trials):
            run_trial(backend, port, mail, seed, trial, totals, typical)
            if (trial + 1) % 50 == 0:  # a long run can be followed (and cut short)
                print(
                    f"  {backend.label}: {trial + 1} trials, {totals.crashes} kills, "
                    f"{len(totals.failures)} failed, {totals.duplicate_sends} duplicate sends "
                    f"(max {totals.max_duplicates_in_a_trial} per crash), "
                    f"{totals.unknown_never_sent} marketing rows given up unsent",
                    flush=True,
                )
    return totals


def report(label: str, totals: Totals, cpu: float) -> list[tuple[str, str, str, str]]:
    """Print one backend's totals; its row of the issue's table."""
    median = statistics.median(totals.seconds)
    p95 = statistics.quantiles(totals.seconds, n=20)[-1] if len(totals.seconds) > 1 else median
    print(f"\n{label}: {totals.trials} trials, {totals.crashes} workers killed {totals.kills}")
    print(
        f"  decisions {totals.decisions}: {totals.duplicate_decisions} duplicate, "
        f"{totals.lost_decisions} lost; timers left pending {totals.lost_timers}; "
        f"outbox rows stuck {totals.stuck_rows}"
    )
    print(
        f"  deliveries {totals.delivered}: {totals.duplicate_sends} duplicates "
        f"(at most {totals.max_duplicates_in_a_trial} in one trial, i.e. per crash); "
        f"{totals.lost_sends} sent rows never received"
    )
    print(
        f"  marketing rows given up as 'unknown' after a crash: {totals.unknown} "
        f"({totals.unknown_never_sent} of them had not reached the sink)"
    )
    print(
        f"  per trial: median {median * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms wall; "
        f"CPU (this process and the workers) {cpu / max(1, totals.trials) * 1000:.0f} ms"
    )
    for failure in totals.failures[:20]:
        print(f"  FAILED {failure}")
    ok = not totals.failures and totals.max_duplicates_in_a_trial <= 1
    return [
        (
            f"{label}: kill -9 of a worker at random points, {totals.trials:,} trials "
            f"({totals.crashes:,} kills)",
            f"{totals.duplicate_decisions} duplicate decisions, {totals.lost_decisions} lost, "
            f"max {totals.max_duplicates_in_a_trial} duplicate send per crash "
            f"({totals.duplicate_sends} in all)",
            "0 duplicate decisions, 0 lost, <= 1 duplicate send per crash",
            "met" if ok else "NOT met",
        )
    ]


def _cpu() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--postgres", default=os.environ.get("RECOMPRA_TEST_POSTGRES_URL", ""))
    parser.add_argument("--sqlite", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    print(f"load average before: {load_average()}; seed {args.seed}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.sqlite:
            began, cpu = time.perf_counter(), _cpu()
            totals = run_backend(sqlite_backend(folder), args.trials, args.seed, folder)
            rows += report("SQLite", totals, _cpu() - cpu)
            print(f"  total {time.perf_counter() - began:.0f} s wall")
        if args.postgres:
            admin, url = scratch_postgres(args.postgres)
            try:
                began, cpu = time.perf_counter(), _cpu()
                totals = run_backend(postgres_backend(url), args.trials, args.seed, folder)
                rows += report("PostgreSQL", totals, _cpu() - cpu)
                print(f"  total {time.perf_counter() - began:.0f} s wall")
            finally:
                drop_postgres(admin, url)
    print_table(rows)


if __name__ == "__main__":
    main()
