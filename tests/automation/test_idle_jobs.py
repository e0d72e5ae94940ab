"""The worker's transaction jobs (cases from low reviews, the lead-score refit, the purge
of idempotency records) read first whether they have anything to do: an idle pass takes
no write lock on SQLite (no ``BEGIN IMMEDIATE``), so it never waits behind, nor holds up,
another writer; a job with work still does it."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from automationtest import NOON, add_order, counted_statements, make_store
from sqlalchemy import Engine, event, func, select

from dbtest import create_test_engine
from recompra.automation.worker import EngineJob, WorkerJob, run_jobs
from recompra.db import unit_of_work
from recompra.models import Review
from recompra.models.voc import Case
from recompra.server import worker_jobs


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[Engine]:
    yield from create_test_engine("sqlite", tmp_path)


def _transaction_jobs() -> list[WorkerJob]:
    """The server's jobs that run in a transaction the worker opens (not the engine jobs,
    which open their own)."""
    jobs = [job for job in worker_jobs() if not isinstance(job, EngineJob)]
    assert len(jobs) == 3  # cases, refit, purge: a job added here needs its read check
    return jobs


def _review(engine: Engine, score: int) -> None:
    store = make_store(engine, customers=1, points=0)
    with unit_of_work(engine) as session:
        order = add_order(session, store, store.customers[0], f"O-{score}")
        session.add(
            Review(
                brand_id=store.brand_id,
                source="test",
                external_id=f"R-{score}",
                order_id=order,
                customer_id=store.customers[0],
                score=score,
                created_at=NOON,
            )
        )


def _immediate_begins(engine: Engine, jobs: list[WorkerJob]) -> int:
    begins: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement == "BEGIN IMMEDIATE":
            begins.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        run_jobs(engine, jobs, now=NOON)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    return len(begins)


def test_an_idle_pass_of_the_jobs_takes_no_write_lock(sqlite: Engine) -> None:
    _review(sqlite, 5)  # a good review: no case to open
    with counted_statements(sqlite) as counter:
        assert _immediate_begins(sqlite, _transaction_jobs()) == 0
    assert counter[0] > 0  # the jobs did read


def test_an_idle_pass_does_not_wait_for_another_writer(sqlite: Engine) -> None:
    """Another connection holds SQLite's write lock (a long import): an idle pass
    finishes at once instead of waiting for it (up to busy_timeout, 30 s)."""
    jobs = _transaction_jobs()
    holder = sqlite3.connect(str(sqlite.url.database), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    finished = threading.Event()
    thread = threading.Thread(
        target=lambda: (run_jobs(sqlite, jobs, now=NOON), finished.set()), daemon=True
    )
    try:
        thread.start()
        thread.join(10)
        assert finished.is_set()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        thread.join(60)


def test_a_job_with_work_still_does_it(sqlite: Engine) -> None:
    _review(sqlite, 1)
    assert _immediate_begins(sqlite, _transaction_jobs()) == 1  # the cases job's
    with unit_of_work(sqlite, write=False) as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 1
