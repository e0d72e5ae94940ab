"""``recompra analyze|predict|pipeline``, ``recommend refresh``, ``evaluate recommendations``.

Thin commands: they parse options, call :mod:`recompra.pipeline` (which runs the domain
flows) and print. Each command exports a fresh snapshot of one brand unless
``--snapshot`` points at an existing one (e.g. a generated benchmark store or a Spark
cluster's Parquet); ``recompra pipeline`` exports once for its three steps.
"""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from recompra import pipeline as flows
from recompra.analytics.flows import AnalyticsResult
from recompra.engines.registry import ENGINES
from recompra.hub.brands import DEFAULT_BRAND
from recompra.predict.flows import MODEL_CHOICES, PredictionResult
from recompra.recommend.evaluate import evaluation_markdown, validation_markdown
from recompra.recommend.flows import LEVELS, RefreshConfig, evaluate_snapshot
from recompra.snapshot.as_of import parse_as_of

console = Console()
BrandOption = Annotated[str, typer.Option(help="Brand (store) slug.")]
SnapshotOption = Annotated[
    Path | None,
    typer.Option(help="Use this snapshot directory instead of exporting the database."),
]
OutOption = Annotated[Path | None, typer.Option(help="Output directory.")]
EngineOption = Annotated[str, typer.Option(help="duckdb (embedded) or spark.")]
AsOfOption = Annotated[
    str | None,
    typer.Option(help="As-of date YYYY-MM-DD, inclusive (default: the last purchase day)."),
]
ModelOption = Annotated[str, typer.Option(help="auto, bgnbd, pareto or mbgnbd.")]


