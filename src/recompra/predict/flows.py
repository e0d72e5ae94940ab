"""The prediction run: snapshot orders -> per-customer scores (+ back-test) -> output files.

:func:`predict_customers` scores every customer with
:func:`~recompra.predict.scoring.score_customers` as of an inclusive UTC date (see
:mod:`recompra.snapshot.as_of`) and, on request, back-tests every model;
:func:`write_predictions` writes ``scores.parquet``/``scores.csv`` and, with a back-test,
``backtest.json`` (calibration/holdout errors, tracking and conditional-expectation tables
of each model) and ``backtest_tracking.svg`` for the chosen model. Storing the scores in
the database is the caller's business (:mod:`recompra.pipeline`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from recompra.predict.backtest import backtest as run_backtest
from recompra.predict.backtest import default_split
from recompra.predict.registry import MODELS
from recompra.predict.rfm import day_to_date, to_day, transactions_from_orders
from recompra.predict.scoring import score_customers, score_metadata
from recompra.snapshot.as_of import as_of_cutoff

#: Values of ``model``: "auto" picks by back-test, the others force a model.
MODEL_CHOICES = ("auto", *MODELS)


@dataclass(frozen=True)
class PredictionResult:
    """What one prediction run produces.

    Attributes
    ----------
    as_of
        The inclusive UTC as-of date the customers were scored at.
    scores
        One row per customer (see :func:`~recompra.predict.scoring.score_customers`).
    model
        The transaction model used (the one "auto" chose, or the requested one).
    backtest
        The back-test report (see :func:`backtest_report`), or ``None`` when not asked for.
    """

    as_of: date
    scores: pa.Table
    model: str
    backtest: dict[str, Any] | None = None


def backtest_report(
    orders: pa.Table, as_of: date, chosen: str, *, test_fraction: float | None = None
) -> dict[str, Any]:
    """Back-test every model on a calibration/holdout split ending on the ``as_of`` day.

    The report holds the split dates, the chosen model, each model's result with the
    baselines it is compared with (or the error that stopped it) and ``tracking_svg``, the
    chosen model's tracking chart. ``test_fraction`` sets the holdout's share of the history
    (default: a third, at most a year).
    """
    tx = transactions_from_orders(orders, as_of_cutoff(as_of))
    if len(tx) == 0:
        return {"error": "no purchases"}
    as_of_day = to_day(as_of)
    split = default_split(tx.first_day, as_of_day, test_fraction=test_fraction)
    if split is None:
        return {"error": "history too short for a back-test (needs 84 days)"}
    report: dict[str, Any] = {
        "calibration_end": day_to_date(split).isoformat(),
        "observation_end": day_to_date(as_of_day).isoformat(),
        "chosen_model": chosen,
        "test_fraction": test_fraction,
        "customers": int(np.unique(tx.customer_id).size),
        "purchases": len(tx),
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


def predict_customers(
    orders: pa.Table,
    *,
    as_of: date,
    model: str = "auto",
    backtest: bool = False,
    test_fraction: float | None = None,
) -> PredictionResult:
    """Score every customer of the snapshot ``orders`` as of the inclusive ``as_of`` day.

    Parameters
    ----------
    orders
        Snapshot ``orders`` table.
    as_of
        Inclusive UTC date: purchases up to the end of that day count.
    model
        One of :data:`MODEL_CHOICES`.
    backtest
        Also back-test every model (the report lands in :attr:`PredictionResult.backtest`).
    test_fraction
        The back-test's holdout share of the history (default: a third, at most a year).

    Raises
    ------
    ValueError
        For an unknown ``model``.
    """
    if model not in MODEL_CHOICES:
        raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODEL_CHOICES)}")
    scores = score_customers(orders, as_of_cutoff(as_of), model=model, test_fraction=test_fraction)
    meta = score_metadata(scores)
    chosen = str(meta.get("model", model))
    report = None
    if backtest:
        report = backtest_report(orders, as_of, chosen, test_fraction=test_fraction)
        report["selection"] = meta.get("model_selection")
        report["churn"] = meta.get("churn")
    return PredictionResult(as_of=as_of, scores=scores, model=chosen, backtest=report)


def write_predictions(result: PredictionResult, out: Path) -> Path:
    """Write the scores (Parquet, CSV) and any back-test report and chart into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(result.scores, out / "scores.parquet", compression="zstd")
    pacsv.write_csv(result.scores, out / "scores.csv")
    if result.backtest is not None:
        report = dict(result.backtest)
        svg = report.pop("tracking_svg", None)
        if svg:
            (out / "backtest_tracking.svg").write_text(svg)
        (out / "backtest.json").write_text(json.dumps(report, indent=2, default=str))
    return out
