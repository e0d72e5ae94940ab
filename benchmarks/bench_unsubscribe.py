"""Benchmark: unsubscribes recorded while worker processes are sending a batch; no
message may leave after the unsubscribe is committed.

``--customers`` marketing e-mails are decided (one per customer), then ``--workers``
worker processes (forked) deliver them to the project's SMTP sink (aiosmtpd in another
process). Meanwhile this process unsubscribes, one after the other, customers (a random
``--share`` of them may be chosen) whose message is in a batch a worker has claimed
(``sending``, i.e. in flight), through the unsubscribe link's own code
(:func:`recompra.automation.consent.unsubscribe`), and notes when each commit returned.

Counted per unsubscribed customer, from the sink's files (each named by the time it was
received) and the workers' log of when each consent check began:

* **sends after the commit**: a message received after the commit whose consent check
  began after it too: a send the recorded unsubscribe did not stop (target 0);
* **in flight at the commit**: a message whose consent check had passed before the
  commit and which the sink received after it (the check-then-send window of a worker:
  at most one hand-over batch, ``delivery.HAND_OVER_BATCH`` messages, per worker);
* stopped: messages of unsubscribed customers recorded ``suppressed``.

Usage: ``python benchmarks/bench_unsubscribe.py [--customers 5000] [--workers 2] [--share 0.2]
[--postgres postgresql+psycopg://...]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from _automation_seed import NOW, SEND, seed_timers
from _worker_harness import (
    drop_postgres,
    fork_worker,
    load_average,
    print_table,
    scratch_postgres,
    stored_message_id,
    wait_status,
)
from sqlalchemy import Engine, text

from recompra.automation import delivery
from recompra.automation.consent import unsubscribe, unsubscribe_token
from recompra.automation.email import SmtpSender, message_id, smtp_settings
from recompra.automation.schedule import ContactPolicy
from recompra.automation.sink import running_sink
from recompra.automation.steps import DecisionContext
from recompra.automation.worker import decide_due, deliver_due
from recompra.db import make_engine, unit_of_work
from recompra.migrate import upgrade
from recompra.models.base import utcnow

SECRET = "bench-secret"
SENDER = "Loja <loja@unsubscribe.test>"


def _deliver(engine: Engine, port: int, log: Path) -> None:
    """A worker's delivery passes until nothing is due; each consent check's start time
    (ns) per customer is written to ``log``."""
    checks: list[tuple[int, int]] = []
    original = delivery.consent_statements

    def timed(session: Any, customer_ids: Any) -> Any:
        began = time.time_ns()
        checks.extend((customer, began) for customer in customer_ids)
        return original(session, customer_ids)

    delivery.consent_statements = timed
    smtp = SmtpSender(smtp_settings(f"smtp://127.0.0.1:{port}", SENDER))
    while True:
        done = deliver_due(engine, smtp=smtp, sender=SENDER)
        if not (done.sent or done.failed or done.suppressed):
            break
    smtp.close()
    log.write_text(json.dumps(checks))


def measure(
    engine: Engine, customers: int, workers: int, share: float, folder: Path
) -> dict[str, Any]:
    """Decide the messages, deliver them with ``workers`` processes while unsubscribing
    customers whose message is in flight (a random ``share`` of all customers may be
    chosen); the counts of the module's docstring."""
    seed_timers(engine, customers, SEND)
    ctx = DecisionContext(policy=ContactPolicy(quiet_from=None, quiet_to=None))
    while decide_due(engine, ctx, now=NOW, batch=500):
        pass
    rng = random.Random(15)
    with engine.connect() as conn:
        everyone = conn.scalars(text("SELECT customer_id FROM automation_outbox")).all()
    eligible = set(rng.sample(list(everyone), round(share * len(everyone))))
    committed: dict[int, int] = {}
    mail = folder / "mail"
    with running_sink(mail) as port:
        engine.dispose()
        began, cpu = time.perf_counter(), time.process_time()
        logs = [folder / f"checks-{n}.json" for n in range(workers)]
        pids = [fork_worker(lambda log=log: _deliver(engine, port, log)) for log in logs]
        while True:
            with engine.connect() as conn:
                in_flight = conn.scalars(
                    text("SELECT customer_id FROM automation_outbox WHERE state = 'sending'")
                ).all()
                left = conn.scalar(
                    text(
                        "SELECT count(*) FROM automation_outbox "
                        "WHERE state IN ('pending', 'sending')"
                    )
                )
            if not left:
                break
            chosen = [c for c in in_flight if c in eligible and c not in committed]
            if not chosen:
                time.sleep(0.001)  # no batch in flight yet: look again in a moment
                continue
            customer = rng.choice(chosen)
            with unit_of_work(engine) as session:
                token = unsubscribe_token(SECRET, customer, "email")
                unsubscribe(session, secret=SECRET, token=token, source="bench", now=utcnow())
            committed[customer] = time.time_ns()
        statuses = [wait_status(pid) for pid in pids]
        seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    assert statuses == [0] * workers, statuses
    checks: dict[int, list[int]] = {}
    for log in logs:
        for customer, at in json.loads(log.read_text()):
            checks.setdefault(customer, []).append(at)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT customer_id, execution_key, state FROM automation_outbox")
        ).all()
    owner = {message_id(r.execution_key, SENDER): r.customer_id for r in rows}
    after = in_flight_at_commit = 0
    for path in mail.glob("*.eml"):
        received_ns = int(path.name.split("-")[0])
        customer = owner.get(stored_message_id(path))
        if customer not in committed or received_ns <= committed[customer]:
            continue
        if max(checks.get(customer, [0])) > committed[customer]:
            after += 1
        else:
            in_flight_at_commit += 1
    stopped = sum(1 for r in rows if r.customer_id in committed and r.state == "suppressed")
    return {
        "messages": len(rows),
        "unsubscribed": len(committed),
        "after": after,
        "in_flight": in_flight_at_commit,
        "stopped": stopped,
        "sent": sum(1 for r in rows if r.state == "sent"),
        "seconds": seconds,
        "cpu": cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--share", type=float, default=0.2, help="customers who may unsubscribe")
    parser.add_argument("--postgres", default=os.environ.get("RECOMPRA_TEST_POSTGRES_URL", ""))
    args = parser.parse_args()
    print(f"load average before: {load_average()}")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/unsubscribe.db")
        upgrade(engine)
        results["SQLite"] = measure(
            engine, args.customers, args.workers, args.share, Path(tmp) / "sqlite"
        )
        engine.dispose()
        if args.postgres:
            admin, url = scratch_postgres(args.postgres)
            engine = make_engine(url, pool_size=1)
            try:
                upgrade(engine)
                results["PostgreSQL"] = measure(
                    engine, args.customers, args.workers, args.share, Path(tmp) / "postgres"
                )
            finally:
                engine.dispose()
                drop_postgres(admin, url)
    print_table(
        [
            (
                f"{label}: unsubscribe during in-flight batches ({r['messages']:,} e-mails, "
                f"{args.workers} worker processes, {r['unsubscribed']:,} unsubscribes of "
                "customers whose message was in flight)",
                f"{r['after']} sends after the commit; {r['in_flight']} already past the "
                f"consent check at the commit; {r['stopped']:,} stopped; {r['sent']:,} sent "
                f"in {r['seconds']:.1f} s wall, {r['cpu']:.1f} s CPU (this process)",
                "0 sends after it is recorded",
                "met" if r["after"] == 0 else "NOT met",
            )
            for label, r in results.items()
        ]
    )


if __name__ == "__main__":
    main()
