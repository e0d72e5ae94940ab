"""``recompra journeys ...``, ``recompra worker`` and ``recompra webhooks ...``: thin
commands over :mod:`recompra.automation`."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated

import typer
import yaml

from recompra.automation.actions import load_pool
from recompra.automation.board import node_outcomes
from recompra.automation.definition import parse_journey, to_display
from recompra.automation.service import (
    apply_journey,
    current_definition,
    get_journey,
    list_journeys,
    set_status,
)
from recompra.automation.settings import AutomationSettings, decision_context, smtp_sender
from recompra.automation.sink import SINK_FOLDER, stored_mail
from recompra.automation.tracking import bounce_secret
from recompra.automation.wakeup import listen_for_trigger_writes
from recompra.automation.webhooks import add_endpoint, rotate_secret
from recompra.automation.worker import run_worker
from recompra.cli.options import brand_id_of, exit_with, load_documents
from recompra.config import get_settings
from recompra.db import get_engine, unit_of_work
from recompra.errors import RecompraError
from recompra.hub.brands import DEFAULT_BRAND
from recompra.models.base import utcnow
from recompra.server import worker_jobs

journeys_app = typer.Typer(
    help="Post-sale journeys: apply, list, show, pause, resume.", no_args_is_help=True
)
webhooks_app = typer.Typer(
    help="Webhook endpoints and their signing secrets.", no_args_is_help=True
)

BrandOption = Annotated[str, typer.Option(help="Brand (store) slug")]
KeyArg = Annotated[str, typer.Argument(help="Journey key")]


@journeys_app.command("apply")
def apply(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="YAML/JSON file")],
    brand: BrandOption = DEFAULT_BRAND,
) -> None:
    """Create or version the journeys in FILE (all validated first: all or nothing)."""
    brand_id = brand_id_of(brand)
    try:
        definitions = [parse_journey(d) for d in load_documents(file)]
        with unit_of_work(get_engine()) as session:
            for definition in definitions:
                result = apply_journey(session, brand_id=brand_id, definition=definition)
                typer.echo(f"{result.key}: {result.outcome} (version {result.version})")
    except RecompraError as error:
        raise exit_with(error) from None


@journeys_app.command("list")
def list_(
    brand: BrandOption = DEFAULT_BRAND, as_json: Annotated[bool, typer.Option("--json")] = False
) -> None:
    """The brand's journeys with status, version and customers at each node."""
    with unit_of_work(get_engine(), write=False) as session:
        rows = list_journeys(session, brand_id=brand_id_of(brand))
    if as_json:
        typer.echo(json.dumps([asdict(r) for r in rows], ensure_ascii=False, indent=2))
        return
    for r in rows:
        nodes = ", ".join(f"{n}={c}" for n, c in r.at_node.items()) or "-"
        typer.echo(
            f"{r.key}\tv{r.version}\t{r.status}\t{r.trigger['type']}\t"
            f"active {r.active_runs}\tdone {r.finished_runs}\t{nodes}"
        )


@journeys_app.command("show")
def show(key: KeyArg, brand: BrandOption = DEFAULT_BRAND) -> None:
    """The definition in force, as YAML, and what each node decided so far."""
    try:
        with unit_of_work(get_engine(), write=False) as session:
            journey = get_journey(session, brand_id=brand_id_of(brand), key=key)
            document = to_display(current_definition(session, journey))
            outcomes = node_outcomes(session, brand_id=brand_id_of(brand), key=key)
    except RecompraError as error:
        raise exit_with(error) from None
    typer.echo(f"# version {journey.current_version}, {journey.status}")
    typer.echo(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), nl=False)
    for node, counts in outcomes.items():
        # What each node decided: sent, skipped by a cap, a property past the limit...
        typer.echo(f"# {node}: " + ", ".join(f"{column} {n}" for column, n in counts.items()))


def _set_status(key: str, brand: str, status: str) -> None:
    try:
        with unit_of_work(get_engine()) as session:
            set_status(session, brand_id=brand_id_of(brand), key=key, status=status)
    except RecompraError as error:
        raise exit_with(error) from None
    typer.echo(f"{key}: {status}")


@journeys_app.command("pause")
def pause(key: KeyArg, brand: BrandOption = DEFAULT_BRAND) -> None:
    """Stop entries and hold due timers until resumed."""
    _set_status(key, brand, "paused")


@journeys_app.command("resume")
def resume(key: KeyArg, brand: BrandOption = DEFAULT_BRAND) -> None:
    """Accept entries again; held timers are decided."""
    _set_status(key, brand, "active")


