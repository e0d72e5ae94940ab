"""Commercial commands: funnel import, funnel, deal forecast, lead score, spend and CAC,
OKRs and the maturity assessment (thin: the work is in recompra.commercial and reads)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from recompra.cli.hub import BrandOption, DebugOption, guarded_import
from recompra.cli.options import brand_id_of, exit_with, load_documents
from recompra.commercial import okrs as okr_service
from recompra.commercial.cac import MISSING
from recompra.commercial.funnel_sql import DIMENSIONS
from recompra.commercial.maturity import DIMENSIONS as MATURITY_DIMENSIONS
from recompra.commercial.maturity import save_answers
from recompra.commercial.olist_funnel import import_olist_funnel
from recompra.commercial.spend import import_spend_csv
from recompra.db import get_engine, unit_of_work
from recompra.engines.registry import ENGINES
from recompra.errors import RecompraError
from recompra.hub.brands import DEFAULT_BRAND
from recompra.models.base import utcnow
from recompra.reads import commercial as reads

console = Console()
forecast_app = typer.Typer(help="Forecasts.", no_args_is_help=True)
leads_app = typer.Typer(help="Leads of the B2B pipeline.", no_args_is_help=True)
okrs_app = typer.Typer(help="OKRs bound to live KPIs.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def import_olist_funnel_command(
    directory: Annotated[Path, typer.Argument(help="Directory with the olist_*.csv(.gz) files.")],
    brand: BrandOption = DEFAULT_BRAND,
    debug: DebugOption = False,
) -> None:
    """Import Olist's marketing-qualified leads and closed deals (idempotent)."""
    guarded_import(
        "olist_funnel",
        "olist_funnel",
        str(directory),
        brand,
        debug,
        lambda engine, brand_id, _tick: import_olist_funnel(engine, directory, brand_id=brand_id),
    )


def import_spend_command(
    file: Annotated[Path, typer.Argument(help="CSV: month, channel, audience, amount[, paid].")],
    brand: BrandOption = DEFAULT_BRAND,
    debug: DebugOption = False,
) -> None:
    """Import marketing spend by channel and month (idempotent)."""
    guarded_import(
        "spend",
        "spend_csv",
        str(file),
        brand,
        debug,
        lambda engine, brand_id, _tick: import_spend_csv(engine, file, brand_id=brand_id),
    )


def funnel(
    by: Annotated[str, typer.Option(help=f"Group by: {', '.join(DIMENSIONS)}.")] = "channel",
    engine: Annotated[str, typer.Option(help="duckdb (embedded) or spark.")] = "duckdb",
    brand: BrandOption = DEFAULT_BRAND,
    as_json: JsonOption = False,
) -> None:
    """Lead conversion (Wilson 95% CI), time to close, shrunk ranking, rep concentration."""
    if by not in DIMENSIONS:
        raise typer.BadParameter(f"--by must be one of {', '.join(DIMENSIONS)}")
    if engine not in ENGINES:
        raise typer.BadParameter(f"--engine must be one of {', '.join(ENGINES)}")
    brand_id = brand_id_of(brand)
    with unit_of_work(get_engine(), write=False) as session:
        report = reads.funnel_report(session, brand_id=brand_id, by=by, engine=engine)
    if as_json:
        _print_json(report)
        return
    table = Table(title=f"conversion by {by}")
    for column in ("group", "leads", "won", "rate", "95% CI"):
        table.add_column(column, justify="left" if column == "group" else "right")
    for row in report["overall"] + report["groups"]:
        interval = f"{_pct(row['ci_low'])} – {_pct(row['ci_high'])}"
        table.add_row(
            row["group"], f"{row['leads']:,}", f"{row['won']:,}", _pct(row["rate"]), interval
        )
    console.print(table)
    close = report["time_to_close"]
    console.print(
        f"time to close (days): median {close['median']}, quartiles {close['q1']}–{close['q3']}, "
        + ", ".join(f"≤{h}d {_pct(v)}" for h, v in close["within"].items())
        + f" ({close['deals']} deals, {close['excluded']} excluded)"
    )
    reps = report["rep_concentration"]
    console.print(
        f"reps: {reps['reps']}, top rep {_pct(reps['top_rep_share'])} of deals, "
        f"HHI {reps['hhi']:.3f}, {reps['reps_for_80_percent']} reps close 80%"
    )
    if report["data_quality"]:
        console.print(f"data-quality flags: {report['data_quality']}")
    if "warning" in report:
        console.print(f"[yellow]{report['warning']}[/yellow]")


