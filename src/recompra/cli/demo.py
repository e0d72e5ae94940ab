"""``recompra demo``: the whole loop on one machine, from data to a running dashboard.

Builds a demo store (generated, or the Olist dataset with ``--olist DIR``), runs the
analytics, the predictions and the recommendations, sets up a loyalty program with points
earned on recent orders, creates a dashboard login and an API key, and serves the API and
the dashboard on 127.0.0.1. Every step is idempotent: running the demo again reuses what
is there.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import select

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
    summary = run_jobs(engine, now=datetime.now(UTC))
    return {"orders_earned": earned, **summary}


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
    _step("1/6 database")
    migrate.upgrade()
    if olist is not None:
        _step("2/6 importing Olist")
        hub.import_olist_command(directory=olist, brand=brand)
    else:
        _step("2/6 generating a demo store")
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
        "analytics": "3/6 analytics (RFM, segments, clusters, cohorts, KPIs)",
        "predictions": "4/6 predictions (CLV, P(alive), churn risk, back-test)",
        "recommendations": "5/6 recommendations (offer policy by segment and CLV) and loyalty",
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
    _step("6/6 access")
    user, key = _credentials()
    url = f"http://127.0.0.1:{port}/dashboard"
    console.print(f"[bold green]dashboard[/] {url}")
    console.print(f"[bold green]login[/]     {user} / {DEMO_PASSWORD}")
    console.print(f"[bold green]API key[/]   {key}  (header: Authorization: Bearer <key>)")
    console.print(f"[bold green]API docs[/]  http://127.0.0.1:{port}/docs")
    console.print(f"analytics report: {flows.output_dir('analytics', brand) / 'report.html'}")
    if serve:
        from recompra.cli.serve import serve as run_server

        run_server(host="127.0.0.1", port=port, workers=1)