def _as_of(value: str | None) -> date | None:
    try:
        return parse_as_of(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--as-of") from exc


def _check_choice(value: str, choices: tuple[str, ...], option: str) -> None:
    if value not in choices:
        raise typer.BadParameter(f"choose one of {', '.join(choices)}", param_hint=option)


def _source_and_target(
    snapshot: Path | None, out: Path | None, brand: str, step: str
) -> tuple[flows.Source, Path]:
    """The snapshot a step reads and the directory it writes (``--out`` or the brand's)."""
    return flows.snapshot_source(snapshot, brand), out or flows.output_dir(step, brand)


def _print_analytics(result: AnalyticsResult, source: flows.Source, out: Path) -> None:
    if source.brand_id is not None:
        console.print(f"scores stored for {len(result.scores):,} customers as of {result.as_of}")
    headline = {
        k: result.summary.get(k)
        for k in ("as_of", "customers_total", "orders_total", "repurchase_rate", "churn_rate")
    }
    console.print_json(json.dumps(headline, default=str))
    console.print(f"tables, summary.json and report.html in {out}")


def _print_predictions(result: PredictionResult, source: flows.Source, out: Path) -> None:
    console.print(
        f"scored {result.scores.num_rows:,} customers as of {result.as_of} with {result.model}"
    )
    if source.brand_id is not None:
        console.print(f"predictions stored as of {result.as_of}")
    if result.backtest is not None:
        _print_backtest(result.backtest)
    console.print(f"scores in {out}")


def _print_backtest(report: dict[str, Any]) -> None:
    """Every model next to the baselines it must beat, then why the served one was chosen."""
    if "error" in report:
        console.print(f"[yellow]back-test: {report['error']}[/yellow]")
        return
    table = Table(
        title=f"Back-test: calibration to {report['calibration_end']}, holdout to "
        f"{report['observation_end']} ({report['customers']:,} customers)"
    )
    for column in ("model", "holdout MAE", "RMSE", "total error", "vs best baseline"):
        table.add_column(column, justify="left" if column == "model" else "right")
    baselines: dict[str, dict[str, float]] = {}
    for name, model in report.get("models", {}).items():
        metrics = model.get("metrics") if isinstance(model, dict) else None
        if not metrics:
            table.add_row(name, "-", "-", "-", str(model.get("error", "not fitted")))
            continue
        baselines = model.get("baselines") or baselines
        comparison = model.get("comparison") or {}
        verdict = "-"
        if comparison:
            word = "beats" if comparison["beats_baselines"] else "loses to"
            verdict = (
                f"{word} {comparison['best_baseline']} by {abs(comparison['mae_margin']):.3f} MAE"
            )
        table.add_row(
            name,
            f"{metrics['mae']:.3f}",
            f"{metrics['rmse']:.3f}",
            f"{metrics['total_error_pct']:+.1f}%",
            verdict,
        )
    for name, metrics in baselines.items():
        table.add_row(
            f"baseline: {name}",
            f"{metrics['mae']:.3f}",
            f"{metrics['rmse']:.3f}",
            f"{metrics['total_error_pct']:+.1f}%",
            "",
        )
    console.print(table)
    console.print(_by_frequency_table(report.get("models", {}), list(baselines)))
    selection = report.get("selection") or {}
    if selection.get("reason_en"):
        console.print(f"served: {report['chosen_model']}. {selection['reason_en']}")
    seen: set[str] = set()
    for model in report.get("models", {}).values():
        for warning in model.get("warnings", []) if isinstance(model, dict) else []:
            if warning["message_en"] not in seen:
                seen.add(warning["message_en"])
                console.print(f"[yellow]warning: {warning['message_en']}[/yellow]")


def _by_frequency_table(models: dict[str, Any], baselines: list[str]) -> Table:
    """Holdout MAE per calibration-frequency bucket: every model next to every baseline."""
    fitted = {
        name: model["by_frequency"]
        for name, model in models.items()
        if isinstance(model, dict) and model.get("by_frequency")
    }
    table = Table(title="Holdout MAE by repeat orders in the calibration period")
    for column in ("repeat orders", "customers", "actual mean", *fitted, *baselines):
        table.add_column(column, justify="right")
    first: list[dict[str, float]] = next(iter(fitted.values()), [])
    for i, row in enumerate(first):
        label = f"{row['frequency']:.0f}" + ("+" if row["pooled_above"] else "")
        errors = [f"{rows[i]['mae']:.3f}" for rows in fitted.values()]
        errors += [f"{row.get(f'{name}_mae', float('nan')):.3f}" for name in baselines]
        table.add_row(label, f"{row['customers']:,.0f}", f"{row['actual_mean']:.3f}", *errors)
    return table


def _print_refresh(manifest: dict[str, Any], out: Path, policy: bool) -> None:
    table = Table(title=f"Recommendation tables written to {out}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in manifest["row_counts"].items():
        table.add_row(name, f"{rows:,}")
    console.print(table)
    seconds = ", ".join(f"{name} {value:.1f} s" for name, value in manifest["seconds"].items())
    shaped = "offers shaped by segment and CLV" if policy else "offers ranked on relevance only"
    console.print(f"[dim]{manifest['engine']}: {seconds}; {shaped}[/dim]")


def analyze(
    snapshot: SnapshotOption = None,
    out: OutOption = None,
    engine: EngineOption = "duckdb",
    as_of: AsOfOption = None,
    churn_days: Annotated[int, typer.Option(help="Churned after N days without orders.")] = 180,
    spark_master: Annotated[str | None, typer.Option(help="Spark master URL.")] = None,
    brand: BrandOption = DEFAULT_BRAND,
) -> None:
    """RFM segments, clusters, cohorts and KPIs: Parquet/CSV tables, summary.json, report.html."""
    _check_choice(engine, ENGINES, "--engine")
    day = _as_of(as_of)
    source, target = _source_and_target(snapshot, out, brand, "analytics")
    result = flows.run_analyze(
        source,
        out=target,
        engine=engine,
        as_of=day,
        churn_days=churn_days,
        spark_master=spark_master,
    )
    _print_analytics(result, source, target)


def predict(
    snapshot: SnapshotOption = None,
    out: OutOption = None,
    model: ModelOption = "auto",
    backtest: Annotated[
        bool,
        typer.Option("--backtest", help="Also back-test the models against the baselines."),
    ] = False,
    test_fraction: Annotated[
        float | None,
        typer.Option(
            help="Back-test holdout as a share of the history, e.g. 0.2 "
            "(default: a third, at most a year).",
            min=0.01,
            max=0.99,
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print the back-test report as JSON (needs --backtest)."),
    ] = False,
    as_of: AsOfOption = None,
    brand: BrandOption = DEFAULT_BRAND,
) -> None:
    """CLV, P(alive), expected orders, next order date and churn risk for every customer."""
    _check_choice(model, MODEL_CHOICES, "--model")
    if (as_json or test_fraction is not None) and not backtest:
        raise typer.BadParameter("needs --backtest", param_hint="--json/--test-fraction")
    day = _as_of(as_of)
    source, target = _source_and_target(snapshot, out, brand, "predictions")
    result = flows.run_predict(
        source,
        out=target,
        as_of=day,
        model=model,
        backtest=backtest,
        test_fraction=test_fraction,
    )
    if as_json:
        report = {k: v for k, v in (result.backtest or {}).items() if k != "tracking_svg"}
        typer.echo(json.dumps(report, indent=2, default=str))
        return
    _print_predictions(result, source, target)


def recommend_refresh(
    snapshot: SnapshotOption = None,
    out: OutOption = None,
    engine: Annotated[str, typer.Option(help="Co-purchase engine: duckdb or spark.")] = "duckdb",
    k: Annotated[int, typer.Option(help="Items kept per product and per customer.")] = 10,
    min_pair_count: Annotated[
        int, typer.Option(help="Minimum baskets holding a pair for it to be written.")
    ] = 1,
    segments: Annotated[
        bool,
        typer.Option(
            "--segments",
            help="Shape offers by the brand's latest stored segments and CLV "
            "(run analyze and predict first).",
        ),
    ] = False,
    brand: BrandOption = DEFAULT_BRAND,
) -> None:
    """Recompute co-purchase tables, bought-together and next-best-offer lists."""
    _check_choice(engine, ENGINES, "--engine")
    source, target = _source_and_target(snapshot, out, brand, "recommendations")
    try:
        policy = flows.stored_segments(source) if segments else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--segments") from exc
    manifest = flows.run_recommend(
        source,
        out=target,
        engine=engine,
        config=RefreshConfig(k=k, min_pair_count=min_pair_count),
        segments=policy,
    )
    _print_refresh(manifest, target, policy is not None)


def run_all(
    snapshot: SnapshotOption = None,
    engine: EngineOption = "duckdb",
    as_of: AsOfOption = None,
    model: ModelOption = "auto",
    brand: BrandOption = DEFAULT_BRAND,
) -> None:
    """Analyze, predict (with back-test) and recommend (with the offer policy) on one export."""
    _check_choice(engine, ENGINES, "--engine")
    _check_choice(model, MODEL_CHOICES, "--model")
    day = _as_of(as_of)
    source = flows.snapshot_source(snapshot, brand)
    result = flows.run_pipeline(
        source, engine=engine, as_of=day, model=model, progress=lambda step: console.rule(step)
    )
    _print_analytics(result.analytics, source, flows.output_dir("analytics", brand))
    _print_predictions(result.predictions, source, flows.output_dir("predictions", brand))
    _print_refresh(result.recommendations, flows.output_dir("recommendations", brand), True)


def evaluation_table(frame: pd.DataFrame, title: str = "") -> Table:
    """Render an evaluation frame (see ``evaluate_recommenders``) as a rich table."""
    k = frame.attrs.get("k", "k")
    table = Table(
        title=title or None,
        caption="items: all = everything bought in the test period; new = only items the "
        "customer had not bought before; cold_start = customers without earlier purchases",
    )
    for name in ("items", "model", "role", "customers"):
        table.add_column(name, justify="right" if name == "customers" else "left", no_wrap=True)
    for name in ("hit", "prec", "recall", "ndcg"):
        table.add_column(f"{name}@{k}", justify="right")
    table.add_column("coverage", justify="right")
    for row in frame.itertuples(index=False):
        table.add_row(
            str(row.items),
            str(row.model),
            str(row.role),
            f"{row.customers:,}",
            f"{row.hit_rate:.4f}",
            f"{row.precision:.4f}",
            f"{row.recall:.4f}",
            f"{row.ndcg:.4f}",
            f"{row.coverage:.4f}",
        )
    return table


def evaluation_json(frame: pd.DataFrame, test_fraction: float) -> dict[str, Any]:
    """Return an evaluation frame as JSON-ready values: the split, the plan, every row."""
    rows = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    return {
        "split": {
            "cutoff": frame.attrs["cutoff"],
            "test_fraction": test_fraction,
            "train_lines": frame.attrs["train_lines"],
            "test_lines": frame.attrs["test_lines"],
            "k": frame.attrs["k"],
            "population": frame.attrs["population"],
        },
        "plan": frame.attrs["plan"],
        "differences": frame.attrs["differences"],
        "rows": rows,
    }


def evaluate_recommendations(
    snapshot: SnapshotOption = None,
    level: Annotated[str, typer.Option(help="Item level: product or category.")] = "product",
    k: Annotated[int, typer.Option(help="Length of each recommendation list.")] = 10,
    test_fraction: Annotated[
        float, typer.Option(help="Share of the time span held out as the test period.")
    ] = 0.2,
    population: Annotated[
        str, typer.Option(help="Customers evaluated: returning (default) or all.")
    ] = "returning",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON (split, served plan, every row).")
    ] = False,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print a Markdown table (as pasted in the docs).")
    ] = False,
    validation_only: Annotated[
        bool,
        typer.Option(
            "--validation-only",
            help="Print the model selection's validation windows alone (Markdown, or the "
            "plan with --json); nothing is scored on the test period.",
        ),
    ] = False,
    brand: BrandOption = DEFAULT_BRAND,
) -> None:
    """Offline evaluation on a time split: the served lists next to every baseline."""
    _check_choice(level, LEVELS, "--level")
    _check_choice(population, ("returning", "all"), "--population")
    if k < 1:
        raise typer.BadParameter("k must be >= 1", param_hint="--k")
    if not 0.0 < test_fraction < 1.0:
        raise typer.BadParameter("must lie strictly between 0 and 1", param_hint="--test-fraction")
    started = time.perf_counter()
    source = flows.snapshot_source(snapshot, brand)
    frame = evaluate_snapshot(
        source.snapshot,
        level="product" if level == "product" else "category",
        k=k,
        test_fraction=test_fraction,
        population="all" if population == "all" else "returning",
        validation_only=validation_only,
    )
    if validation_only:
        if as_json:
            typer.echo(json.dumps({"cutoff": frame.attrs["cutoff"], "plan": frame.attrs["plan"]}))
        else:
            typer.echo(validation_markdown(frame))
        return
    if as_json:
        typer.echo(json.dumps(evaluation_json(frame, test_fraction), indent=2))
        return
    if markdown:
        typer.echo(evaluation_markdown(frame))
        return
    title = (
        f"Recommendations, {level} level, {population} customers "
        f"(train < {frame.attrs['cutoff'][:10]}: {frame.attrs['train_lines']:,} lines, "
        f"test: {frame.attrs['test_lines']:,} lines)"
    )
    console.print(evaluation_table(frame, title))
    for kind, choice in frame.attrs["plan"]["choices"].items():
        weights = ", ".join(f"{name} {w:g}" for name, w in choice["weights"].items())
        console.print(f"{kind}: {choice['reason']}" + (f" (weights: {weights})" if weights else ""))
    console.print(f"[dim]{time.perf_counter() - started:.1f} s[/dim]")