@forecast_app.command("deals")
def forecast_deals(
    backtest: Annotated[
        bool, typer.Option("--backtest", help="Run and store the rolling one-step back-test.")
    ] = False,
    brand: BrandOption = DEFAULT_BRAND,
    as_json: JsonOption = False,
) -> None:
    """Won deals next month (lag model), weighted pipeline, and WAPE against baselines."""
    brand_id = brand_id_of(brand)
    with unit_of_work(get_engine()) as session:
        report = reads.forecast_report(
            session, brand_id=brand_id, run_backtest=backtest, at=utcnow()
        )
    if as_json:
        _print_json(report)
        return
    weighted = report["weighted_pipeline"]
    console.print(
        f"open deals {weighted['open_deals']}, weighted pipeline "
        f"{weighted['weighted_amount_minor'] / 100:,.2f}"
    )
    if "next_month" in report:
        nxt = report["next_month"]
        console.print(f"won deals forecast for {nxt['month']}: {nxt['won_deals']:.1f}")
    if "backtest" in report:
        table = Table(title="rolling one-step back-test")
        for column in ("month", "actual", "lag_cohort", "naive_last_month", "mean_3_months"):
            table.add_column(column, justify="right")
        for row in report["backtest"]["rows"]:
            f = row["forecasts"]
            table.add_row(
                row["month"],
                str(row["actual"]),
                *(f"{f[m]:.1f}" for m in ("lag_cohort", "naive_last_month", "mean_3_months")),
            )
        console.print(table)
        for model, value in report["backtest"]["wape"].items():
            console.print(f"WAPE {model}: {_pct(value)}")
    if "missing" in report:
        console.print(f"[yellow]{report['missing']}[/yellow]")


@leads_app.command("score")
def leads_score(brand: BrandOption = DEFAULT_BRAND, as_json: JsonOption = False) -> None:
    """Fit both lead-score models, report CV AUC and top-decile lift, store the best."""
    brand_id = brand_id_of(brand)
    with unit_of_work(get_engine()) as session:
        report = reads.lead_score_report(session, brand_id=brand_id, at=utcnow())
    if as_json:
        _print_json(report)
        return
    if "missing" in report:
        console.print(f"[yellow]{report['missing']}[/yellow]")
        return
    for model in report["models"]:
        console.print(
            f"{model['model']}: AUC {model['auc']:.3f}, top-decile lift "
            f"{model['top_decile_lift']:.2f} ({model['leads']:,} leads, {model['converted']:,} won)"
        )
    console.print(f"stored {report['scored']:,} scores from {report['chosen']}")


def cac(
    gross_margin: Annotated[
        float | None, typer.Option(help="Gross-margin rate (0..1) for payback months.")
    ] = None,
    brand: BrandOption = DEFAULT_BRAND,
    as_json: JsonOption = False,
) -> None:
    """Blended, paid and per-channel CAC for B2C and B2B, payback and LTV:CAC."""
    brand_id = brand_id_of(brand)
    with unit_of_work(get_engine(), write=False) as session:
        report = reads.cac_report(session, brand_id=brand_id, gross_margin=gross_margin)
    if as_json:
        _print_json(report)
        return
    for audience in report["audiences"]:
        console.print(f"[bold]{audience['audience']}[/bold]")

        def money(v: int | None) -> str:
            return "—" if v is None else f"{v / 100:,.2f}"

        console.print(
            f"  spend {money(audience['spend_minor'])}, new customers "
            f"{audience['new_customers']:,}, blended CAC {money(audience['blended_minor'])}, "
            f"paid CAC {money(audience['paid_minor'])}, payback months "
            f"{audience['payback_months'] if audience['payback_months'] is not None else '—'}, "
            f"LTV:CAC {audience['ltv_to_cac'] if audience['ltv_to_cac'] is not None else '—'}"
        )
        for channel in audience["channels"]:
            console.print(
                f"  {channel['channel']}: spend {money(channel['spend_minor'])}, "
                f"{channel['new_customers']} new, CAC {money(channel['cac_minor'])}"
            )
        for missing in audience["missing"]:
            console.print(f"  [yellow]missing: {MISSING[missing]}[/yellow]")


