"""Uplift targeting: who responds to a journey, learned from its holdout.

Two estimators of the conditional lift ``tau(x) = P(y | x, treated) - P(y | x, holdout)``
on scikit-learn, and the Qini coefficient on a held-out split with a bootstrap CI. A
journey should target by predicted uplift only when the CI excludes zero: otherwise the
model ranks customers no better than chance, and :func:`evaluate_targeting` says so.

- :class:`TLearner`: one classifier per arm, ``tau = p_1(x) - p_0(x)`` (Künzel et al.
  2019, PNAS 116:4156).
- :class:`ClassTransformation`: one classifier of ``z = y w + (1 - y)(1 - w)`` with the
  arms reweighted to equal size, ``tau = 2 P(z = 1 | x) - 1`` (Jaskowski & Jaroszewicz
  2012, ICML workshop on clinical data analysis).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def _default() -> BaseEstimator:
    return LogisticRegression(max_iter=1_000)


class TLearner(BaseEstimator):  # type: ignore[misc]
    """One classifier per arm; the uplift is the difference of their probabilities."""

    def __init__(self, estimator: BaseEstimator | None = None) -> None:
        self.estimator = estimator

    def fit(self, x: FloatArray, treated: BoolArray, y: BoolArray) -> TLearner:
        """Fit the treated and the holdout model."""
        base = self.estimator if self.estimator is not None else _default()
        self.treated_model_ = clone(base).fit(x[treated], y[treated])
        self.control_model_ = clone(base).fit(x[~treated], y[~treated])
        return self

    def predict_uplift(self, x: FloatArray) -> FloatArray:
        """The predicted lift in conversion per customer."""
        check_is_fitted(self, ["treated_model_", "control_model_"])
        treated = self.treated_model_.predict_proba(x)[:, 1]
        control = self.control_model_.predict_proba(x)[:, 1]
        return np.asarray(treated - control, dtype=np.float64)


class ClassTransformation(BaseEstimator):  # type: ignore[misc]
    """One classifier of the transformed class, arms weighted to equal size."""

    def __init__(self, estimator: BaseEstimator | None = None) -> None:
        self.estimator = estimator

    def fit(self, x: FloatArray, treated: BoolArray, y: BoolArray) -> ClassTransformation:
        """Fit the classifier of ``z`` (treated buyers and holdout non-buyers are 1)."""
        z = (y & treated) | (~y & ~treated)
        share = treated.mean()
        # The identity tau = 2 P(z = 1) - 1 holds for equal arms; weights make them so.
        weights = np.where(treated, 0.5 / share, 0.5 / (1 - share))
        base = self.estimator if self.estimator is not None else _default()
        self.model_ = clone(base).fit(x, z, sample_weight=weights)
        return self

    def predict_uplift(self, x: FloatArray) -> FloatArray:
        """The predicted lift in conversion per customer."""
        check_is_fitted(self, "model_")
        return np.asarray(2 * self.model_.predict_proba(x)[:, 1] - 1, dtype=np.float64)


def qini_coefficient(uplift: FloatArray, treated: BoolArray, y: BoolArray) -> float:
    """Area between the Qini curve and the random-targeting line, per customer squared.

    Customers sorted by predicted uplift (highest first); after the top ``k``,
    ``Q(k) = Y_t(k) - Y_c(k) N_t(k) / N_c(k)`` (buyers among the treated minus the
    holdout's buyers scaled to the treated count; Radcliffe 2007). The coefficient is
    ``sum_k (Q(k) - k/n Q(n)) / n^2``: 0 for a random order, positive when the ranking
    puts responders first.
    """
    order = np.argsort(-uplift, kind="stable")
    t, c, yy = treated[order], ~treated[order], y[order]
    n_t, n_c = np.cumsum(t), np.cumsum(c)
    y_t, y_c = np.cumsum(yy & t), np.cumsum(yy & c)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(n_c > 0, y_t - y_c * n_t / np.maximum(n_c, 1), y_t.astype(float))
    n = len(uplift)
    line = np.arange(1, n + 1) / n * q[-1]
    return float((q - line).sum() / n**2)


@dataclass(frozen=True)
class TargetingResult:
    """One model's Qini coefficient on the held-out split with its bootstrap 95% CI."""

    model: str
    qini: float
    ci_low: float
    ci_high: float
    use_for_targeting: bool
    reason: str | None


def evaluate_targeting(
    x: FloatArray,
    treated: BoolArray,
    y: BoolArray,
    *,
    seed: int = 0,
    test_size: float = 0.3,
    resamples: int = 200,
) -> list[TargetingResult]:
    """Fit both models on a split and judge them on the rest (percentile bootstrap CI)."""
    rng = np.random.default_rng(seed)
    # Stratified on arm and outcome, so both arms' buyers are in each side.
    strata = treated.astype(int) * 2 + y.astype(int)
    x_fit, x_test, t_fit, t_test, y_fit, y_test = train_test_split(
        x, treated, y, test_size=test_size, random_state=seed, stratify=strata
    )
    results = []
    for name, model in (("t_learner", TLearner()), ("class_transformation", ClassTransformation())):
        uplift = model.fit(x_fit, t_fit, y_fit).predict_uplift(x_test)
        qini = qini_coefficient(uplift, t_test, y_test)
        draws = []
        for _ in range(resamples):
            pick = rng.integers(0, len(uplift), len(uplift))
            draws.append(qini_coefficient(uplift[pick], t_test[pick], y_test[pick]))
        low, high = np.percentile(draws, [2.5, 97.5])
        use = bool(low > 0)
        results.append(
            TargetingResult(
                name,
                qini,
                float(low),
                float(high),
                use,
                None if use else "ranking_not_better_than_random",
            )
        )
    return results
