"""Back-tests on a calibration/holdout split of the transactions.

A model is fitted on the calibration period and asked for the purchases of each
calibration customer in the holdout period. Reported: per-customer MAE and RMSE,
aggregate error, the weekly tracking of cumulative repeat purchases (actual vs.
expected, including the calibration period), conditional expectations by calibration
frequency, the fit's plain-language warnings, and — next to every model, on the same
customers — the baselines a model must beat to be worth serving:

* ``same_rate``: each customer repeats their calibration rate (``frequency / T``);
* ``recency``: the empirical recency table of :mod:`recompra.predict.empirical`;
* ``rfm_gbm``: gradient boosting on RFM features (same module).

The two learned baselines train on the calibration period alone (a time split inside
it), so they see nothing of the holdout. All outputs are plain tables (lists of dicts)
plus an optional SVG chart drawn from a string template, so that the HTML report can
embed them without matplotlib.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

import numpy as np

from recompra.predict._base import BTYDModel, FloatArray, ScoringModel
from recompra.predict.empirical import TIME_SPLIT_MODELS
from recompra.predict.registry import fit_model
from recompra.predict.rfm import RFMSummary, Transactions, day_to_date, summarize, to_day

#: Frequencies at or above this are pooled in the conditional-expectation table.
FREQUENCY_CAP = 7
#: The "each customer repeats their calibration rate" baseline.
SAME_RATE = "same_rate"


@dataclass
class BacktestResult:
    """Outcome of :func:`backtest` (JSON-ready through :meth:`to_dict`)."""

    model: str
    params: dict[str, float]
    log_likelihood: float | None
    calibration_end: date
    observation_end: date
    time_unit_days: float
    n_customers: int
    metrics: dict[str, float]
    tracking: list[dict[str, float]] = field(default_factory=list)
    by_frequency: list[dict[str, float]] = field(default_factory=list)
    #: Baseline name -> the same error metrics, on the same customers and holdout.
    baselines: dict[str, dict[str, float]] = field(default_factory=dict)
    #: The model against its best baseline (see :func:`compare_with_baselines`).
    comparison: dict[str, Any] = field(default_factory=dict)
    #: The fit's plain-language warnings (``code``, ``message_en``, ``message_pt``).
    warnings: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        out = asdict(self)
        out["calibration_end"] = self.calibration_end.isoformat()
        out["observation_end"] = self.observation_end.isoformat()
        return out

    def tracking_svg(self, width: int = 640, height: int = 320) -> str:
        """Cumulative repeat purchases, actual (solid) vs. expected (dashed), as SVG."""
        return tracking_svg(self.tracking, self.calibration_periods, width=width, height=height)

    @property
    def calibration_periods(self) -> float:
        """Number of time units from the first purchase to the calibration end."""
        for row in self.tracking:
            if row.get("holdout"):
                return float(row["period"]) - 1
        return float(self.tracking[-1]["period"]) if self.tracking else 0.0


def backtest(
    transactions: Transactions,
    *,
    calibration_end: date | str,
    observation_end: date | str,
    model: str | BTYDModel = "bgnbd",
    time_unit_days: float = 7.0,
) -> BacktestResult:
    """Fit ``model`` up to ``calibration_end`` and score it on the holdout period.

    ``model`` is a BTYD model (name or instance) or a time-split model name (``recency``,
    ``rfm_gbm``), which learns from the calibration period only.
    """
    t = transactions
    summary = summarize(
        t.customer_id,
        t.purchased_at,
        t.value,
        calibration_end=calibration_end,
        observation_end=observation_end,
        time_unit_days=time_unit_days,
    )
    if len(summary) == 0:
        raise ValueError("no customer purchased in the calibration period")
    fitted: ScoringModel
    if isinstance(model, str):
        fitted = fit_model(model, t, summary, horizon_days=summary.holdout_days)
    else:
        fitted = model.fit(summary.frequency, summary.recency, summary.T)
    return evaluate(fitted, summary, transactions)


def same_rate_prediction(summary: RFMSummary, periods: float) -> FloatArray:
    """The naive baseline: each customer's calibration rate ``frequency / T`` carried forward."""
    rate = np.where(summary.T > 0, summary.frequency / np.maximum(summary.T, 1e-12), 0.0)
    return np.asarray(rate * periods, dtype=np.float64)


def baseline_predictions(summary: RFMSummary, transactions: Transactions) -> dict[str, FloatArray]:
    """Holdout predictions of every baseline for the customers of ``summary``.

    A learned baseline whose history is too short for its time split is left out.
    """
    assert summary.holdout_frequency is not None, "summary needs an observation_end"
    periods = summary.holdout_days / summary.time_unit_days
    out = {SAME_RATE: same_rate_prediction(summary, periods)}
    for name in TIME_SPLIT_MODELS:
        try:
            fitted = fit_model(name, transactions, summary, horizon_days=summary.holdout_days)
        except ValueError:
            continue
        out[name] = fitted.conditional_expected_purchases(
            periods, summary.frequency, summary.recency, summary.T
        )
    return out