@okrs_app.command("seed")
def okrs_seed(brand: BrandOption = DEFAULT_BRAND) -> None:
    """Install seed 003's five OKRs, each key result starting at its KPI's current value."""
    brand_id = brand_id_of(brand)
    with unit_of_work(get_engine()) as session:
        skipped = okr_service.install_templates(session, brand_id=brand_id)
    typer.echo(f"{len(okr_service.TEMPLATES)} objectives installed")
    for line in skipped:
        typer.echo(f"skipped {line}")


def _print_objective(objective: dict[str, Any]) -> None:
    console.print(
        f"[bold]{objective['key']}[/bold] {objective['title_pt']}: {_pct(objective['progress'])}"
    )
    for kr in objective["key_results"]:
        value = kr["current"]["value"]
        state = (kr["inconclusive"] and f"inconclusive ({kr['inconclusive']})") or _pct(
            kr["progress"]
        )
        console.print(
            f"  {kr['key']} ({kr['kpi']}) start {kr['start']:.4g} → target {kr['target']:.4g}, "
            f"now {value if value is None else f'{value:.4g}'}: {state}"
        )


@okrs_app.command("list")
def okrs_list(brand: BrandOption = DEFAULT_BRAND, as_json: JsonOption = False) -> None:
    """Every objective with its progress."""
    brand_id = brand_id_of(brand)
    with unit_of_work(get_engine(), write=False) as session:
        report = reads.okr_report(session, brand_id=brand_id)
    if as_json:
        _print_json(report)
        return
    for objective in report:
        _print_objective(objective)


@okrs_app.command("show")
def okrs_show(
    key: Annotated[str, typer.Argument(help="Objective key")],
    brand: BrandOption = DEFAULT_BRAND,
    as_json: JsonOption = False,
) -> None:
    """One objective with its key results."""
    brand_id = brand_id_of(brand)
    try:
        with unit_of_work(get_engine(), write=False) as session:
            report = reads.okr_report(session, brand_id=brand_id, key=key)
    except RecompraError as error:
        raise exit_with(error) from None
    if as_json:
        _print_json(report[0])
        return
    _print_objective(report[0])


def maturity(
    answers: Annotated[
        Path | None,
        typer.Option(
            help="YAML/JSON questionnaire: dimension -> yes/no answers of levels 2..5.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    lang: Annotated[str, typer.Option(help="pt-BR or en")] = "pt-BR",
    brand: BrandOption = DEFAULT_BRAND,
    as_json: JsonOption = False,
) -> None:
    """Maturity per dimension: the questionnaire capped by evidence from the data."""
    brand_id = brand_id_of(brand)
    if answers is not None:
        documents = load_documents(answers)
        given = {str(k): [bool(v) for v in values] for k, values in documents[0].items()}
        unknown = set(given) - set(MATURITY_DIMENSIONS)
        if unknown:
            raise typer.BadParameter(f"unknown dimensions: {', '.join(sorted(unknown))}")
        with unit_of_work(get_engine()) as session:
            save_answers(session, brand_id=brand_id, answers=given)
    with unit_of_work(get_engine(), write=False) as session:
        report = reads.maturity_report(session, brand_id=brand_id)
    if as_json:
        _print_json(report)
        return
    suffix = "en" if lang == "en" else "pt"
    for dim in report["dimensions"]:
        level = dim["level"]
        name = report["levels"][str(level)][suffix]
        claimed = "—" if dim["claimed"] is None else dim["claimed"]
        console.print(
            f"[bold]{dim[f'name_{suffix}']}[/bold]: {level} ({name}); "
            f"evidence {dim['evidence_level']}, self-assessed {claimed}"
        )
        if dim[f"blocker_{suffix}"]:
            console.print(f"  → {dim[f'next_question_{suffix}']} ({dim[f'blocker_{suffix}']})")
