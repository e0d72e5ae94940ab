"""Churn risk: the model's ``P(no purchase in the next window)`` or a classifier.

"Churn" here is operational: *no purchase in the next ``window_days``*. Two scores:

* ``model``: ``P(no purchase in (T, T+w] | history)`` from the served transaction model
  (exact for BG/NBD and MBG/NBD, a close lower bound for Pareto/NBD, learned directly by
  the time-split models of :mod:`recompra.predict.empirical`; see ``p_no_purchase``);
* ``classifier``: a scikit-learn ``HistGradientBoostingClassifier`` on RFM and behaviour
  features (frequency, recency, age, days since the last order, log spend, orders in the
  last window, model P(alive)).

They are compared on a time split: the classifier learns from features at
``as_of - 2w`` with labels in ``(as_of - 2w, as_of - w]``; both are then scored on
features at ``as_of - w`` against what happened in ``(as_of - w, as_of]``. The one with
the lower Brier score (a proper score: ranking *and* calibration) is chosen; AUCs and
Brier scores of both are recorded. For scoring at ``as_of`` the classifier is refitted on
the latest complete window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import brier_score_loss, roc_auc_score
from threadpoolctl import threadpool_limits

from recompra.predict._base import FloatArray, ScoringModel
from recompra.predict.empirical import ONE_THREAD
from recompra.predict.registry import fit_model
from recompra.predict.rfm import RFMSummary, Transactions

#: Below this many customers (or with a single class) the classifier is not tried.
MIN_CUSTOMERS = 200


@dataclass
class ChurnChoice:
    """Which churn score was chosen and why (recorded in the score table metadata)."""

    method: str
    window_days: int
    reason: str
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "method": self.method,
            "window_days": self.window_days,
            "reason": self.reason,
            "metrics": self.metrics,
        }


def features(summary: RFMSummary, model: ScoringModel, tx: Transactions) -> FloatArray:
    """Feature matrix of the classifier, one row per customer of ``summary``."""
    unit = summary.time_unit_days
    since = summary.T - summary.recency
    recent = _orders_in_last(summary, tx, days=90)
    p_alive = model.p_alive(summary.frequency, summary.recency, summary.T)
    return np.column_stack(
        [
            summary.frequency,
            summary.recency * unit,
            summary.T * unit,
            since * unit,
            np.log1p(summary.monetary_value),
            recent,
            p_alive,
        ]
    )


def _orders_in_last(summary: RFMSummary, tx: Transactions, *, days: int) -> FloatArray:
    day = tx.purchased_at.astype("datetime64[D]").astype(np.int64)
    end = summary.calibration_end_day
    sel = (day > end - days) & (day <= end)
    pairs = np.unique(np.stack([tx.customer_id[sel], day[sel]], axis=1), axis=0)
    ids, counts = np.unique(pairs[:, 0], return_counts=True) if pairs.size else ([], [])
    lookup = dict(zip(np.asarray(ids).tolist(), np.asarray(counts).tolist(), strict=True))
    return np.array([lookup.get(c, 0) for c in summary.customer_id.tolist()], dtype=np.float64)


def _fit(model_name: str, tx: Transactions, s: RFMSummary, window_days: int) -> ScoringModel:
    return fit_model(model_name, tx, s, horizon_days=window_days)


def select_churn(
    tx: Transactions,
    *,
    as_of_day: int,
    model_name: str,
    window_days: int = 90,
    time_unit_days: float = 7.0,
) -> tuple[ChurnChoice, HistGradientBoostingClassifier | None]:
    """Compare the model score and the classifier on a time split; return the choice.

    Returns the choice and, when the classifier wins, the classifier refitted on the
    latest complete window (features at ``as_of - w``, labels in ``(as_of - w, as_of]``).
    """
    unit = time_unit_days
    w = window_days
    if as_of_day - tx.first_day < 3 * w:
        return ChurnChoice("model", w, "history shorter than three churn windows"), None
    train = tx.summary(
        calibration_day=as_of_day - 2 * w, observation_day=as_of_day - w, time_unit_days=unit
    )
    test = tx.summary(calibration_day=as_of_day - w, observation_day=as_of_day, time_unit_days=unit)
    assert train.holdout_frequency is not None
    assert test.holdout_frequency is not None
    y_train = (train.holdout_frequency == 0).astype(int)
    y_test = (test.holdout_frequency == 0).astype(int)
    if len(train) < MIN_CUSTOMERS or len(set(y_train)) < 2 or len(set(y_test)) < 2:
        return ChurnChoice("model", w, "too few customers or a single outcome class"), None
    try:
        model_test = _fit(model_name, tx, test, w)
        model_train = _fit(model_name, tx, train, w)
    except ValueError as exc:  # a time-split model needs more history before the split
        return ChurnChoice("model", w, f"model could not be fitted on the split: {exc}"), None
    p_model = model_test.p_no_purchase(w / unit, test.frequency, test.recency, test.T)
    clf = HistGradientBoostingClassifier(max_iter=100, learning_rate=0.1, random_state=0)
    train_features = features(train, model_train, tx)
    with threadpool_limits(ONE_THREAD):
        clf.fit(train_features, y_train)
        p_clf = clf.predict_proba(features(test, model_test, tx))[:, 1]
    metrics = {
        "model": _scores(y_test, p_model),
        "classifier": _scores(y_test, p_clf),
    }
    if metrics["classifier"]["brier"] < metrics["model"]["brier"]:
        final = HistGradientBoostingClassifier(max_iter=100, learning_rate=0.1, random_state=0)
        with threadpool_limits(ONE_THREAD):
            final.fit(features(test, model_test, tx), y_test)
        return ChurnChoice("classifier", w, "lower Brier score on the time split", metrics), final
    return ChurnChoice("model", w, "lower or equal Brier score on the time split", metrics), None


def _scores(y: Any, p: FloatArray) -> dict[str, float]:
    return {
        "auc": float(roc_auc_score(y, p)),
        "brier": float(brier_score_loss(y, p)),
        "mean_predicted": float(np.mean(p)),
        "observed_rate": float(np.mean(y)),
    }


def churn_risk(
    choice: ChurnChoice,
    classifier: HistGradientBoostingClassifier | None,
    model: ScoringModel,
    summary: RFMSummary,
    tx: Transactions,
) -> FloatArray:
    """Churn risk of each customer of ``summary`` under the chosen method."""
    if choice.method == "classifier" and classifier is not None:
        rows = features(summary, model, tx)
        with threadpool_limits(ONE_THREAD):
            return np.asarray(classifier.predict_proba(rows)[:, 1], dtype=np.float64)
    w = choice.window_days / summary.time_unit_days
    return model.p_no_purchase(w, summary.frequency, summary.recency, summary.T)
