"""Benchmark: trigger -> SMTP accepted, and exit event -> pending timers cancelled, through
real processes (issue 15's two latency rows).

Three processes besides this one: the API under uvicorn (``recompra.server``), a
``recompra worker`` and the project's aiosmtpd sink, which names each message it
accepts after the moment it accepted it (``time.time_ns``). On PostgreSQL the server's
committed trigger writes wake the worker (``LISTEN``/``NOTIFY``); on SQLite the worker
polls every second.

1. **Capacity**: ``--burst`` orders posted through ``/v1/ingest/orders/batch`` at once;
   orders per second from the first POST to the sink accepting the last e-mail.
2. **trigger -> SMTP accepted** at half that capacity: ``--orders`` orders posted one
   per request on an open-loop schedule (4 posting threads, a client each), each starting a "send
   now" journey; per message, time from its *scheduled* POST to the sink accepting it
   (a late POST counts against us). p50/p95/p99/max.
3. **status change -> SMTP accepted** (``--stage-orders``, 0 to skip): a journey on
   ``order_delivered`` ("send now" review request) is applied, ``--stage-orders``
   orders are posted as ``approved`` (their thank-you e-mails awaited), then each is
   posted again as ``delivered`` on an open-loop schedule at the same half capacity; per
   order, time from the *scheduled* update POST to the sink accepting the review
   request. This is the ``order_updates`` change feed (no settle delay).
4. **exit -> cancelled**: ``--exits`` customers enter a journey that waits a day and
   exits on the custom event ``bench_exit``; once all are waiting, one exit event per
   customer is posted (``--exit-rate`` per second) and the database is polled every
   20 ms for their cancelled timers. p50/p95/max.

Usage: ``python benchmarks/bench_latency.py [--burst 400] [--orders 400]
[--stage-orders 200] [--exits 200] [--exit-rate 20] [--postgres postgresql+psycopg://...]
[--no-sqlite]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from _cpu import process_cpu_seconds
from _worker_harness import postgres_database, print_table
from bench_smtp import Row
from sqlalchemy import Engine, func, select

from recompra.auth.keys import create_api_key
from recompra.automation.sink import free_port, running_sink, stop_process
from recompra.db import make_engine, unit_of_work
from recompra.migrate import upgrade
from recompra.models import Brand, Customer
from recompra.models.automation import Journey, JourneyRun, JourneyTimer

SEND_THANKS = {
    "type": "send",
    "channel": "email",
    "template": "post_purchase_thanks",
    "purpose": "transactional",
    "next": "done",
}
SEND_NOW = {
    "key": "bench_thanks",
    "name": {"pt-BR": "Obrigado", "en": "Thanks"},
    "trigger": {"type": "order_placed"},
    "entry": {"key": "order", "reentry": "once_per_key"},
    "start": "send",
    "nodes": {
        "send": SEND_THANKS,
        "done": {"type": "exit"},
    },
}
DELIVERED_NOW = {
    **SEND_NOW,
    "key": "bench_delivered",
    "name": {"pt-BR": "Avaliação", "en": "Review"},
    "trigger": {"type": "order_delivered"},
    "nodes": {
        "send": SEND_THANKS | {"template": "review_request"},
        "done": {"type": "exit"},
    },
}
WAIT_EXIT = {
    "key": "bench_wait",
    "name": {"pt-BR": "Espera", "en": "Wait"},
    "trigger": {"type": "event", "event": "bench_enter"},
    "entry": {"key": "customer", "reentry": "once_per_key"},
    "exit_when": [{"type": "event", "event": "bench_exit"}],
    "start": "wait",
    "nodes": {"wait": {"type": "wait", "duration": "1d", "next": "done"}, "done": {"type": "exit"}},
}
#: The server and worker environment: no quiet hours (the clock is real), no API limit.
ENVIRONMENT = {
    "RECOMPRA_ENVIRONMENT": "test",
    "RECOMPRA_QUIET_HOURS": "off",
    "RECOMPRA_SMTP_FROM": "Loja <loja@example.com>",
    "RECOMPRA_API_RATE_LIMIT_BURST": "100000000",
    "RECOMPRA_API_RATE_LIMIT_PER_SECOND": "100000000",
}


@dataclass
class Stack:
    """The running processes: API base URL and key, the sink's folder, the database."""

    url: str
    key: str
    folder: Path
    engine: Engine
    #: Process ids of the API server and the worker, for their CPU time.
    pids: dict[str, int]

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user + system) each process has used so far."""
        seconds = {name: process_cpu_seconds(pid) for name, pid in self.pids.items()}
        gone = [name for name, cpu in seconds.items() if cpu is None]
        if gone:
            raise RuntimeError(f"exited during the run: {', '.join(gone)}")
        return {name: cpu or 0.0 for name, cpu in seconds.items()}

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.key}"}, timeout=60
        )


def _ingest(client: httpx.Client, path: str, record: dict[str, Any]) -> None:
    """POST one record; once more if the connection broke (uvicorn closes a keep-alive
    connection idle for 5 s, and a request sent just then is reset). Ingestion is
    idempotent (order and event ids), so a retry cannot double anything."""
    try:
        response = client.post(path, json=record)
    except httpx.TransportError:
        response = client.post(path, json=record)
    response.raise_for_status()


def _order(email: str, number: str) -> dict[str, Any]:
    return {
        "order_id": number,
        "purchased_at": datetime.now(UTC).isoformat(),
        "customer": {"email": email, "name": "Cliente Bench"},
        "items": [{"product_id": "p1", "product_name": "Chá", "unit_price_minor": 8990}],
    }


def _event(email: str, kind: str) -> dict[str, Any]:
    return {
        "event_id": f"{kind}-{email}",
        "type": kind,
        "email": email,
        "occurred_at": datetime.now(UTC).isoformat(),
    }


@contextmanager
def _process(
    command: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, env={**os.environ, **env}, stdout=out, stderr=out)
        try:
            yield process
        finally:
            stop_process(process, timeout=20)


@contextmanager
def running_stack(url: str, home: Path) -> Iterator[Stack]:
    """Migrate ``url``, add a brand and its key, start the sink, the API and a worker."""
    engine = make_engine(url, pool_size=2)
    upgrade(engine)
    with unit_of_work(engine) as session:
        brand = Brand(slug="loja", name="Loja Exemplo")
        session.add(brand)
        session.flush()
        _, key = create_api_key(session, scopes=["admin", "ingest"], brand_id=brand.id)
    folder = home / "sink"
    with running_sink(folder) as smtp_port:
        env = {
            **ENVIRONMENT,
            "RECOMPRA_HOME": str(home),
            "RECOMPRA_DATABASE_URL": url,
            "RECOMPRA_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
        }
        port = free_port()
        server = [
            sys.executable, "-m", "uvicorn", "recompra.server:create_app", "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
            "--no-access-log",
        ]  # fmt: skip
        worker = [str(Path(sys.executable).with_name("recompra")), "worker"]
        with (
            _process(server, env, home / "server.log") as server_process,
            _process(worker, env, home / "worker.log") as worker_process,
        ):
            pids = {"server": server_process.pid, "worker": worker_process.pid}
            stack = Stack(f"http://127.0.0.1:{port}", key, folder, engine, pids)
            _wait_healthy(stack.url)
            with stack.client() as client:
                for journey in (SEND_NOW, WAIT_EXIT):
                    client.post("/v1/automation/journeys", json=journey).raise_for_status()
                # One order first: concurrent first orders of a product not yet in the
                # catalog race to insert it (a unique violation, HTTP 500, on PostgreSQL).
                client.post("/v1/ingest/orders", json=_order("warmup@example.com", "warmup"))
            try:
                yield stack
            except BaseException:
                for log in ("server.log", "worker.log"):
                    print(f"--- {log}:", (home / log).read_text()[-3000:], sep="\n")
                raise
            finally:
                engine.dispose()


def _wait_healthy(url: str, timeout: float = 120) -> None:
    def healthy() -> bool:
        try:
            return httpx.get(url + "/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    if not _wait_for(healthy, timeout):
        raise RuntimeError(f"the API at {url} did not start")


def accepted(folder: Path, prefix: str, *, nth: int = 1) -> dict[str, int]:
    """Recipient -> the sink's acceptance time (ns) of the ``nth`` message to
    ``prefix...`` (recipients with fewer are left out)."""
    times: dict[str, list[int]] = {}
    parser = BytesHeaderParser()
    for path in folder.glob("*.eml"):
        with path.open("rb") as handle:
            to = str(parser.parse(handle)["To"])
        if to.startswith(prefix):
            times.setdefault(to, []).append(int(path.name.split("-")[0]))
    return {to: sorted(at)[nth - 1] for to, at in times.items() if len(at) >= nth}


def _wait_for(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def capacity(stack: Stack, n: int, *, tag: str) -> float:
    """Orders per second, posted one per request as fast as 4 threads can (the shape of
    the latency run), from the first POST to the sink accepting the last e-mail."""
    started = time.time_ns()
    _posting(stack, n, lambda client, i: _post_order(client, tag, i), scheduled=None)
    if not _wait_for(lambda: len(accepted(stack.folder, tag + "-")) >= n, timeout=600):
        raise RuntimeError("the burst was not delivered within 10 minutes")
    last = max(accepted(stack.folder, tag + "-").values())
    return n / ((last - started) / 1e9)


def _post_order(client: httpx.Client, tag: str, i: int) -> None:
    order = _order(f"{tag}-{i}@example.com", f"{tag}-{i}")
    _ingest(client, "/v1/ingest/orders", order)


def _posting(stack: Stack, n: int, post: Any, *, scheduled: list[int] | None) -> None:
    """Call ``post(client, i)`` for i in 0..n-1 from 4 threads (a client each), each
    call at its ``scheduled`` time (ns) or, without a schedule, as soon as possible."""

    def lane(k: int) -> None:
        with stack.client() as client:
            for i in range(k, n, 4):
                if scheduled is not None:
                    pause = (scheduled[i] - time.time_ns()) / 1e9
                    if pause > 0:
                        time.sleep(pause)
                post(client, i)

    threads = [threading.Thread(target=lane, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _schedule(n: int, rate: float) -> list[int]:
    """An open-loop schedule: ``n`` times (ns) ``1/rate`` apart, starting shortly."""
    start = time.time_ns() + 200_000_000
    return [start + int(i * 1e9 / rate) for i in range(n)]


def send_now_latency(stack: Stack, n: int, rate: float, *, tag: str) -> tuple[np.ndarray, int]:
    """Seconds from each order's scheduled POST to its e-mail's acceptance; and how many
    never arrived within a minute of the last POST."""
    scheduled = _schedule(n, rate)
    _posting(stack, n, lambda client, i: _post_order(client, tag, i), scheduled=scheduled)
    _wait_for(lambda: len(accepted(stack.folder, tag + "-")) >= n, timeout=60)
    times = accepted(stack.folder, tag + "-")
    seconds = [
        (times[f"{tag}-{i}@example.com"] - at) / 1e9
        for i, at in enumerate(scheduled)
        if f"{tag}-{i}@example.com" in times
    ]
    return np.array(seconds), n - len(seconds)


def stage_latency(stack: Stack, n: int, rate: float, *, tag: str) -> tuple[np.ndarray, int]:
    """Seconds from each order's scheduled "delivered" update POST to the acceptance of
    the review request it triggers; and how many never arrived within a minute."""
    with stack.client() as client:
        client.post("/v1/automation/journeys", json=DELIVERED_NOW).raise_for_status()
    orders = [
        _order(f"{tag}-{i}@example.com", f"{tag}-{i}") | {"status": "approved"} for i in range(n)
    ]
    _posting(
        stack, n, lambda client, i: _ingest(client, "/v1/ingest/orders", orders[i]), scheduled=None
    )
    # The thank-you e-mails of the new orders first: the update's message is the second.
    if not _wait_for(lambda: len(accepted(stack.folder, tag + "-")) >= n, timeout=600):
        raise RuntimeError("the approved orders' thank-you e-mails did not all arrive")

    def deliver(client: httpx.Client, i: int) -> None:
        update = {"status": "delivered", "delivered_at": datetime.now(UTC).isoformat()}
        _ingest(client, "/v1/ingest/orders", orders[i] | update)

    scheduled = _schedule(n, rate)
    _posting(stack, n, deliver, scheduled=scheduled)
    _wait_for(lambda: len(accepted(stack.folder, tag + "-", nth=2)) >= n, timeout=60)
    times = accepted(stack.folder, tag + "-", nth=2)
    seconds = [
        (times[f"{tag}-{i}@example.com"] - at) / 1e9
        for i, at in enumerate(scheduled)
        if f"{tag}-{i}@example.com" in times
    ]
    return np.array(seconds), n - len(seconds)


def _waiting(engine: Engine, state: str) -> dict[str, int]:
    with unit_of_work(engine, write=False) as session:
        rows = session.execute(
            select(Customer.email, func.count())
            .join(JourneyRun, JourneyRun.customer_id == Customer.id)
            .join(JourneyTimer, JourneyTimer.run_id == JourneyRun.id)
            .join(Journey, Journey.id == JourneyRun.journey_id)
            .where(Journey.key == "bench_wait", JourneyTimer.state == state)
            .group_by(Customer.email)
        ).all()
    return {str(email): int(count) for email, count in rows}


def exit_latency(stack: Stack, emails: list[str], rate: float) -> tuple[np.ndarray, int]:
    """Seconds from each exit event's scheduled POST to its customer's timer seen
    cancelled (polled every 20 ms); and how many were not cancelled within a minute."""
    with stack.client() as client:
        for first in range(0, len(emails), 100):
            items = [_event(e, "bench_enter") for e in emails[first : first + 100]]
            client.post("/v1/ingest/events/batch", json={"items": items}).raise_for_status()
    if not _wait_for(lambda: len(_waiting(stack.engine, "pending")) >= len(emails), 120):
        raise RuntimeError("the customers did not all enter the wait")
    seen: dict[str, int] = {}
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            now = time.time_ns()
            for email in _waiting(stack.engine, "canceled"):
                seen.setdefault(email, now)
            time.sleep(0.02)

    poller = threading.Thread(target=poll)
    poller.start()

    def post(client: httpx.Client, i: int) -> None:
        _ingest(client, "/v1/ingest/events", _event(emails[i], "bench_exit"))

    scheduled = _schedule(len(emails), rate)
    _posting(stack, len(emails), post, scheduled=scheduled)
    _wait_for(lambda: len(seen) >= len(emails), timeout=60)
    stop.set()
    poller.join()
    seconds = [(seen[e] - at) / 1e9 for e, at in zip(emails, scheduled, strict=True) if e in seen]
    return np.array(seconds), len(emails) - len(seconds)


def _percentiles(values: np.ndarray, points: tuple[int, ...]) -> dict[int, float]:
    return {p: float(np.percentile(values, p)) if len(values) else float("nan") for p in points}


def measure(label: str, url: str, args: argparse.Namespace) -> list[Row]:
    """The two latency rows (and the capacity they are taken at) on one database."""
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp, running_stack(url, Path(tmp)) as stack:
        cpu = time.process_time()
        per_second = capacity(stack, args.burst, tag="burst")
        rows.append(
            (
                f"{label}: capacity, order -> e-mail accepted ({args.burst:,} orders at once)",
                f"{per_second:,.1f} orders/s",
                "(reference)",
                "",
            )
        )
        rate = per_second / 2
        before, wall = stack.cpu_seconds(), time.monotonic()
        seconds, lost = send_now_latency(stack, args.orders, rate, tag="lat")
        after, wall = stack.cpu_seconds(), time.monotonic() - wall
        q = _percentiles(seconds, (50, 95, 99))
        ok = lost == 0 and q[95] <= 2 and q[99] <= 5
        rows.append(
            (
                f"{label}: order -> SMTP accepted, send now, {rate:,.1f}/s ({args.orders:,})",
                f"p50 {q[50]:.2f} s, p95 {q[95]:.2f} s, p99 {q[99]:.2f} s, "
                f"max {seconds.max():.2f} s; {lost} missing",
                "p95 <= 2 s, p99 <= 5 s",
                "met" if ok else "NOT met",
            )
        )
        spent = {name: after[name] - before[name] for name in after}
        rows.append(
            (
                f"{label}: CPU of that run ({wall:.1f} s wall)",
                ", ".join(
                    f"{name} {cpu:.1f} s ({cpu / args.orders * 1000:.1f} ms/order)"
                    for name, cpu in spent.items()
                ),
                "(reference)",
                "",
            )
        )
        if args.stage_orders:
            seconds, lost = stage_latency(stack, args.stage_orders, rate, tag="stage")
            q = _percentiles(seconds, (50, 95, 99))
            rows.append(
                (
                    f"{label}: order delivered (update) -> SMTP accepted, send now, "
                    f"{rate:,.1f}/s ({args.stage_orders:,})",
                    f"p50 {q[50]:.2f} s, p95 {q[95]:.2f} s, p99 {q[99]:.2f} s, "
                    f"max {seconds.max():.2f} s; {lost} missing",
                    "p95 <= 2 s, p99 <= 5 s",
                    "met" if lost == 0 and q[95] <= 2 and q[99] <= 5 else "NOT met",
                )
            )
        emails = [f"lat-{i}@example.com" for i in range(min(args.exits, args.orders))]
        seconds, lost = exit_latency(stack, emails, args.exit_rate)
        q = _percentiles(seconds, (50, 95))
        rows.append(
            (
                f"{label}: exit event -> timers cancelled ({len(emails):,}, {args.exit_rate:g}/s)",
                f"p50 {q[50]:.2f} s, p95 {q[95]:.2f} s, max {seconds.max():.2f} s; "
                f"{lost} not cancelled",
                "<= 2 s",
                "met" if lost == 0 and seconds.max() <= 2 else "NOT met",
            )
        )
        print(f"{label}: this process's CPU {time.process_time() - cpu:.1f} s", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=400)
    parser.add_argument("--orders", type=int, default=400)
    parser.add_argument("--stage-orders", type=int, default=200)
    parser.add_argument("--exits", type=int, default=200)
    parser.add_argument("--exit-rate", type=float, default=20.0)
    parser.add_argument("--postgres", default="")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    rows: list[Row] = []
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            rows += measure("SQLite", f"sqlite:///{tmp}/latency.db", args)
    if args.postgres:
        with postgres_database(args.postgres) as url:
            rows += measure("PostgreSQL", url, args)
    print_table(rows)


if __name__ == "__main__":
    main()
