"""Worker processes killed with SIGKILL mid-batch or mid-delivery, and two workers racing
under a cap."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from automationtest import NOON, add_order, apply, context, make_store, received, thank_you
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import OperationalError
from workerprocess import SENDER

from recompra.automation import worker
from recompra.automation.delivery import LEASE
from recompra.automation.email import SmtpSender, smtp_settings
from recompra.automation.sink import running_sink
from recompra.automation.worker import decide_due, deliver_due, ingest_triggers
from recompra.db import unit_of_work
from recompra.models.automation import JourneyRun, JourneyTimer, OutboxMessage

SCRIPT = Path(__file__).with_name("workerprocess.py")


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _worker(engine: Engine, *args: str, batch: int = 50) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BATCH": str(batch)}
    env["PYTHONPATH"] = os.pathsep.join([str(SCRIPT.parent), env.get("PYTHONPATH", "")])
    return subprocess.Popen([sys.executable, str(SCRIPT), _url(engine), *args], env=env)


def _orders(engine: Engine, *, customers: int, per_customer: int) -> None:
    store = make_store(engine, customers=customers, points=0)
    apply(engine, store, thank_you())
    with unit_of_work(engine) as session:
        for customer in store.customers:
            for n in range(per_customer):
                add_order(session, store, customer, f"{customer}-{n}")
    ingest_triggers(engine, now=NOON, limit=10_000)


def test_sigkill_mid_batch_leaves_no_duplicate_and_a_rerun_completes(engine: Engine) -> None:
    _orders(engine, customers=40, per_customer=1)
    rng = random.Random(15)
    for _ in range(3):
        process = _worker(engine, "crash", str(rng.randint(0, 12)), batch=10)
        assert process.wait(timeout=120) == -signal.SIGKILL
    assert _worker(engine, "decide").wait(timeout=120) == 0
    with unit_of_work(engine, write=False) as session:
        decisions = session.execute(
            select(OutboxMessage.run_id, func.count()).group_by(OutboxMessage.run_id)
        ).all()
        runs = session.scalar(select(func.count()).select_from(JourneyRun))
        pending = session.scalar(
            select(func.count()).select_from(JourneyTimer).where(JourneyTimer.state == "pending")
        )
    assert runs == 40
    assert len(decisions) == 40  # none lost
    assert {count for _, count in decisions} == {1}  # none duplicated
    assert pending == 0


def test_two_concurrent_workers_never_break_a_cap(engine: Engine) -> None:
    # Two orders per customer, cap 1 e-mail per day: each customer gets exactly one now.
    _orders(engine, customers=30, per_customer=2)
    workers = [_worker(engine, "decide", batch=7) for _ in range(2)]
    assert [w.wait(timeout=180) for w in workers] == [0, 0]
    with unit_of_work(engine, write=False) as session:
        per_customer = session.execute(
            select(OutboxMessage.customer_id, func.count())
            .where(OutboxMessage.state == "pending")
            .group_by(OutboxMessage.customer_id)
        ).all()
        deferred = session.scalar(
            select(func.count()).select_from(JourneyTimer).where(JourneyTimer.state == "pending")
        )
    assert len(per_customer) == 30
    assert max(count for _, count in per_customer) == 1  # 0 violations
    assert deferred == 30  # the second message of each customer waits for the window


def test_sigkill_after_the_sink_accepted_a_message_resends_that_one_only(
    engine: Engine, tmp_path: Path
) -> None:
    store = make_store(engine, customers=6, points=0)
    journey = thank_you()
    journey["nodes"]["send"]["purpose"] = "transactional"  # resent after a crash
    apply(engine, store, journey)
    with unit_of_work(engine) as session:
        for customer in store.customers:
            add_order(session, store, customer, f"T-{customer}")
    ingest_triggers(engine, now=NOON)
    assert decide_due(engine, context(), now=NOON) == 6
    with running_sink(tmp_path / "sink") as port:
        process = _worker(engine, "deliver", str(port), "3")
        assert process.wait(timeout=120) == -signal.SIGKILL
        with unit_of_work(engine) as session:  # the dead worker's lease has passed
            for row in session.scalars(
                select(OutboxMessage).where(OutboxMessage.state == "sending")
            ):
                row.next_attempt_at -= LEASE + timedelta(seconds=1)
        smtp = SmtpSender(smtp_settings(f"smtp://127.0.0.1:{port}", SENDER))
        while deliver_due(engine, smtp=smtp, sender=SENDER).sent:
            pass
        smtp.close()
        ids = Counter(str(m["Message-ID"]) for m in received(tmp_path / "sink"))
    with unit_of_work(engine, write=False) as session:
        states = Counter(session.scalars(select(OutboxMessage.state)))
    assert states == {"sent": 6}
    assert len(ids) == 6  # every message arrived
    assert sorted(ids.values()) == [1, 1, 1, 1, 1, 2]  # one duplicate for the one crash


def test_a_worker_outwaited_for_sqlites_write_lock_tries_again_instead_of_dying(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Seen with 4 worker processes on one SQLite file under load: SQLite's busy handler
    # keeps no queue, one process lost every retry for 30 s and the worker died.
    _orders(engine, customers=3, per_customer=1)
    real = worker.decide_due
    calls = [0]

    def locked_once(*args: Any, **kwargs: Any) -> int:
        calls[0] += 1
        if calls[0] == 1:
            raise OperationalError(
                "BEGIN IMMEDIATE", {}, sqlite3.OperationalError("database is locked")
            )
        return real(*args, **kwargs)

    monkeypatch.setattr(worker, "decide_due", locked_once)
    stats = worker.run_worker(engine, context(), smtp=None, sender=SENDER, until_idle=True)
    assert stats.decided == 3
    assert calls[0] >= 2


def test_a_worker_still_stops_on_other_database_errors(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> int:
        raise OperationalError("SELECT 1", {}, sqlite3.OperationalError("disk I/O error"))

    monkeypatch.setattr(worker, "decide_due", broken)
    with pytest.raises(OperationalError):
        worker.run_worker(engine, context(), smtp=None, sender=SENDER, until_idle=True)
