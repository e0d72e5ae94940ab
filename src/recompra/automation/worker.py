"""The worker: read triggers, decide due timers in batches, deliver the outbox.

Deciding a batch is one transaction: claim due timers (PostgreSQL ``FOR UPDATE SKIP
LOCKED``, so several workers share the work; SQLite's single writer serialises them),
decide each, write the outbox and next timers, commit. A worker killed mid-batch leaves
nothing half-done: the batch rolls back and is decided again by the next worker, and
the unique execution keys make a decision exactly-once.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import Engine, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from recompra.automation.batch import DecisionBatch
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

#: The wait before another pass while a feed has rows held back (see
#: :func:`recompra.automation.feeds.held_back`).
HELD_BACK_POLL_SECONDS = 0.1


@dataclass
class WorkerStats:
    """Totals of a worker's passes."""

    triggers: int = 0
    decided: int = 0
    #: What the extra jobs did (cases opened from feedback, reports computed...).
    jobs: int = 0
    delivery: DeliveryStats = field(default_factory=DeliveryStats)


def ingest_triggers(engine: Engine, *, now: datetime | None = None, limit: int = 1000) -> int:
    """One transaction: consume each feed up to ``limit`` rows and start the runs."""
    with unit_of_work(engine) as session:
        return read_triggers(session, active_journeys(session), now=now or utcnow(), limit=limit)


def decide_due(
    engine: Engine, ctx: DecisionContext, *, now: datetime | None = None, batch: int = 500
) -> int:
    """Decide up to ``batch`` due timers in one transaction; returns how many."""
    now = now or utcnow()
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


#: What a worker runs on every pass besides automation's own steps.
WorkerJob = TransactionJob | EngineJob


def run_jobs(engine: Engine, jobs: Sequence[WorkerJob], *, now: datetime | None = None) -> int:
    """Run each job once, each in one transaction (or its own); returns what they did in
    total."""
    done = 0
    for job in jobs:
        if isinstance(job, EngineJob):
            done += job.run(engine, now=now or utcnow())
            continue
        with unit_of_work(engine) as session:
            done += job(session, now=now or utcnow())
    return done


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
    """Loop: triggers, extra jobs, due timers, deliveries; with ``until_idle`` stop when
    nothing is left.

    Between idle passes it waits ``poll_seconds`` or until ``wake`` is set (a write that
    may start a run, see :mod:`recompra.automation.wakeup`); it returns once ``stop`` is set.
    """
    stats = WorkerStats()
    wake = wake or threading.Event()
    while stop is None or not stop.is_set():
        try:
            triggers = ingest_triggers(engine)
            done = run_jobs(engine, jobs)
            decided = decide_due(engine, ctx, batch=batch)
            delivered = deliver_due(
                engine, smtp=smtp, sender=sender, require_opt_in=ctx.require_opt_in
            )
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
        # sets it again, so nothing written meanwhile waits for a poll. A row held back
        # behind an older running transaction is looked at again shortly: that
        # transaction's commit may announce nothing (it need not write a trigger table).
        if wake.wait(HELD_BACK_POLL_SECONDS if waiting else poll_seconds):
            wake.clear()
    return stats