def worker(
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="Process what is due, then exit")
    ] = False,
    batch: Annotated[int, typer.Option(help="Timers decided per transaction")] = 500,
    timings: Annotated[
        bool,
        typer.Option(
            "--timings", help="At the end, print each step's and job's count, total and max"
        ),
    ] = False,
) -> None:
    """Run the automation worker: triggers, due timers, e-mail and webhook deliveries,
    and on a thread of their own the other jobs (cases from low reviews, lead-score
    refits, idempotency purges, measurement reports). Ctrl-C (or SIGTERM) stops it after
    its current pass."""
    automation = AutomationSettings()
    smtp = smtp_sender(automation)
    if smtp is None:
        typer.echo("RECOMPRA_SMTP_URL is not set: e-mails stay pending in the outbox", err=True)
    engine = get_engine()
    wake = threading.Event()
    # On PostgreSQL, a server's committed trigger writes wake this worker at once.
    listener = None if until_idle else listen_for_trigger_writes(engine, wake)
    stop = threading.Event()
    restore = _stop_on_signals(stop, wake)
    try:
        stats = run_worker(
            engine,
            decision_context(get_settings(), automation),
            smtp=smtp,
            sender=automation.smtp_from,
            until_idle=until_idle,
            batch=batch,
            wake=wake,
            stop=stop,
            jobs=worker_jobs(),
        )
    finally:
        restore()
        if listener is not None:
            listener.close()
        if smtp is not None:
            smtp.close()
    d = stats.delivery
    typer.echo(
        f"triggers {stats.triggers}, decided {stats.decided}, sent {d.sent}, failed {d.failed}, "
        # The other jobs' work together: cases opened, lead-score refits, idempotency
        # records purged, measurement reports computed (one total, not cases alone).
        f"suppressed {d.suppressed}, recovered {d.recovered}, jobs done {stats.jobs}"
    )
    if timings:
        for step, spent in sorted(stats.times.items()):
            typer.echo(
                f"{step}: {spent.count} times, {spent.total:.3f} s in all (CPU"
                f" {spent.cpu:.3f} s), max {spent.longest:.3f} s (CPU {spent.longest_cpu:.3f} s)"
            )


def _stop_on_signals(stop: threading.Event, wake: threading.Event) -> Callable[[], None]:
    """Until the returned function is called, SIGINT and SIGTERM set ``stop`` (the worker
    ends after its current pass and prints its totals); a second one acts as usual."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None  # signal handlers belong to the main thread (a test's runner)
    # A handler installed outside Python reads as None: the default is put back then.
    previous = {
        sig: signal.getsignal(sig) or signal.SIG_DFL for sig in (signal.SIGINT, signal.SIGTERM)
    }

    def handle(signum: int, _frame: object) -> None:
        stop.set()
        wake.set()
        signal.signal(signum, previous[signal.Signals(signum)])

    for sig in previous:
        signal.signal(sig, handle)

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


def mailbox(
    limit: Annotated[int, typer.Option(help="How many messages, newest first")] = 20,
    folder: Annotated[
        Path | None, typer.Option(help="Sink folder (default: RECOMPRA_HOME/demo-mail)")
    ] = None,
) -> None:
    """The e-mails the demo's local SMTP sink received, newest first."""
    folder = folder or get_settings().home / SINK_FOLDER
    messages = stored_mail(folder, limit=limit)
    if not messages:
        typer.echo(f"no messages in {folder}")
    for mail in messages:
        typer.echo(f"{mail.received_at:%Y-%m-%d %H:%M:%S}\t{mail.to}\t{mail.subject}\t{mail.path}")


@webhooks_app.command("add")
def webhooks_add(name: str, url: str, brand: BrandOption = DEFAULT_BRAND) -> None:
    """Register an endpoint; prints its signing secret (once)."""
    try:
        with unit_of_work(get_engine()) as session:
            _, secret = add_endpoint(session, brand_id=brand_id_of(brand), name=name, url=url)
    except RecompraError as error:
        raise exit_with(error) from None
    typer.echo(secret)


@webhooks_app.command("rotate")
def webhooks_rotate(name: str, brand: BrandOption = DEFAULT_BRAND) -> None:
    """A new signing secret; the previous one keeps signing until the next rotation."""
    try:
        with unit_of_work(get_engine()) as session:
            secret = rotate_secret(session, brand_id=brand_id_of(brand), name=name)
    except RecompraError as error:
        raise exit_with(error) from None
    typer.echo(secret)


@webhooks_app.command("bounce-secret")
def webhooks_bounce_secret() -> None:
    """The secret the mail provider signs bounce/complaint webhooks with
    (POST /v1/automation/bounces, Standard Webhooks)."""
    typer.echo(bounce_secret(get_settings().secret_key))


@journeys_app.command("coupons")
def coupons(
    pool: Annotated[str, typer.Argument(help="Pool name (a coupon node's pool)")],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="One code a line")],
    expires: Annotated[
        str | None, typer.Option(help="Expiry of these codes, YYYY-MM-DD (UTC midnight)")
    ] = None,
    brand: BrandOption = DEFAULT_BRAND,
) -> None:
    """Load coupon codes into a pool that coupon nodes give out, one per run."""
    try:
        expires_at = datetime.combine(date.fromisoformat(expires), time(), UTC) if expires else None
    except ValueError:
        raise typer.BadParameter("--expires takes a date YYYY-MM-DD") from None
    codes = file.read_text(encoding="utf-8").splitlines()
    try:
        with unit_of_work(get_engine()) as session:
            added = load_pool(
                session,
                brand_id=brand_id_of(brand),
                pool=pool,
                codes=codes,
                expires_at=expires_at,
                now=utcnow(),
            )
    except RecompraError as error:
        raise exit_with(error) from None
    typer.echo(f"{added} code(s) added to pool {pool}")
