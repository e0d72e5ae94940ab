"""Benchmark: e-mail delivery to an SMTP sink in another process, beside bare ``smtplib``.

In one run:

1. Messages rendered + MIME-built per second (in memory, one process): the packaged
   post-purchase template in pt-BR, multipart text+HTML with the RFC 8058 headers, as
   the bytes SMTP sends.
2. Sends per second to the project's SMTP sink (aiosmtpd, a separate process): the
   worker's delivery (claim, hand-over batches with their consent read and outcome
   writes, MIME build, SMTP) over 1 and ``--connections`` connections, each beside the
   floor of bare ``smtplib`` sending one prebuilt message over as many connections to
   the same sink process, the ratio of the two, and the CPU time of this process per
   message (the sink's own CPU is not counted: it is the same for both). Each figure is
   the median of ``--repeat`` runs of ``--sends`` messages.
3. The achieved send rate with ``--rate`` configured, over the default number of
   connections (``RECOMPRA_SMTP_CONNECTIONS``'s default): pick a rate below the unpaced
   figure, or it measures the machine rather than the pacer.

The outbox is filled directly (rendered payloads, one marketing e-mail per customer),
so the timed part is the delivery alone. ``--postgres URL`` repeats the delivery rows
on a scratch PostgreSQL database. ``bench_automation.py`` prints these rows in the
issue's whole table.

Usage: ``python benchmarks/bench_smtp.py [--sends 2000] [--connections 2] [--rate 200]
[--messages 20000] [--repeat 3] [--postgres postgresql+psycopg://...]``.
"""

from __future__ import annotations

import argparse
import smtplib
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _worker_harness import drop_postgres, load_average, print_table, scratch_postgres
from sqlalchemy import Engine, insert

from recompra.automation.email import OutgoingMail, SmtpSender, build_message, smtp_settings
from recompra.automation.outbox import email_payload, outbox_row
from recompra.automation.settings import AutomationSettings
from recompra.automation.sink import running_sink
from recompra.automation.worker import deliver_due
from recompra.db import make_engine, unit_of_work
from recompra.migrate import upgrade
from recompra.models import Brand, BrandCustomer, Customer
from recompra.models.automation import OUTBOX

NOW = datetime(2026, 6, 17, 18, 0, tzinfo=UTC)
SENDER = "Loja <l@x.com>"
#: The issue's table: one row per measure (measure, measured, target, met).
Row = tuple[str, str, str, str]


class _Addressee:
    """Whom a benchmark e-mail goes to (what :func:`email_payload` reads)."""

    def __init__(self, i: int) -> None:
        self.email: str | None = f"c{i}@example.com"
        self.locale: str | None = "pt-BR"


def _context(i: int) -> dict[str, Any]:
    """The post-purchase template's context for customer ``i``."""
    return {
        "customer": {"id": i, "name": f"Cliente {i}", "first_name": "Cliente", "email": "x"},
        "brand": {"name": "Loja", "slug": "loja"},
        "order": {"number": f"P-{i}", "total_minor": 12990 + i, "purchased_at": NOW},
        "points": {"balance": i % 900, "expiring": 0, "expires_at": None},
        "tier": "Ouro",
        "recommendations": [
            {"id": k, "name": f"Produto {k}", "name_en": f"Product {k}"} for k in range(4)
        ],
        "unsubscribe_url": f"https://loja.test/v1/automation/unsubscribe?token={i}.email.x",
    }


def messages_per_second(n: int) -> tuple[float, float]:
    """Render the post-purchase template and build its SMTP bytes ``n`` times: per second
    of wall-clock time and per second of this process's CPU time."""
    began, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        payload = email_payload("post_purchase_thanks", _Addressee(i), _context(i))
        build_message(payload, execution_key=f"1:1:order:{i}:send:{i}", sender=SENDER)
    return n / (time.perf_counter() - began), n / (time.process_time() - cpu)


def _fill_outbox(engine: Engine, payloads: list[dict[str, Any]]) -> None:
    """A brand, one customer per payload and its pending marketing e-mail."""
    with unit_of_work(engine) as session:
        brand = Brand(slug=f"s{uuid.uuid4().hex[:6]}", name="Loja SMTP")
        customers = [Customer(name=f"Cliente {i}", email=p["to"]) for i, p in enumerate(payloads)]
        session.add_all([brand, *customers])
        session.flush()
        session.execute(
            insert(BrandCustomer), [{"brand_id": brand.id, "customer_id": c.id} for c in customers]
        )
        session.execute(
            insert(OUTBOX),
            [
                outbox_row(
                    brand_id=brand.id,
                    run_id=None,
                    customer_id=c.id,
                    execution_key=f"smtp:{brand.slug}:{c.id}",
                    channel="email",
                    purpose="marketing",
                    state="pending",
                    payload=payload,
                    now=NOW,
                )
                for c, payload in zip(customers, payloads, strict=True)
            ],
        )


def delivery_run(
    engine: Engine, payloads: list[dict[str, Any]], port: int, *, connections: int, rate: float
) -> tuple[float, float]:
    """Fill the outbox with ``payloads`` and deliver them all to the sink on ``port``
    (paced to ``rate`` when positive): sends per wall-clock second, CPU seconds per send."""
    _fill_outbox(engine, payloads)
    settings = smtp_settings(f"smtp://127.0.0.1:{port}", SENDER, rate_per_second=rate or None)
    smtp = SmtpSender(settings, connections=connections)
    began, cpu = time.perf_counter(), time.process_time()
    sent = 0
    while delivered := deliver_due(engine, smtp=smtp, sender=SENDER).sent:
        sent += delivered
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    smtp.close()
    assert sent == len(payloads), (sent, len(payloads))
    return sent / wall, cpu / sent


