"""``recompra demo``: the whole loop on one machine, from data to a running dashboard.

Builds a demo store (generated, or the Olist dataset with ``--olist DIR``), runs the
analytics, the predictions and the recommendations, sets up a loyalty program with points
earned on recent orders, applies the ready-made journeys and places a few new orders for
them, starts a local SMTP sink (unless ``RECOMPRA_SMTP_URL`` is set), creates a dashboard
login and an API key, and serves the API and the dashboard on 127.0.0.1 with the
automation worker embedded. Every step is idempotent: running the demo again reuses what
is there.
"""

from __future__ import annotations

import os
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import func, select

from recompra import migrate
from recompra import pipeline as flows
from recompra.cli import hub
from recompra.config import get_settings
from recompra.db import get_engine, unit_of_work
from recompra.hub.brands import DEFAULT_BRAND, get_brand
from recompra.snapshot.schema import NON_PURCHASE_STATUSES

console = Console()
DEMO_USER = "demo@recompra.local"
DEMO_PASSWORD = "recompra-demo"
#: Orders whose points the demo earns (the most recent ones), to keep the demo quick.
LOYALTY_ORDERS = 400
#: New orders the demo places after applying the journeys, so that they have work to do.
DEMO_ORDERS = 20


def _step(text: str) -> None:
    console.rule(f"[bold]{text}")


def setup_loyalty(brand: str) -> dict[str, int]:
    """Create the demo program (rules, tiers, rewards) and earn points on recent orders."""
    from recompra.loyalty import (
        create_program,
        create_reward,
        define_tier,
        earn_for_order,
        publish_rules,
        run_jobs,
    )
    from recompra.models import Order
    from recompra.models.loyalty import LoyaltyProgram

    engine = get_engine()
    with unit_of_work(engine) as session:
        brand_id = get_brand(session, brand).id
        program = session.scalar(
            select(LoyaltyProgram).where(
                LoyaltyProgram.brand_id == brand_id, LoyaltyProgram.status == "active"
            )
        )
        first = session.scalar(
            select(Order.purchased_at)
            .where(Order.brand_id == brand_id)
            .order_by(Order.purchased_at)
        )
        if program is None:
            program = create_program(session, brand_id=brand_id, name="Clube Recompra")
            publish_rules(
                session,
                program_id=program.id,
                rules=[{"type": "base", "points_per_unit": 1}],
                effective_from=first or datetime.now(UTC),
                note="1 ponto por real",
            )
            for rank, (code, name, threshold, pct) in enumerate(
                [
                    ("bronze", "Bronze", 0, 100),
                    ("prata", "Prata", 50_000, 125),
                    ("ouro", "Ouro", 150_000, 150),
                ]
            ):
                define_tier(
                    session,
                    program_id=program.id,
                    code=code,
                    name=name,
                    rank=rank,
                    metric="spend",
                    threshold=threshold,
                    earn_multiplier_pct=pct,
                )
            for code, name, cost, stock in [
                ("frete", "Frete grátis", 150, 500),
                ("cupom20", "Cupom R$ 20", 400, 200),
            ]:
                create_reward(
                    session,
                    program_id=program.id,
                    code=code,
                    name=name,
                    cost_points=cost,
                    stock=stock,
                )
        program_id = program.id
        recent = session.execute(
            select(Order.id, Order.purchased_at)
            .where(Order.brand_id == brand_id, Order.status.not_in(NON_PURCHASE_STATUSES))
            .order_by(Order.purchased_at.desc())
            .limit(LOYALTY_ORDERS)
        ).all()
    earned = 0
    for order_id, purchased_at in reversed(recent):
        with unit_of_work(engine) as session:
            result = earn_for_order(
                session, program_id=program_id, order_id=order_id, now=purchased_at
            )
            earned += 0 if result.duplicate else 1
    # The store lives at its as-of (the Olist data ends in 2018): expiring at the wall
    # clock would expire every lot, leaving the program with no liability to weigh.
    summary = run_jobs(engine, now=store_as_of(brand))
    return {"orders_earned": earned, **summary}


def store_as_of(brand: str) -> datetime:
    """The demo store's present: its last order (the generated store ends today)."""
    from recompra.models import Order

    with unit_of_work(get_engine(), write=False) as session:
        brand_id = get_brand(session, brand).id
        last = session.scalar(
            select(func.max(Order.purchased_at)).where(Order.brand_id == brand_id)
        )
    if last is None:
        return datetime.now(UTC)
    return last if last.tzinfo else last.replace(tzinfo=UTC)


def setup_automation(brand: str) -> None:
    """Write the journeys' past (entries with a known effect, see
    :mod:`recompra.measurement.history`), apply the ready-made journeys and place the
    demo's orders for them."""
    from recompra.automation.demo import apply_ready_made, place_demo_orders
    from recompra.automation.settings import AutomationSettings, decision_context
    from recompra.measurement.history import write_journey_history

    engine = get_engine()
    with unit_of_work(engine, write=False) as session:
        row = get_brand(session, brand)
        brand_id, currency = row.id, row.default_currency
    history = write_journey_history(
        engine,
        brand_id=brand_id,
        currency=currency,
        as_of=store_as_of(brand),
        ctx=decision_context(get_settings(), AutomationSettings()),
    )
    console.print(
        f"journey history: entries {history.entries}, extra orders {history.extra_orders}, "
        f"{history.decisions} decisions"
    )
    for result in apply_ready_made(engine, brand_id=brand_id):
        console.print(f"journey {result.key}: {result.outcome} (version {result.version})")
    placed = place_demo_orders(
        engine, brand_id=brand_id, currency=currency, count=DEMO_ORDERS, now=datetime.now(UTC)
    )
    console.print(f"demo orders placed: {placed.placed} (demo customers: {placed.customers})")