def error_metrics(predicted: FloatArray, actual: FloatArray) -> dict[str, float]:
    """Per-customer MAE and RMSE and the aggregate (predicted vs. actual total) error."""
    err = predicted - actual
    return {
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "total_predicted": float(predicted.sum()),
        "total_error_pct": float(100 * (predicted.sum() - actual.sum()) / max(actual.sum(), 1e-12)),
    }


def compare_with_baselines(
    model_name: str, metrics: dict[str, float], baselines: dict[str, dict[str, float]]
) -> dict[str, Any]:
    """The model's MAE against the best *other* baseline: who wins and by how much.

    ``mae_margin`` is the model's MAE minus the best baseline's (negative: the model wins).
    """
    others = {k: v for k, v in baselines.items() if k != model_name}
    if not others:
        return {}
    best = min(others, key=lambda k: others[k]["mae"])
    margin = metrics["mae"] - others[best]["mae"]
    return {
        "best_baseline": best,
        "best_baseline_mae": others[best]["mae"],
        "mae_margin": margin,
        "beats_baselines": margin < 0,
    }


def evaluate(
    model: ScoringModel,
    summary: RFMSummary,
    transactions: Transactions,
    *,
    baselines: dict[str, FloatArray] | None = None,
) -> BacktestResult:
    """Back-test metrics of an already fitted ``model`` on ``summary``'s holdout.

    ``baselines`` (from :func:`baseline_predictions`) saves recomputing them when several
    models are evaluated on the same split.
    """
    assert summary.holdout_frequency is not None, "summary needs an observation_end"
    assert model.params_ is not None
    unit = summary.time_unit_days
    horizon = summary.holdout_days / unit
    actual = summary.holdout_frequency
    predicted = model.conditional_expected_purchases(
        horizon, summary.frequency, summary.recency, summary.T
    )
    if baselines is None:
        baselines = baseline_predictions(summary, transactions)
    naive = baselines[SAME_RATE]
    metrics = {
        **error_metrics(predicted, actual),
        "mae_naive": float(np.mean(np.abs(naive - actual))),
        "rmse_naive": float(np.sqrt(np.mean((naive - actual) ** 2))),
        "total_actual": float(actual.sum()),
        "holdout_periods": float(horizon),
    }
    baseline_metrics = {name: error_metrics(pred, actual) for name, pred in baselines.items()}
    log_likelihood = float(model.log_likelihood_)
    return BacktestResult(
        model=model.model_name,
        params=dict(model.params_),
        log_likelihood=log_likelihood if math.isfinite(log_likelihood) else None,
        calibration_end=day_to_date(summary.calibration_end_day),
        observation_end=day_to_date(summary.calibration_end_day + summary.holdout_days),
        time_unit_days=unit,
        n_customers=len(summary),
        metrics=metrics,
        # the tracking curve needs the unconditional E[X(t)] of a BTYD model
        tracking=(
            tracking_table(model, summary, transactions) if isinstance(model, BTYDModel) else []
        ),
        by_frequency=by_frequency_table(summary.frequency, actual, predicted, baselines=baselines),
        baselines=baseline_metrics,
        comparison=compare_with_baselines(model.model_name, metrics, baseline_metrics),
        warnings=[w.to_dict() for w in model.fit_warnings_],
    )


def by_frequency_table(
    frequency: FloatArray,
    actual: FloatArray,
    predicted: FloatArray,
    cap: int = FREQUENCY_CAP,
    *,
    baselines: dict[str, FloatArray] | None = None,
) -> list[dict[str, float]]:
    """Holdout purchases by calibration frequency (capped): means and MAE of each predictor.

    Each row has ``actual_mean``, ``predicted_mean`` and ``mae`` for the model and
    ``<baseline>_mean`` and ``<baseline>_mae`` for every baseline.
    """
    bucket = np.minimum(frequency, cap).astype(int)
    rows = []
    for k in range(cap + 1):
        sel = bucket == k
        if not np.any(sel):
            continue
        row = {
            "frequency": float(k),
            "pooled_above": float(k == cap),
            "customers": float(sel.sum()),
            "actual_mean": float(actual[sel].mean()),
            "predicted_mean": float(predicted[sel].mean()),
            "mae": float(np.mean(np.abs(predicted[sel] - actual[sel]))),
        }
        for name, values in (baselines or {}).items():
            row[f"{name}_mean"] = float(values[sel].mean())
            row[f"{name}_mae"] = float(np.mean(np.abs(values[sel] - actual[sel])))
        rows.append(row)
    return rows