def smtplib_run(
    message: OutgoingMail, n: int, port: int, *, connections: int
) -> tuple[float, float]:
    """The floor: bare ``smtplib`` sending one prebuilt message ``n`` times over
    ``connections`` connections (a thread each): sends per second, CPU seconds per send."""

    def lane(count: int) -> None:
        client = smtplib.SMTP("127.0.0.1", port)
        for _ in range(count):
            client.sendmail(message.envelope_from, [message.recipient], message.data)
        client.quit()

    share = n // connections
    threads = [threading.Thread(target=lane, args=(share,)) for _ in range(connections)]
    began, cpu = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    return share * connections / wall, cpu / (share * connections)


def _median(runs: int, measure: Callable[[], tuple[float, float]]) -> tuple[float, float]:
    """The medians of each figure over ``runs`` runs of ``measure``."""
    results = [measure() for _ in range(runs)]
    return statistics.median(r[0] for r in results), statistics.median(r[1] for r in results)


def _emptied(folder: Path) -> None:
    """Remove what the sink stored (thousands of files per run)."""
    for path in folder.glob("*.eml"):
        path.unlink()


def _payloads(n: int) -> list[dict[str, Any]]:
    return [email_payload("post_purchase_thanks", _Addressee(i), _context(i)) for i in range(n)]


def delivery_rows(
    label: str, engine: Engine, args: argparse.Namespace, folder: Path, *, floor: bool
) -> list[Row]:
    """The unpaced rows over 1 and ``--connections`` connections (beside bare ``smtplib``
    when ``floor``) and the paced row, on ``engine``'s database."""
    payloads = _payloads(args.sends)
    default_connections = AutomationSettings.model_fields["smtp_connections"].default
    rows: list[Row] = []
    mail = folder / f"mail-{label}"
    with running_sink(mail) as port:

        def ours(connections: int, rate: float = 0.0) -> tuple[float, float]:
            figures = delivery_run(engine, payloads, port, connections=connections, rate=rate)
            _emptied(mail)
            return figures

        def bare(connections: int) -> tuple[float, float]:
            prebuilt = build_message(payloads[0], execution_key="floor", sender=SENDER)
            figures = smtplib_run(prebuilt, args.sends, port, connections=connections)
            _emptied(mail)
            return figures

        # Warm-up, not counted: the first delivery of a process compiles its statements
        # and opens its connections.
        delivery_run(engine, payloads[:50], port, connections=1, rate=0.0)
        _emptied(mail)
        for connections in sorted({1, args.connections}):
            rate, cpu = _median(args.repeat, lambda c=connections: ours(c))  # type: ignore[misc]
            plural = "s" if connections > 1 else ""
            measured = f"{rate:,.0f}/s wall, {cpu * 1e6:,.0f} µs CPU per message"
            if floor:
                bare_rate, bare_cpu = _median(
                    args.repeat,
                    lambda c=connections: bare(c),  # type: ignore[misc]
                )
                measured += (
                    f"; bare smtplib {bare_rate:,.0f}/s, {bare_cpu * 1e6:,.0f} µs CPU; "
                    f"ratio {rate / bare_rate:.2f}"
                )
            default = " (the default)" if connections == default_connections else ""
            rows.append(
                (
                    f"{label}: SMTP to the sink in another process ({args.sends:,} sends, "
                    f"median of {args.repeat}, unpaced, {connections} connection{plural}"
                    f"{default})",
                    measured,
                    ">= 400 msg/s",
                    "met" if rate >= 400 else "NOT met",
                )
            )
        paced, _ = ours(default_connections, args.rate)
    error = paced / args.rate - 1
    rows.append(
        (
            f"{label}: SMTP send rate, configured {args.rate:,.0f}/s "
            f"({default_connections} connection(s), the default)",
            f"{paced:,.1f}/s ({error:+.1%})",
            "within +-5%",
            "met" if abs(error) <= 0.05 else "NOT met",
        )
    )
    return rows


def messages_row(n: int) -> Row:
    """The render + MIME row of the issue's table."""
    wall, cpu = messages_per_second(n)
    return (
        f"messages rendered + MIME-built ({n:,}, one process)",
        f"{wall:,.0f}/s wall, {cpu:,.0f}/CPU-s",
        ">= 1,500/s",
        "met" if cpu >= 1_500 else "NOT met",
    )


def smtp_rows(args: argparse.Namespace, folder: Path) -> list[Row]:
    """Every row of this benchmark: render + MIME, then delivery on SQLite and, with
    ``--postgres``, on PostgreSQL."""
    rows = [messages_row(args.messages)]
    engine = make_engine(f"sqlite:///{folder / 'smtp.db'}")
    upgrade(engine)
    rows += delivery_rows("SQLite", engine, args, folder, floor=True)
    engine.dispose()
    if args.postgres:
        admin, url = scratch_postgres(args.postgres)
        engine = make_engine(url, pool_size=args.connections)
        try:
            upgrade(engine)
            rows += delivery_rows("PostgreSQL", engine, args, folder, floor=False)
        finally:
            engine.dispose()
            drop_postgres(admin, url)
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """This benchmark's options (``bench_automation.py`` takes them too)."""
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--sends", type=int, default=2_000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--postgres", default="")
    args = parser.parse_args()
    print(f"load average before: {load_average()}")
    began, cpu = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory() as tmp:
        rows = smtp_rows(args, Path(tmp))
    print_table(rows)
    print(f"{time.perf_counter() - began:.0f} s wall, {time.process_time() - cpu:.0f} s CPU")


if __name__ == "__main__":
    main()