def _mail_relay(stack: ExitStack) -> str:
    """``RECOMPRA_SMTP_URL`` when set; otherwise a local sink started for the demo."""
    from recompra.automation.sink import SINK_FOLDER, running_sink

    configured = os.environ.get("RECOMPRA_SMTP_URL")
    if configured:
        console.print(f"e-mails go to RECOMPRA_SMTP_URL ({configured.split('@')[-1]})")
        return configured
    folder = get_settings().home / SINK_FOLDER
    port = stack.enter_context(running_sink(folder))
    console.print(
        f"[bold green]mail sink[/] smtp://127.0.0.1:{port}: messages in {folder.resolve()} "
        "(list them with: recompra mailbox)"
    )
    return f"smtp://127.0.0.1:{port}"


def _run_worker_until_idle() -> None:
    from recompra.automation.settings import AutomationSettings, decision_context, smtp_sender
    from recompra.automation.worker import run_worker

    automation = AutomationSettings()
    smtp = smtp_sender(automation)
    try:
        stats = run_worker(
            get_engine(),
            decision_context(get_settings(), automation),
            smtp=smtp,
            sender=automation.smtp_from,
            until_idle=True,
        )
    finally:
        if smtp is not None:
            smtp.close()
    console.print(
        f"automation: {stats.triggers} trigger rows, {stats.decided} decisions, "
        f"{stats.delivery.sent} e-mails sent"
    )


def _credentials() -> tuple[str, str]:
    """The demo login (created once) and a fresh read+loyalty API key."""
    from recompra.auth.keys import create_api_key
    from recompra.auth.users import create_user
    from recompra.models import DashboardUser

    with unit_of_work(get_engine()) as session:
        if session.scalar(select(DashboardUser).where(DashboardUser.email == DEMO_USER)) is None:
            create_user(session, email=DEMO_USER, password=DEMO_PASSWORD, name="Demo")
        _, key = create_api_key(session, scopes=["read", "loyalty", "ingest"], name="demo")
    return DEMO_USER, key


def demo(
    olist: Annotated[
        Path | None, typer.Option(help="Import this Olist directory instead of generating.")
    ] = None,
    customers: Annotated[int, typer.Option(help="Customers of the generated store.")] = 3_000,
    port: Annotated[int, typer.Option(help="Port of the API and dashboard.")] = 8000,
    serve: Annotated[bool, typer.Option(help="Serve the dashboard at the end.")] = True,
    seed: Annotated[int, typer.Option(help="Seed of the generated store.")] = 7,
) -> None:
    """Build a demo store, run analytics, predictions and recommendations, and serve it."""
    brand = DEFAULT_BRAND
    settings = get_settings()
    console.print(f"data directory: {settings.home.resolve()}")
    _step("1/7 database")
    migrate.upgrade()
    if olist is not None:
        _step("2/7 importing Olist")
        hub.import_olist_command(directory=olist, brand=brand)
    else:
        _step("2/7 generating a demo store")
        today = datetime.now(UTC).date()
        hub.generate(
            out=None,
            customers=customers,
            orders=None,
            seed=seed,
            start=(today - timedelta(days=730)).isoformat(),
            end=today.isoformat(),
            parquet=False,
            brand=brand,
        )
    steps = {
        "analytics": "3/7 analytics (RFM, segments, clusters, cohorts, KPIs)",
        "predictions": "4/7 predictions (CLV, P(alive), churn risk, back-test)",
        "recommendations": "5/7 recommendations (offer policy by segment and CLV) and loyalty",
    }
    # One snapshot export feeds the three steps (see recompra.pipeline.run_pipeline).
    result = flows.run_pipeline(
        flows.export_brand_snapshot(brand), progress=lambda step: _step(steps[step])
    )
    console.print(
        f"as of {result.analytics.as_of}: {len(result.analytics.scores):,} customers segmented, "
        f"{result.predictions.scores.num_rows:,} scored with {result.predictions.model}"
    )
    console.print(setup_loyalty(brand))
    _step("6/7 journeys (ready-made post-sale automation)")
    setup_automation(brand)
    _step("7/7 access")
    user, key = _credentials()
    url = f"http://127.0.0.1:{port}/dashboard"
    console.print(f"[bold green]dashboard[/] {url}")
    console.print(f"[bold green]login[/]     {user} / {DEMO_PASSWORD}")
    console.print(f"[bold green]API key[/]   {key}  (header: Authorization: Bearer <key>)")
    console.print(f"[bold green]API docs[/]  http://127.0.0.1:{port}/docs")
    console.print(f"analytics report: {flows.output_dir('analytics', brand) / 'report.html'}")
    with ExitStack() as stack:
        os.environ["RECOMPRA_SMTP_URL"] = _mail_relay(stack)
        if not serve:
            _run_worker_until_idle()
            return
        from recompra.cli.serve import serve as run_server

        console.print("the automation worker runs inside the server (Ctrl+C stops both)")
        run_server(host="127.0.0.1", port=port, workers=1, worker=True)
