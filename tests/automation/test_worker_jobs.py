"""The worker's extra jobs (cases from low reviews, refits, purges, reports) run on a
thread of their own: a job that takes long holds up neither the trigger pass nor the
timer claims; a job's error still stops the worker; ``--until-idle`` runs them inline;
stopping waits for the current job, or abandons it after a while; each step is timed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime

import pytest
from automationtest import add_order, apply, context, make_store, thank_you, wait_for
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from workerprocess import SENDER

from recompra.automation import worker
from recompra.automation.worker import WorkerJob, WorkerStats, run_worker
from recompra.db import unit_of_work
from recompra.models.automation import JourneyRun, JourneyTimer


class BlockingJob:
    """An engine job (it opens its own transactions, as the measurement reports do)
    that, on its first run, blocks until :attr:`release` is set."""

    def __init__(self) -> None:
        self.running = threading.Event()
        self.release = threading.Event()
        self.finished = 0

    def run(self, engine: Engine, *, now: datetime) -> int:
        if self.finished:
            return 0
        self.running.set()
        self.release.wait(60)
        self.finished += 1
        return 1


class WorkerThread:
    """``run_worker`` (not until idle) on a thread; :meth:`stop` ends it, its stats."""

    def __init__(self, engine: Engine, jobs: list[WorkerJob]) -> None:
        self.stop_event = threading.Event()
        self.stats: WorkerStats | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(engine, jobs), daemon=True)
        self.thread.start()

    def _run(self, engine: Engine, jobs: list[WorkerJob]) -> None:
        try:
            self.stats = run_worker(
                engine,
                context(),
                smtp=None,
                sender=SENDER,
                poll_seconds=0.05,
                stop=self.stop_event,
                jobs=jobs,
            )
        except BaseException as error:
            self.error = error

    def stop(self) -> WorkerStats:
        self.stop_event.set()
        self.thread.join(60)
        assert not self.thread.is_alive()
        assert self.error is None, self.error
        assert self.stats is not None
        return self.stats


def _runs(engine: Engine) -> int:
    with unit_of_work(engine, write=False) as session:
        return int(session.scalar(select(func.count()).select_from(JourneyRun)) or 0)


@pytest.fixture
def blocking() -> Iterator[BlockingJob]:
    job = BlockingJob()
    yield job
    job.release.set()  # whatever the test's outcome, no thread stays blocked


def test_a_long_job_holds_up_neither_triggers_nor_timers(
    engine: Engine, blocking: BlockingJob
) -> None:
    store = make_store(engine, customers=1, points=0)
    apply(engine, store, thank_you())
    running = WorkerThread(engine, [blocking])
    assert blocking.running.wait(30)
    with unit_of_work(engine) as session:
        add_order(session, store, store.customers[0], "while-the-job-runs")
    # The order starts its run and the run's first timer (the e-mail, due at once) is
    # decided while the job still blocks: before, the job ran inline between the
    # trigger pass and the timers, and the worker waited for it.
    assert wait_for(lambda: _runs(engine) == 1, timeout=30)
    assert wait_for(lambda: _decided(engine) == 1, timeout=30)
    assert blocking.finished == 0
    blocking.release.set()
    stats = running.stop()
    assert (stats.decided, stats.jobs) == (1, 1)
    assert {"triggers", "decide", "deliver", "pass", "BlockingJob"} <= set(stats.times)
    assert stats.times["BlockingJob"].count >= 1


def _decided(engine: Engine) -> int:
    with unit_of_work(engine, write=False) as session:
        query = (
            select(func.count()).select_from(JourneyTimer).where(JourneyTimer.state != "pending")
        )
        return int(session.scalar(query) or 0)


def test_a_job_error_still_stops_the_worker(engine: Engine) -> None:
    def broken(session: Session, *, now: datetime) -> int:
        raise RuntimeError("the job broke")

    with pytest.raises(RuntimeError, match="the job broke"):
        run_worker(engine, context(), smtp=None, sender=SENDER, poll_seconds=0.01, jobs=[broken])


def test_until_idle_runs_the_jobs_inline_until_they_are_idle(engine: Engine) -> None:
    threads: list[threading.Thread] = []

    def twice(session: Session, *, now: datetime) -> int:
        threads.append(threading.current_thread())
        return 1 if len(threads) <= 2 else 0

    stats = run_worker(engine, context(), smtp=None, sender=SENDER, until_idle=True, jobs=[twice])
    # Two passes that did something, then an idle one: the command's "once and exit".
    assert stats.jobs == 2
    assert threads == [threading.current_thread()] * 3
    assert stats.times["twice"].count == 3
    assert stats.times["pass"].count == 3


def test_stopping_abandons_a_job_that_outlasts_the_wait(
    engine: Engine, blocking: BlockingJob, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker, "JOB_STOP_SECONDS", 0.2)
    running = WorkerThread(engine, [blocking])
    assert blocking.running.wait(30)
    stats = running.stop()  # returns although the job still blocks
    assert blocking.finished == 0
    assert stats.jobs == 0  # the abandoned thread's counts are not read
