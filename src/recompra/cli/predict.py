"""``recompra predict``: score every customer of a snapshot (CLV, P(alive), churn, ...).

Writes ``scores.parquet`` and ``scores.csv`` (one row per customer, see
:func:`recompra.predict.scoring.score_customers`) and, with ``--backtest``,
``backtest.json`` (calibration/holdout errors, tracking and conditional-expectation
tables of each model) and ``backtest_tracking.svg`` for the chosen model.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import typer

from recompra.predict.backtest import backtest as run_backtest
from recompra.predict.backtest import default_split
from recompra.predict.registry import MODELS
from recompra.predict.rfm import day_to_date, to_day, transactions_from_orders
from recompra.predict.scoring import score_customers, score_metadata
from recompra.snapshot.io import MANIFEST, read_table

MODEL_CHOICES = ("auto", *MODELS)


def _parse_as_of(value: str | None, snapshot: Path, fallback: datetime | None) -> datetime:
    if value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError as exc:
            raise typer.BadParameter(f"not an ISO date: {value!r}", param_hint="--as-of") from exc
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    manifest = snapshot / MANIFEST
    if manifest.exists():
        recorded = json.loads(manifest.read_text()).get("as_of")
        if recorded:
            parsed = datetime.fromisoformat(recorded)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if fallback is None:
        raise typer.BadParameter("the snapshot has no orders; give --as-of")
    return fallback


def backtest_report(orders: Any, as_of: datetime, chosen: str) -> dict[str, Any]:
    """Back-test every model on a calibration/holdout split ending at ``as_of``."""
    tx = transactions_from_orders(orders, as_of)
    if len(tx) == 0:
        return {"error": "no purchases"}
    as_of_day = to_day(as_of)
    split = default_split(tx.first_day, as_of_day)
    if split is None:
        return {"error": "history too short for a back-test (needs 84 days)"}
    report: dict[str, Any] = {
        "calibration_end": day_to_date(split).isoformat(),
        "observation_end": day_to_date(as_of_day).isoformat(),
        "chosen_model": chosen,
        "models": {},
    }
    for name in MODELS:
        try:
            result = run_backtest(
                tx,
                calibration_end=day_to_date(split),
                observation_end=day_to_date(as_of_day),
                model=name,
            )
            report["models"][name] = result.to_dict()
            if name == chosen:
                report["tracking_svg"] = result.tracking_svg()
        except Exception as exc:  # a model that cannot be fitted is reported, not fatal
            report["models"][name] = {"error": str(exc)}
    return report


def predict(
    snapshot: Annotated[Path, typer.Argument(help="Snapshot directory (orders.parquet).")],
    out: Annotated[Path, typer.Argument(help="Directory for scores and back-test files.")],
    model: Annotated[
        str, typer.Option(help="Transaction model: auto, bgnbd, pareto or mbgnbd.")
    ] = "auto",
    backtest: Annotated[
        bool, typer.Option("--backtest", help="Also back-test the models on a holdout split.")
    ] = False,
    as_of: Annotated[
        str | None,
        typer.Option(help="Scoring date (ISO, UTC); default: manifest as_of or last order."),
    ] = None,
) -> None:
    """Score every customer: P(alive), expected orders, next order date, CLV, churn risk."""
    if model not in MODEL_CHOICES:
        raise typer.BadParameter(f"choose one of {', '.join(MODEL_CHOICES)}", param_hint="--model")
    orders = read_table(snapshot, "orders")
    last = pc.max(orders.column("purchased_at")).as_py() if orders.num_rows else None
    when = _parse_as_of(as_of, Path(snapshot), last)
    scores = score_customers(orders, when, model=model)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(scores, out / "scores.parquet", compression="zstd")
    pacsv.write_csv(scores, out / "scores.csv")
    meta = score_metadata(scores)
    chosen = str(meta.get("model", model))
    typer.echo(f"scored {scores.num_rows} customers as of {when.isoformat()} with {chosen}")
    if backtest:
        report = backtest_report(orders, when, chosen)
        svg = report.pop("tracking_svg", None)
        if svg:
            (out / "backtest_tracking.svg").write_text(svg)
        report["selection"] = meta.get("model_selection")
        report["churn"] = meta.get("churn")
        (out / "backtest.json").write_text(json.dumps(report, indent=2, default=str))
        for name, result in report.get("models", {}).items():
            metrics = result.get("metrics") if isinstance(result, dict) else None
            if metrics:
                typer.echo(
                    f"  {name}: holdout MAE {metrics['mae']:.3f}, RMSE {metrics['rmse']:.3f}, "
                    f"total error {metrics['total_error_pct']:+.1f}%"
                )
