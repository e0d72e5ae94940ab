"""The worker: read triggers, decide due timers in batches, deliver the outbox.

Deciding a batch is one transaction: claim due timers (PostgreSQL ``FOR UPDATE SKIP
LOCKED``, so several workers share the work; SQLite's single writer serialises them),
decide each, write the outbox and next timers, commit. A worker killed mid-batch leaves
nothing half-done: the batch rolls back and is decided again by the next worker, and
the unique execution keys make a decision exactly-once.

The jobs of the domains above automation (cases from low reviews, the lead-score refit,
the purge of idempotency records, the measurement reports) run on a thread of their own
(:class:`JobThread`) with their own connections, so the trigger pass and the timer
claims never wait for a job that takes seconds; ``until_idle`` runs them inline on each
pass, as the command that processes what is due and exits needs them once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, Protocol, TypeVar, runtime_checkable

from sqlalchemy import Engine, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from recompra.automation.batch import DecisionBatch, MergedMeanwhile
from recompra.automation.caps import lookback
from recompra.automation.claim import claim_due, write_back
from recompra.automation.delivery import DeliveryStats, claim, deliver, recover_stale
from recompra.automation.email import SmtpSender
from recompra.automation.feeds import held_back
from recompra.automation.messages import Wanted
from recompra.automation.runs import active_journeys
from recompra.automation.service import definition_at
from recompra.automation.steps import DecisionContext, Journeyed, decide
from recompra.automation.triggers import read_triggers
from recompra.db import unit_of_work
from recompra.db.dialect import is_lock_timeout
from recompra.models import Brand
from recompra.models.base import utcnow

log = logging.getLogger(__name__)
T = TypeVar("T")

#: How long the worker waits, when it stops, for the job running on the job thread; a
#: job still running after it is abandoned (every job is one transaction, or its own:
#: the process's end rolls back what it had not committed).
JOB_STOP_SECONDS = 10.0

#: The wait before another pass while a feed has rows held back (see
#: :func:`recompra.automation.feeds.held_back`).
HELD_BACK_POLL_SECONDS = 0.1


@dataclass
class StepTime:
    """How often one step of the worker ran and how long it took: wall seconds, and CPU
    seconds of its thread (the machine's load stretches the first, not the second)."""

    count: int = 0
    total: float = 0.0
    longest: float = 0.0
    cpu: float = 0.0
    longest_cpu: float = 0.0

    def add(self, seconds: float, cpu: float) -> None:
        """Count one run of ``seconds`` that took ``cpu`` seconds of CPU."""
        self.count += 1
        self.total += seconds
        self.longest = max(self.longest, seconds)
        self.cpu += cpu
        self.longest_cpu = max(self.longest_cpu, cpu)

    def merge(self, other: StepTime) -> None:
        """Add ``other``'s runs."""
        self.count += other.count
        self.total += other.total
        self.longest = max(self.longest, other.longest)
        self.cpu += other.cpu
        self.longest_cpu = max(self.longest_cpu, other.longest_cpu)


#: Step name -> its times: ``triggers``, ``decide``, ``deliver``, ``pass`` (the three
#: together: the event path's longest pause is its ``longest``) and each job by name.
StepTimes = dict[str, StepTime]


class _Clock:
    """Wall and thread CPU time since it was made."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.thread_time()

    def count(self, times: StepTimes, step: str) -> None:
        times.setdefault(step, StepTime()).add(
            time.perf_counter() - self.wall, time.thread_time() - self.cpu
        )


def timed(times: StepTimes | None, step: str, work: Callable[[], T]) -> T:
    """``work()``, its duration counted under ``step`` when ``times`` is given."""
    if times is None:
        return work()
    clock = _Clock()
    try:
        return work()
    finally:
        clock.count(times, step)


@dataclass
class WorkerStats:
    """Totals of a worker's passes."""

    triggers: int = 0
    decided: int = 0
    #: What the extra jobs did (cases opened from feedback, reports computed...).
    jobs: int = 0
    delivery: DeliveryStats = field(default_factory=DeliveryStats)
    times: StepTimes = field(default_factory=dict)

    def merge_times(self, times: StepTimes) -> None:
        """Add another thread's step times."""
        for step, spent in times.items():
            self.times.setdefault(step, StepTime()).merge(spent)


def ingest_triggers(engine: Engine, *, now: datetime | None = None, limit: int = 1000) -> int:
    """One transaction: consume each feed up to ``limit`` rows and start the runs."""
    with unit_of_work(engine) as session:
        return read_triggers(session, active_journeys(session), now=now or utcnow(), limit=limit)


#: Times a batch is claimed again when merges keep moving its runs (see
#: :class:`recompra.automation.batch.MergedMeanwhile`) before the pass gives up.
MERGE_RETRIES = 5


def decide_due(
    engine: Engine, ctx: DecisionContext, *, now: datetime | None = None, batch: int = 500
) -> int:
    """Decide up to ``batch`` due timers in one transaction; returns how many.

    A batch whose customers were merged while it waited for their rows rolls back and is
    claimed again: the claim then reads the runs where the merge moved them."""
    for _ in range(MERGE_RETRIES):
        try:
            return _decide_batch(engine, ctx, now or utcnow(), batch)
        except MergedMeanwhile:
            continue
    return 0  # merged under it every time: the next pass takes the timers again


def _decide_batch(engine: Engine, ctx: DecisionContext, now: datetime, batch: int) -> int:
    with unit_of_work(engine) as session:
        claimed = claim_due(session, now=now, limit=batch)
        if not claimed.timers:
            return 0
        # Held for the batch: the session's identity map keeps objects only while they are
        # referenced, and each decision's message context gets its brand from it.
        brands = list(
            session.scalars(
                select(Brand).where(Brand.id.in_({b for b, _ in claimed.journeys.values()}))
            )
        )
        runs = claimed.runs.values()
        definitions: dict[tuple[int, int], dict[str, Any]] = {
            version: definition_at(session, *version)
            for version in sorted({(r.journey_id, r.version) for r in runs})
        }
        wanted: dict[int, list[Wanted]] = {}
        for run in runs:
            brand_id = claimed.journeys[run.journey_id][0]
            wanted.setdefault(brand_id, []).append((run.customer_id, run.order_id))
        facts = DecisionBatch(
            session,
            runs=wanted,
            lookback=lookback(ctx.policy, list(definitions.values())),
            now=now,
            recommendations_root=ctx.recommendations_root,
            claimed={r.id: (r.customer_id, r.state) for r in runs},
        )
        for timer in claimed.timers:
            run = claimed.runs[timer.run_id]
            brand_id, key = claimed.journeys[run.journey_id]
            item = Journeyed(run, brand_id, key, definitions[(run.journey_id, run.version)])
            decide(session, timer, item, ctx, now, facts)
        facts.flush()
        write_back(session, claimed)
        session.flush()
        del brands
        return len(claimed.timers)


def deliver_due(
    engine: Engine,
    *,
    smtp: SmtpSender | None,
    sender: str,
    batch: int = 200,
    require_opt_in: bool = False,
) -> DeliveryStats:
    """Recover crashed claims, then claim and send one batch of due outbox rows."""
    now = utcnow()
    stats = DeliveryStats(recovered=recover_stale(engine, now=now))
    sent = deliver(
        engine,
        claim(engine, now=now, limit=batch),
        smtp=smtp,
        sender=sender,
        require_opt_in=require_opt_in,
    )
    stats.add(sent)
    return stats


class TransactionJob(Protocol):
    """A job of a domain above automation, run on every pass in its own transaction; it
    returns how much it did (0: idle). Passed in by the caller, so automation never
    imports the domains that build on it."""

    def __call__(self, session: Session, *, now: datetime) -> int: ...


@runtime_checkable
class EngineJob(Protocol):
    """A job that opens its own transactions: it computes for seconds, and a write
    transaction held meanwhile would hold SQLite's one write lock against every other
    writer (the measurement reports)."""

    def run(self, engine: Engine, *, now: datetime) -> int: ...


@runtime_checkable
class CheckedJob(Protocol):
    """A transaction job that tells from a read whether it has anything to do: the worker
    asks first, in a read transaction, and opens the job's write transaction only then.

    On SQLite a write transaction takes the database's one write lock at its start
    (``BEGIN IMMEDIATE``): an idle job held it on every pass of every worker, and every
    other writer (the API's, the worker's own trigger pass) queued behind it for
    nothing."""

    def pending(self, session: Session, *, now: datetime) -> bool: ...

    def __call__(self, session: Session, *, now: datetime) -> int: ...


@dataclass(frozen=True)
class ReadFirst:
    """A job function with its read check (a :class:`CheckedJob`)."""

    job: TransactionJob
    check: Callable[[Session, datetime], bool]

    def pending(self, session: Session, *, now: datetime) -> bool:
        """Whether the job has anything to do (a read)."""
        return self.check(session, now)

    def __call__(self, session: Session, *, now: datetime) -> int:
        return self.job(session, now=now)


#: What a worker runs on every pass besides automation's own steps.
WorkerJob = TransactionJob | EngineJob


def job_name(job: WorkerJob) -> str:
    """A job's name in the step times: its function's name, or its class's."""
    if isinstance(job, ReadFirst):
        return job_name(job.job)
    name = getattr(job, "__name__", None)
    return name if isinstance(name, str) else type(job).__name__


def _run_job(engine: Engine, job: WorkerJob, now: datetime | None) -> int:
    if isinstance(job, EngineJob):
        return job.run(engine, now=now or utcnow())
    now = now or utcnow()
    if isinstance(job, CheckedJob):
        with unit_of_work(engine, write=False) as session:
            if not job.pending(session, now=now):
                return 0
    with unit_of_work(engine) as session:
        return job(session, now=now)


def run_jobs(
    engine: Engine,
    jobs: Sequence[WorkerJob],
    *,
    now: datetime | None = None,
    times: StepTimes | None = None,
) -> int:
    """Run each job once, each in one transaction (or its own); returns what they did in
    total. With ``times``, each job's duration is counted there under its name."""
    done = 0
    for job in jobs:
        done += timed(times, job_name(job), partial(_run_job, engine, job, now))
    return done


class JobThread:
    """The worker's jobs looping on a thread of their own: each pass runs every job once
    (:func:`run_jobs`); after a pass that did nothing it waits ``poll_seconds``.

    A job's error ends the thread and is kept in :attr:`error`, for the worker's loop to
    raise (as it did when the jobs ran inline): the command stops, the embedded worker
    logs it and starts again. SQLite's lock given up after ``busy_timeout`` (several
    worker processes) is a pass to take again, as in the worker's loop.
    """

    def __init__(self, engine: Engine, jobs: Sequence[WorkerJob], *, poll_seconds: float):
        self.engine = engine
        self.jobs = tuple(jobs)
        self.poll_seconds = poll_seconds
        self.done = 0
        self.times: StepTimes = {}
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="recompra-worker-jobs", daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    done = run_jobs(self.engine, self.jobs, times=self.times)
                except OperationalError as error:
                    if not is_lock_timeout(error):
                        raise
                    continue
                self.done += done
                if not done:
                    self._stop.wait(self.poll_seconds)
        except BaseException as error:  # handed to the worker's loop, which raises it
            self.error = error

    def stop(self, timeout: float | None = None) -> bool:
        """Ask the loop to end after its current job and wait up to ``timeout`` seconds
        (:data:`JOB_STOP_SECONDS` by default); whether it ended (a job still running is
        abandoned)."""
        timeout = JOB_STOP_SECONDS if timeout is None else timeout
        self._stop.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("a worker job still runs after %.0f s; abandoned", timeout)
            return False
        return True


def run_worker(
    engine: Engine,
    ctx: DecisionContext,
    *,
    smtp: SmtpSender | None,
    sender: str,
    until_idle: bool = False,
    poll_seconds: float = 1.0,
    batch: int = 500,
    stop: threading.Event | None = None,
    wake: threading.Event | None = None,
    jobs: Sequence[WorkerJob] = (),
) -> WorkerStats:
    """Loop: triggers, due timers, deliveries, and the extra jobs on their own thread
    (:class:`JobThread`); with ``until_idle`` the jobs run inline on each pass, and the
    worker stops when nothing is left.

    Between idle passes it waits ``poll_seconds`` or until ``wake`` is set (a write that
    may start a run, see :mod:`recompra.automation.wakeup`); it returns once ``stop`` is
    set, after the job thread's current job (see :meth:`JobThread.stop`). The stats'
    ``times`` hold each step's count, total and longest duration.
    """
    stats = WorkerStats()
    wake = wake or threading.Event()
    background = None
    if jobs and not until_idle:
        background = JobThread(engine, jobs, poll_seconds=poll_seconds)
        background.start()
        jobs = ()
    try:
        while stop is None or not stop.is_set():
            if background is not None and background.error is not None:
                raise background.error
            try:
                began = _Clock()
                triggers = timed(stats.times, "triggers", lambda: ingest_triggers(engine))
                done = run_jobs(engine, jobs, times=stats.times)
                decided = timed(stats.times, "decide", lambda: decide_due(engine, ctx, batch=batch))
                delivered = timed(
                    stats.times,
                    "deliver",
                    lambda: deliver_due(
                        engine, smtp=smtp, sender=sender, require_opt_in=ctx.require_opt_in
                    ),
                )
                began.count(stats.times, "pass")
            except OperationalError as error:
                # Several worker processes on one SQLite file: the busy handler keeps no
                # queue, so one may lose every retry until busy_timeout. Its transaction
                # rolled back with nothing half-done; the next pass takes the work again.
                if not is_lock_timeout(error):
                    raise
                continue
            stats.triggers += triggers
            stats.jobs += done
            stats.decided += decided
            stats.delivery.add(delivered)
            busy = (
                triggers
                or done
                or decided
                or delivered.sent
                or delivered.failed
                or delivered.suppressed
            )
            if busy:
                continue
            with unit_of_work(engine, write=False) as session:
                waiting = held_back(session)
            if until_idle and not waiting:
                return stats
            # Cleared on waking, before the next pass: a write committed during that pass
            # sets it again, so nothing written meanwhile waits for a poll. A row held
            # back behind an older running transaction is looked at again shortly: that
            # transaction's commit may announce nothing (it need not write a trigger
            # table).
            if wake.wait(HELD_BACK_POLL_SECONDS if waiting else poll_seconds):
                wake.clear()
        return stats
    finally:
        if background is not None and background.stop():
            stats.jobs += background.done
            stats.merge_times(background.times)