def tracking_table(
    model: BTYDModel, summary: RFMSummary, transactions: Transactions
) -> list[dict[str, float]]:
    """Cumulative repeat purchases per period, actual vs. expected, over cal + holdout.

    The expected curve sums, over the calibration customers, the unconditional
    expectation ``E[X(tau - birth)]`` of each customer since their first purchase.
    """
    unit = summary.time_unit_days
    start = int(summary.first_day.min())
    end = summary.calibration_end_day + summary.holdout_days
    n_periods = int(np.ceil((end - start + 1) / unit))
    period_end_days = start - 1 + np.minimum(np.arange(1, n_periods + 1) * unit, end - start + 1)
    # actual: repeat purchase days of calibration customers
    cust = transactions.customer_id
    days = transactions.purchased_at.astype("datetime64[D]").astype(np.int64)
    members = np.isin(cust, summary.customer_id) & (days <= end)
    pairs = np.unique(np.stack([cust[members], days[members]], axis=1), axis=0)
    first_of = dict(zip(summary.customer_id.tolist(), summary.first_day.tolist(), strict=True))
    firsts = np.array([first_of[c] for c in pairs[:, 0].tolist()], dtype=np.int64)
    repeat_days = pairs[:, 1][pairs[:, 1] > firsts]
    actual = np.searchsorted(np.sort(repeat_days), period_end_days, side="right")
    # expected: by distinct birth day
    births, counts = np.unique(summary.first_day, return_counts=True)
    expected = np.zeros(n_periods)
    for birth, count in zip(births.tolist(), counts.tolist(), strict=True):
        ages = (period_end_days - birth) / unit
        alive = ages > 0
        if np.any(alive):
            expected[alive] += count * model.expected_purchases(ages[alive])
    return [
        {
            "period": float(i + 1),
            "date": float(period_end_days[i]),
            "actual": float(actual[i]),
            "expected": float(expected[i]),
            "holdout": float(period_end_days[i] > summary.calibration_end_day),
        }
        for i in range(n_periods)
    ]


_SVG = """<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" \
role="img" aria-label="{title}">
<title>{title}</title>
<rect x="0" y="0" width="{w}" height="{h}" fill="white"/>
<line x1="{x0}" y1="{yb}" x2="{x1}" y2="{yb}" stroke="#444"/>
<line x1="{x0}" y1="{yt}" x2="{x0}" y2="{yb}" stroke="#444"/>
<line x1="{xc}" y1="{yt}" x2="{xc}" y2="{yb}" stroke="#999" stroke-dasharray="2,3"/>
<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{actual}"/>
<polyline fill="none" stroke="#d62728" stroke-width="2" stroke-dasharray="6,4" points="{expected}"/>
<text x="{x0}" y="{ty}" font-size="12" font-family="sans-serif">{title}</text>
<text x="{x1}" y="{ty}" font-size="11" font-family="sans-serif" text-anchor="end">\
<tspan fill="#1f77b4">actual</tspan> / <tspan fill="#d62728">expected</tspan> \
(max {ymax:.0f})</text>
</svg>
"""


def tracking_svg(
    tracking: list[dict[str, float]],
    calibration_periods: float,
    *,
    width: int = 640,
    height: int = 320,
    title: str = "Cumulative repeat purchases",
) -> str:
    """Render a tracking table as a small SVG line chart (no plotting library)."""
    if not tracking:
        return ""
    pad = 30
    n = len(tracking)
    ymax = max(max(r["actual"], r["expected"]) for r in tracking) or 1.0

    def pt(i: float, y: float) -> str:
        px = pad + (width - 2 * pad) * (i / max(n, 1))
        py = height - pad - (height - 2 * pad) * (y / ymax)
        return f"{px:.1f},{py:.1f}"

    actual = " ".join(pt(r["period"], r["actual"]) for r in tracking)
    expected = " ".join(pt(r["period"], r["expected"]) for r in tracking)
    xc = pad + (width - 2 * pad) * (calibration_periods / max(n, 1))
    return _SVG.format(
        w=width,
        h=height,
        x0=pad,
        x1=width - pad,
        yb=height - pad,
        yt=pad,
        ty=pad - 10,
        xc=f"{xc:.1f}",
        actual=actual,
        expected=expected,
        title=title,
        ymax=ymax,
    )


def default_split(
    first_day: int,
    as_of_day: int,
    *,
    max_holdout_days: int = 365,
    test_fraction: float | None = None,
) -> int | None:
    """Calibration end day for a back-test ending at ``as_of_day``, or None if too short.

    The holdout is a third of the history (at most ``max_holdout_days``), or the given
    ``test_fraction`` of it (no cap: the analyst asked for it); at least 28 days either way,
    because a shorter holdout holds too few repeat orders to compare models.
    """
    span = as_of_day - first_day
    if test_fraction is not None:
        if not 0 < test_fraction < 1:
            raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
        holdout = round(span * test_fraction)
    else:
        holdout = min(max_holdout_days, span // 3)
    if holdout < 28:
        return None
    return as_of_day - holdout


__all__ = [
    "SAME_RATE",
    "BacktestResult",
    "backtest",
    "baseline_predictions",
    "by_frequency_table",
    "compare_with_baselines",
    "default_split",
    "error_metrics",
    "evaluate",
    "same_rate_prediction",
    "to_day",
    "tracking_svg",
    "tracking_table",
]
