"""The customer-scores pipeline: orders in, one scored row per customer out.

:func:`score_customers` takes the snapshot ``orders`` table and returns, for every
customer with a purchase up to ``as_of``: ``customer_id, frequency, recency, T, p_alive,
expected_purchases_<horizon>d, expected_next_order_at, clv_minor, churn_risk,
explanation_pt, explanation_en, model``. How the model and the churn score were chosen,
the fitted parameters and the back-test figures travel in the table's schema metadata
(key ``recompra.predict``, JSON).

``model="auto"`` back-tests the three BTYD models on a calibration/holdout split of the
history (holdout = a third of it, at most a year) next to the baselines (``same_rate``
and the time-split models ``recency`` and ``rfm_gbm`` of :mod:`recompra.predict.empirical`)
and serves the model with the lowest per-customer holdout MAE among the BTYD and
time-split models. When every BTYD model loses to the best baseline, the selection says
so in plain words (``reason_en``/``reason_pt``) and the winning time-split model is
served: a model that loses to a baseline is never picked silently. If the history is too
short for a back-test (< 84 days), it keeps the highest log-likelihood (all three BTYD
models have four parameters, so this is also the lowest AIC/BIC).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa

from recompra.predict._base import FloatArray, ScoringModel, unique_rows
from recompra.predict.backtest import (
    SAME_RATE,
    baseline_predictions,
    default_split,
    error_metrics,
    evaluate,
)
from recompra.predict.churn import ChurnChoice, churn_risk, select_churn
from recompra.predict.clv import customer_lifetime_value
from recompra.predict.empirical import TIME_SPLIT_MODELS
from recompra.predict.explain import explain, explain_selection
from recompra.predict.gammagamma import GammaGammaModel
from recompra.predict.registry import MODELS, fit_model, make_model
from recompra.predict.rfm import (
    RFMSummary,
    Transactions,
    day_to_date,
    to_day,
    transactions_from_orders,
)

METADATA_KEY = b"recompra.predict"
_US_PER_DAY = 86_400_000_000


@dataclass(frozen=True)
class ScoringConfig:
    """Settings shared by the in-process and the Spark pipelines."""

    as_of_day: int
    time_unit_days: float = 7.0
    horizon_days: int = 365
    monthly_discount_rate: float = 0.01
    margin: float = 1.0
    churn_window_days: int = 90
    #: Holdout share of the history for model selection (None: a third, at most a year).
    test_fraction: float | None = None

    @property
    def expected_column(self) -> str:
        """Name of the expected-purchases column (e.g. ``expected_purchases_365d``)."""
        return f"expected_purchases_{self.horizon_days}d"


def fit_spend_model(
    frequency: FloatArray, monetary: FloatArray, weights: FloatArray | None = None
) -> GammaGammaModel | None:
    """Gamma-Gamma fitted on repeat buyers, or None when there are too few (< 10).

    ``weights`` counts the customers each row stands for (Spark fits on grouped rows).
    """
    repeat = (frequency > 0) & (monetary > 0)
    if float(np.sum(repeat if weights is None else weights[repeat])) < 10:
        return None
    try:
        return GammaGammaModel().fit(frequency, monetary, weights=weights)
    except Exception:  # any failure falls back to mean spend
        return None


def score_rows(
    model: ScoringModel,
    spend_model: GammaGammaModel | None,
    fallback_spend: float,
    frequency: FloatArray,
    recency: FloatArray,
    T: FloatArray,
    monetary: FloatArray,
    config: ScoringConfig,
    churn: FloatArray | None = None,
) -> dict[str, Any]:
    """Per-customer scores from a fitted model (pure numpy; used by Spark partitions too).

    Predictions are computed once per distinct ``(frequency, recency, T)`` row and
    gathered back, which is what makes 10M-customer bases cheap. ``churn`` overrides
    the model's churn risk (e.g. with the classifier's).
    """
    unit = config.time_unit_days
    (ux, ur, uT), inverse = unique_rows(frequency, recency, T)
    p_alive = model.p_alive(ux, ur, uT)[inverse]
    horizon = config.horizon_days / unit
    expected = model.conditional_expected_purchases(horizon, ux, ur, uT)[inverse]
    wait = model.median_time_to_next_purchase(ux, ur, uT)[inverse] * unit
    if churn is None:
        window = config.churn_window_days / unit
        churn = model.p_no_purchase(window, ux, ur, uT)[inverse]
    if spend_model is not None:
        spend = spend_model.conditional_expected_average_spend(frequency, monetary)
    else:
        spend = np.where(frequency > 0, monetary, fallback_spend)
    clv = customer_lifetime_value(
        model,
        spend,
        frequency,
        recency,
        T,
        horizon_days=config.horizon_days,
        time_unit_days=unit,
        monthly_discount_rate=config.monthly_discount_rate,
        margin=config.margin,
    )
    since_days = (T - recency) * unit
    gap_days = np.where(frequency > 0, recency * unit / np.maximum(frequency, 1), np.nan)
    next_us = (config.as_of_day * 1.0 + wait) * _US_PER_DAY
    return {
        "p_alive": p_alive,
        config.expected_column: expected,
        "expected_next_order_at": np.round(next_us).astype(np.int64),
        "clv_minor": np.round(np.nan_to_num(clv)).astype(np.int64),
        "churn_risk": np.asarray(churn, dtype=np.float64),
        "explanation_pt": explain(
            p_alive, since_days, gap_days, expected, config.horizon_days, lang="pt"
        ),
        "explanation_en": explain(
            p_alive, since_days, gap_days, expected, config.horizon_days, lang="en"
        ),
    }


def choose_model(
    tx: Transactions, summary: RFMSummary, config: ScoringConfig
) -> tuple[str, dict[str, Any]]:
    """Pick the transaction model for ``model="auto"``; return its name and the evidence.

    The evidence records the rule, every candidate's back-test metrics (``backtests``:
    BTYD and time-split models), the baselines, the chosen model, every loser with its
    MAE margin over the chosen one, the fit warnings, and the reason in both languages.
    """
    split = default_split(tx.first_day, config.as_of_day, test_fraction=config.test_fraction)
    if split is not None:
        cal = tx.summary(
            calibration_day=split,
            observation_day=config.as_of_day,
            time_unit_days=config.time_unit_days,
        )
        if len(cal) >= 10:
            chosen = _choose_by_backtest(tx, cal)
            if chosen is not None:
                return chosen
    return _choose_by_likelihood(summary)


def _choose_by_backtest(tx: Transactions, cal: RFMSummary) -> tuple[str, dict[str, Any]] | None:
    """Lowest holdout MAE among BTYD and time-split models, compared with the baselines."""
    assert cal.holdout_frequency is not None
    baselines = baseline_predictions(cal, tx)
    baseline_metrics = {
        name: error_metrics(pred, cal.holdout_frequency) for name, pred in baselines.items()
    }
    backtests: dict[str, dict[str, float]] = {}
    warnings: dict[str, list[dict[str, Any]]] = {}
    errors: dict[str, str] = {}
    for name in MODELS:
        try:
            fitted = make_model(name).fit(cal.frequency, cal.recency, cal.T)
            result = evaluate(fitted, cal, tx, baselines=baselines)
        except Exception as exc:  # a model that fails is reported and skipped
            errors[name] = str(exc)
            continue
        if not np.isfinite(result.metrics["mae"]):
            errors[name] = "non-finite holdout predictions"
            continue
        backtests[name] = result.metrics
        warnings[name] = result.warnings
    if not backtests:
        return None
    # the time-split baselines are servable models too; their metrics are already known
    for name in TIME_SPLIT_MODELS:
        if name in baseline_metrics:
            backtests[name] = baseline_metrics[name]
    chosen = min(backtests, key=lambda k: backtests[k]["mae"])
    best_btyd = min((k for k in backtests if k in MODELS), key=lambda k: backtests[k]["mae"])
    best_baseline = min(baseline_metrics, key=lambda k: baseline_metrics[k]["mae"])
    maes = {k: v["mae"] for k, v in backtests.items()}
    maes[SAME_RATE] = baseline_metrics[SAME_RATE]["mae"]
    reason = {
        f"reason_{lang}": explain_selection(
            chosen=chosen,
            chosen_mae=maes[chosen],
            best_btyd=best_btyd,
            btyd_mae=maes[best_btyd],
            best_baseline=best_baseline,
            baseline_mae=baseline_metrics[best_baseline]["mae"],
            lang=lang,
        )
        for lang in ("en", "pt")
    }
    return chosen, {
        "rule": "lowest holdout MAE",
        "chosen": chosen,
        "btyd_beats_baselines": maes[best_btyd] < baseline_metrics[best_baseline]["mae"],
        **reason,
        "losers": {
            name: {"mae": mae, "margin": mae - maes[chosen]}
            for name, mae in sorted(maes.items(), key=lambda item: item[1])
            if name != chosen
        },
        "backtests": backtests,
        "baselines": baseline_metrics,
        "warnings": warnings,
        "errors": errors,
        "split": {
            "calibration_end": day_to_date(cal.calibration_end_day).isoformat(),
            "observation_end": day_to_date(cal.calibration_end_day + cal.holdout_days).isoformat(),
            "customers": len(cal),
        },
    }


def _choose_by_likelihood(summary: RFMSummary) -> tuple[str, dict[str, Any]]:
    """Highest log-likelihood among the BTYD models (no back-test, so no baselines)."""
    evidence: dict[str, Any] = {}
    for name in MODELS:
        try:
            fitted = make_model(name).fit(summary.frequency, summary.recency, summary.T)
            evidence[name] = {"log_likelihood": fitted.log_likelihood_}
        except Exception as exc:
            evidence[name] = {"error": str(exc)}
    ok = {k: v for k, v in evidence.items() if "log_likelihood" in v}
    if not ok:
        raise RuntimeError(f"no model could be fitted: {evidence}")
    best = max(ok, key=lambda k: ok[k]["log_likelihood"])
    return best, {
        "rule": "highest log-likelihood (history too short to back-test)",
        "chosen": best,
        "reason_en": "History too short to back-test; no comparison with baselines was possible.",
        "reason_pt": "Histórico curto demais para um back-test; não foi possível comparar com "
        "as referências.",
        **evidence,
    }


def score_customers(
    orders: pa.Table,
    as_of: datetime,
    *,
    model: str = "auto",
    time_unit_days: float = 7,
    horizon_days: int = 365,
    monthly_discount_rate: float = 0.01,
    margin: float = 1.0,
    churn: str = "auto",
    churn_window_days: int = 90,
    test_fraction: float | None = None,
) -> pa.Table:
    """Score every customer of the snapshot ``orders`` table as of ``as_of``.

    Parameters
    ----------
    orders : pyarrow.Table
        Snapshot orders (``recompra.snapshot.schema.ORDERS``); statuses in
        ``NON_PURCHASE_STATUSES`` are ignored, values are ``total_minor``.
    as_of : datetime
        Scoring instant; the calibration period ends on its (UTC) calendar day.
    model : {"auto", "bgnbd", "pareto", "mbgnbd"}
        Transaction model; "auto" picks by back-test (see module docstring).
    time_unit_days : float, default 7
        Time unit of ``recency``/``T`` in the output.
    horizon_days : int, default 365
        Horizon of the expected purchases and of the CLV.
    monthly_discount_rate : float, default 0.01
        CLV discount rate per month.
    margin : float, default 1.0
        Margin applied to the spend in the CLV.
    churn : {"auto", "model", "classifier"}
        "auto" compares the model score with a classifier on a time split.
    churn_window_days : int, default 90
        Churn = no purchase in this many days.
    test_fraction : float, optional
        Holdout share of the history for the "auto" selection back-test (default: a third,
        at most a year).

    Returns
    -------
    pyarrow.Table
    """
    tx = transactions_from_orders(orders, as_of)
    as_of_day = to_day(as_of)
    config = ScoringConfig(
        as_of_day,
        float(time_unit_days),
        horizon_days,
        monthly_discount_rate,
        margin,
        churn_window_days,
        test_fraction,
    )
    summary = tx.summary(
        calibration_day=as_of_day, observation_day=None, time_unit_days=config.time_unit_days
    )
    if len(summary) == 0:
        return _empty(config)
    selection: dict[str, Any] = {"rule": "requested"}
    name = model
    if model == "auto":
        name, selection = choose_model(tx, summary, config)
    fitted = fit_model(name, tx, summary, horizon_days=config.horizon_days)
    spend_model = fit_spend_model(summary.frequency, summary.monetary_value)
    fallback = float(np.mean(tx.value)) if len(tx) else 0.0
    choice = ChurnChoice("model", churn_window_days, "requested")
    classifier = None
    if churn in ("auto", "classifier"):
        choice, classifier = select_churn(
            tx,
            as_of_day=as_of_day,
            model_name=name,
            window_days=churn_window_days,
            time_unit_days=config.time_unit_days,
        )
        if churn == "classifier" and classifier is None and choice.method != "classifier":
            choice.reason = f"classifier requested but not used: {choice.reason}"
    risk = churn_risk(choice, classifier, fitted, summary, tx)
    cols = score_rows(
        fitted,
        spend_model,
        fallback,
        summary.frequency,
        summary.recency,
        summary.T,
        summary.monetary_value,
        config,
        churn=risk,
    )
    meta = {
        "model": name,
        "model_selection": selection,
        "params": fitted.params_,
        "standard_errors": fitted.standard_errors_,
        "log_likelihood": fitted.log_likelihood_ if np.isfinite(fitted.log_likelihood_) else None,
        "fit_warnings": [w.to_dict() for w in fitted.fit_warnings_],
        "spend_model": spend_model.params_ if spend_model is not None else None,
        "churn": choice.to_dict(),
        "as_of": as_of.isoformat(),
        "time_unit_days": config.time_unit_days,
        "horizon_days": horizon_days,
    }
    return build_table(summary.customer_id, summary, cols, name, config, meta)


def build_table(
    customer_id: np.ndarray,
    summary: RFMSummary | None,
    cols: dict[str, Any],
    model_name: str,
    config: ScoringConfig,
    meta: dict[str, Any] | None,
    *,
    frequency: FloatArray | None = None,
    recency: FloatArray | None = None,
    T: FloatArray | None = None,
) -> pa.Table:
    """Assemble the customer-scores Arrow table (column order is part of the contract)."""
    if summary is not None:
        frequency, recency, T = summary.frequency, summary.recency, summary.T
    assert frequency is not None
    assert recency is not None
    assert T is not None
    n = len(customer_id)
    table = pa.table(
        {
            "customer_id": pa.array(customer_id, pa.int64()),
            "frequency": pa.array(frequency, pa.float64()),
            "recency": pa.array(recency, pa.float64()),
            "T": pa.array(T, pa.float64()),
            "p_alive": pa.array(cols["p_alive"], pa.float64()),
            config.expected_column: pa.array(cols[config.expected_column], pa.float64()),
            "expected_next_order_at": pa.array(cols["expected_next_order_at"], pa.int64()).cast(
                pa.timestamp("us", tz="UTC")
            ),
            "clv_minor": pa.array(cols["clv_minor"], pa.int64()),
            "churn_risk": pa.array(cols["churn_risk"], pa.float64()),
            "explanation_pt": pa.array(cols["explanation_pt"], pa.string()),
            "explanation_en": pa.array(cols["explanation_en"], pa.string()),
            "model": pa.array([model_name] * n, pa.string()),
        }
    )
    if meta is not None:
        table = table.replace_schema_metadata({METADATA_KEY: json.dumps(meta, default=str)})
    return table


def score_metadata(table: pa.Table) -> dict[str, Any]:
    """The JSON metadata written by :func:`score_customers`."""
    raw = (table.schema.metadata or {}).get(METADATA_KEY)
    return dict(json.loads(raw)) if raw else {}


def _empty(config: ScoringConfig) -> pa.Table:
    empty: dict[str, Any] = {
        "p_alive": [],
        config.expected_column: [],
        "expected_next_order_at": [],
        "clv_minor": [],
        "churn_risk": [],
        "explanation_pt": [],
        "explanation_en": [],
    }
    z = np.zeros(0)
    return build_table(
        np.zeros(0, dtype=np.int64), None, empty, "", config, None, frequency=z, recency=z, T=z
    )


def utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime (naive values are taken as UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
