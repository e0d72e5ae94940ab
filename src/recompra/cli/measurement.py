"""``recompra uplift`` and ``recompra loyalty roi``: what each action earned, as a table
or as the JSON the API returns (logic in :mod:`recompra.measurement.service`)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from recompra.cli.options import brand_id_of, exit_with, parse_utc
from recompra.config import get_settings
from recompra.db import get_engine, unit_of_work
from recompra.errors import RecompraError
from recompra.hub.brands import DEFAULT_BRAND
from recompra.measurement.loyalty_roi import RoiSettings
from recompra.measurement.service import roi_report, uplift_report
from recompra.measurement.targeting_flow import fit_targeting
from recompra.measurement.uplift import WINDOW_DAYS, Settings

BrandOption = Annotated[str, typer.Option(help="Brand (store) slug")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the report as JSON")]


def _money(minor: int | None) -> str:
    return "-" if minor is None else f"R$ {minor / 100:,.2f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f}%"


def uplift(
    journey: Annotated[str | None, typer.Option(help="Only this journey (key)")] = None,
    as_json: JsonOption = False,
    brand: BrandOption = DEFAULT_BRAND,
    window_days: Annotated[
        int, typer.Option(help="Days after entry an order counts")
    ] = WINDOW_DAYS,
    now: Annotated[str | None, typer.Option(help="Report time (ISO; default: now)")] = None,
) -> None:
    """Incremental orders and revenue per journey (holdout, ITT) with 95% CIs, the MDE
    and the SRM check, with last-touch attribution next to them."""
    brand_id = brand_id_of(brand)
    at = parse_utc(now) if now else datetime.now(UTC)
    try:
        with unit_of_work(get_engine(), write=False) as session:
            report = uplift_report(
                session,
                brand_id=brand_id,
                now=at,
                journey_key=journey,
                settings=Settings(window_days=window_days),
            )
    except RecompraError as error:
        raise exit_with(error) from error
    if as_json:
        typer.echo(json.dumps(report, indent=2, ensure_ascii=False))
        return
    table = Table(title=f"Uplift ({report['window_days']}-day window, intention to treat)")
    for column in (
        "journey", "treated", "holdout", "conv. lift", "incremental revenue [95% CI]",
        "MDE", "SRM p", "decision", "attributed",
    ):  # fmt: skip
        table.add_column(column, overflow="fold")
    for row in report["journeys"]:
        table.add_row(*_uplift_cells(row))
    Console().print(table)


def _uplift_cells(row: dict[str, Any]) -> list[str]:
    attributed = _money(row["response"]["attributed_revenue_minor"])
    comparison = row["comparison"]
    if comparison is None:
        return [row["key"], "-", "-", "-", row["reason"], "-", "-", "-", attributed]
    money = comparison["incremental_revenue"]
    lift = comparison["conversion_lift"]
    return [
        row["key"],
        str(comparison["treated"]["eligible"]),
        str(comparison["control"]["eligible"]),
        f"{_pct(lift['value'])} [{_pct(lift['ci_low'])}, {_pct(lift['ci_high'])}]",
        f"{_money(money['value_minor'])} "
        f"[{_money(money['ci_low_minor'])}, {_money(money['ci_high_minor'])}]",
        _pct(comparison["mde"]["conversion_mde"]),
        f"{comparison['srm_p_value']:.3f}" if comparison["srm_p_value"] is not None else "-",
        comparison["decision"],
        attributed,
    ]


def roi(
    as_json: JsonOption = False,
    brand: BrandOption = DEFAULT_BRAND,
    post_days: Annotated[int, typer.Option(help="Days after enrolment measured")] = 180,
    margin_rate: Annotated[float, typer.Option(help="Gross margin on revenue (0-1)")] = 0.30,
    now: Annotated[
        str | None, typer.Option(help="As of (ISO; default: end of the last purchase day)")
    ] = None,
) -> None:
    """The loyalty program's ROI: members against matched non-members (observational),
    points liability, redemption cost and rate, incremental margin per point."""
    brand_id = brand_id_of(brand)
    settings = RoiSettings(
        post_days=post_days,
        margin_rate=margin_rate,
        point_value_minor_per_1000=get_settings().point_value_minor_per_1000,
    )
    with unit_of_work(get_engine(), write=False) as session:
        report = roi_report(
            session, brand_id=brand_id, now=parse_utc(now) if now else None, settings=settings
        )
    if as_json:
        typer.echo(json.dumps(report, indent=2, ensure_ascii=False))
        return
    typer.echo(f"members {report['members']}, matched {report['matched']} ({report['method']})")
    margin = report["incremental_margin"]
    if margin is None:
        typer.echo(f"no estimate: {report['reason']}")
    else:
        typer.echo(
            f"incremental margin {_money(margin['value_minor'])} "
            f"[{_money(margin['ci_low_minor'])}, {_money(margin['ci_high_minor'])}]"
        )
    points = report["points"]
    if points is not None:
        typer.echo(
            f"points issued {points['issued']}, redeemed {points['redeemed']} "
            f"({_pct(points['redemption_rate'])}), liability {_money(points['liability_minor'])}"
        )
    if report["roi"] is not None:
        r = report["roi"]
        typer.echo(f"ROI {_pct(r['value'])} [{_pct(r['ci_low'])}, {_pct(r['ci_high'])}]")


def uplift_target(
    journey: Annotated[str, typer.Option(help="The journey (key) to target")],
    as_json: JsonOption = False,
    brand: BrandOption = DEFAULT_BRAND,
    now: Annotated[str | None, typer.Option(help="Fit time (ISO; default: now)")] = None,
) -> None:
    """Fit the uplift models on the journey's holdout data; from then on the journey
    sends marketing messages only to customers with a positive predicted uplift, if and
    only if a model's Qini 95% CI lies above zero (otherwise it says why not)."""
    brand_id = brand_id_of(brand)
    at = parse_utc(now) if now else datetime.now(UTC)
    try:
        with unit_of_work(get_engine()) as session:
            decision = fit_targeting(session, brand_id=brand_id, journey_key=journey, now=at)
    except RecompraError as error:
        raise exit_with(error) from error
    if as_json:
        typer.echo(json.dumps(dataclasses.asdict(decision), indent=2))
        return
    if not decision.enabled:
        typer.echo(f"{journey}: targeting off ({decision.reason})")
        return
    typer.echo(
        f"{journey}: targeting on with {decision.model}, Qini {decision.qini:.4f} "
        f"[{decision.ci_low:.4f}, {decision.ci_high:.4f}]; "
        f"{decision.positive} of {decision.predicted} customers predicted to respond"
    )
