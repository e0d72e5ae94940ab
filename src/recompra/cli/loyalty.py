"""``recompra loyalty ...``: programs, balances and the daily expiry job (a Typer sub-app)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated

import typer

from recompra.cli.measurement import roi
from recompra.cli.options import parse_utc
from recompra.config import get_settings
from recompra.db import get_engine, unit_of_work
from recompra.loyalty import (
    create_program,
    get_account,
    publish_rules,
    run_jobs,
    simulate,
    verify_account,
)
from recompra.loyalty.analytics import program_analytics
from recompra.loyalty.coalition import brand_reports, join_coalition

app = typer.Typer(help="Loyalty programs, balances and jobs.", no_args_is_help=True)
program_app = typer.Typer(help="Create and configure programs.", no_args_is_help=True)
app.add_typer(program_app, name="program")
app.command("roi")(roi)


def _now(value: str | None) -> datetime:
    """The ISO time given (naive values are UTC), else the current time."""
    if value is None:
        return datetime.now(UTC)
    return parse_utc(value)


@program_app.command("create")
def program_create(
    brand_id: Annotated[int, typer.Option(help="Brand that runs the program")],
    name: Annotated[str, typer.Option(help="Program name")] = "Clube",
    return_window_days: Annotated[int, typer.Option(help="Days points stay pending")] = 7,
    release_on: Annotated[str, typer.Option(help="'window' or 'delivery'")] = "window",
    expiry_days: Annotated[int, typer.Option(help="Days a lot lives after release")] = 365,
    points_per_unit: Annotated[float, typer.Option(help="Points per currency unit")] = 1.0,
) -> None:
    """Create a brand's program with a first rule version (points per currency unit)."""
    with unit_of_work(get_engine()) as session:
        program = create_program(
            session,
            brand_id=brand_id,
            name=name,
            return_window_days=return_window_days,
            release_on=release_on,
            expiry_days=expiry_days,
        )
        publish_rules(
            session,
            program_id=program.id,
            rules=[{"type": "base", "points_per_unit": str(points_per_unit)}],
            effective_from=datetime(2000, 1, 1, tzinfo=UTC),
        )
        typer.echo(f"program {program.id} created for brand {brand_id}")


@program_app.command("rules")
def program_rules(
    program_id: Annotated[int, typer.Argument(help="Program id")],
    rules_file: Annotated[typer.FileText, typer.Argument(help="JSON list of rule objects")],
    effective_from: Annotated[str | None, typer.Option(help="ISO date (default now)")] = None,
) -> None:
    """Publish a new rule version from a JSON file."""
    rules = json.load(rules_file)
    with unit_of_work(get_engine()) as session:
        version = publish_rules(
            session, program_id=program_id, rules=rules, effective_from=_now(effective_from)
        )
        typer.echo(f"rules version {version.version} in force from {version.effective_from}")


@app.command("balance")
def balance(
    program_id: Annotated[int, typer.Argument(help="Program id")],
    customer_id: Annotated[int, typer.Argument(help="Customer id")],
) -> None:
    """Show a customer's balance, pending points and debt, checked against the ledger."""
    with unit_of_work(get_engine(), write=False) as session:
        account = get_account(session, program_id=program_id, customer_id=customer_id)
        report = verify_account(session, account_id=account.id)
    typer.echo(
        f"balance {report['balance']}  pending {report['pending']}  debt {report['debt']}  "
        f"ledger {'ok' if report['ok'] else 'MISMATCH'}"
    )
    if not report["ok"]:
        raise typer.Exit(code=1)


@app.command("simulate")
def simulate_order(
    program_id: Annotated[int, typer.Argument(help="Program id")],
    order_id: Annotated[int, typer.Argument(help="Order id")],
) -> None:
    """Explain, line by line, what an order earns (writes nothing)."""
    with unit_of_work(get_engine(), write=False) as session:
        result = simulate(session, program_id=program_id, order_id=order_id)
    for line in result.explanation:
        typer.echo(line)


@app.command("expire")
def expire(
    now: Annotated[str | None, typer.Option(help="Run as of this ISO time (default now)")] = None,
) -> None:
    """The daily job: release due pending points, expire lots, send expiry warnings."""
    summary = run_jobs(get_engine(), now=_now(now))
    typer.echo(
        f"released {summary['released_accounts']} account(s); expired "
        f"{summary['expired_points']} points in {summary['expired_lots']} lot(s); "
        f"warned {summary['warned']} account(s)"
    )


def _rate(ratio: float | None) -> str:
    """A ratio as a percentage with one decimal, or '-' when undefined."""
    return "-" if ratio is None else f"{ratio:.1%}"


@app.command("analytics")
def analytics(
    program_id: Annotated[int, typer.Argument(help="Program id")],
    now: Annotated[str | None, typer.Option(help="As of this ISO time (default now)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Redemption rate, breakage, liability, engagement per mechanic and CLTV by tier."""
    rate = get_settings().point_value_minor_per_1000
    with unit_of_work(get_engine(), write=False) as session:
        figures = program_analytics(
            session, program_id=program_id, now=_now(now), point_value_minor_per_1000=rate
        )
    if as_json:
        typer.echo(json.dumps(asdict(figures), default=str, indent=2))
        return
    typer.echo(
        f"members {figures.members}  issued {figures.issued}  redeemed {figures.redeemed}  "
        f"expired {figures.expired}"
    )
    typer.echo(
        f"redemption rate {_rate(figures.redemption_rate)}  breakage {_rate(figures.breakage)}  "
        f"liability {figures.liability_points} points = {figures.liability_minor / 100:.2f}"
    )
    typer.echo(
        f"challenge completion {_rate(figures.challenge_completion)}  quiz pass "
        f"{_rate(figures.quiz_pass_rate)}  referral conversion "
        f"{_rate(figures.referral_conversion)}"
    )
    for tier in figures.cltv_by_tier:
        typer.echo(
            f"tier {tier.tier_code or '-'}: {tier.members} member(s), "
            f"CLTV {tier.cltv_minor / 100:.2f}"
        )


@app.command("coalition")
def coalition(
    program_id: Annotated[int, typer.Argument(help="Program id")],
    join_brand: Annotated[int | None, typer.Option(help="Brand id joining the program")] = None,
    earn_rate_pct: Annotated[int, typer.Option(help="The joining brand's earn rate, %")] = 100,
) -> None:
    """Per-brand report of a coalition program (points and who pays); --join-brand adds one."""
    rate = get_settings().point_value_minor_per_1000
    with unit_of_work(get_engine(), write=join_brand is not None) as session:
        if join_brand is not None:
            join_coalition(
                session, program_id=program_id, brand_id=join_brand, earn_rate_pct=earn_rate_pct
            )
        reports = brand_reports(session, program_id=program_id, point_value_minor_per_1000=rate)
    for r in reports:
        typer.echo(
            f"brand {r.brand_id} ({r.earn_rate_pct}%): earned {r.points_earned}, redeemed here "
            f"{r.points_redeemed_here}, pays for {r.points_paid_for} "
            f"({r.cost_minor / 100:.2f}), settlement {r.net_settlement_minor / 100:+.2f}"
        )
