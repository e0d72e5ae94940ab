"""Transaction models learned from the store's own history by a time split.

The BTYD models assume a story (Poisson purchases, a latent dropout). When a store's
data do not follow it, a model that simply *learns* "how many orders do customers like
this one place in the next H days" from the past can predict better. Two such models,
used as back-test baselines and, when they win the store's back-test, as the served
fallback (see :func:`recompra.predict.scoring.choose_model`):

* :class:`RecencyModel` ("recency"): an empirical table. Customers are grouped by their
  repeat purchases and by their silence measured in their own usual gaps (one-time buyers:
  by their age); each group's mean number of orders in the next ``H`` days, learned one
  window earlier, is the prediction. Sparse groups are shrunk to their frequency group.
* :class:`BoostedRFMModel` ("rfm_gbm"): scikit-learn gradient boosting on the same RFM
  features — a Poisson regressor for the number of orders and a classifier for "orders
  again at all" in the next ``H`` days.

Training: features at ``end - H`` from the history up to that day, labels = purchase
days in ``(end - H, end]``; predictions use the features at ``end``. ``H`` is the wanted
horizon, shortened to half the history when the history is short. Both expose the
prediction methods of the BTYD models, with these meanings:

* ``conditional_expected_purchases(t, ...)``: the learned ``H``-day count scaled to ``t``
  (a constant rate within the horizon);
* ``p_alive``: the learned probability of ordering again within ``H`` days (the
  operational meaning of "active"; there is no latent dropout here);
* ``p_no_purchase(t, ...)``: ``(1 - p_alive) ** (t / H)`` (a constant hazard);
* ``median_time_to_next_purchase``: ``ln 2`` over the rate of customers who do order.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from recompra.predict._base import ArrayLike, FloatArray, as_float, check_is_fitted
from recompra.predict.diagnostics import FitWarning
from recompra.predict.rfm import Transactions

#: Shortest training window and shortest history before it, in days.
MIN_WINDOW_DAYS = 28
#: Fewer training customers than this: no time-split model.
MIN_TRAINING_CUSTOMERS = 50
#: The boosted model learns from at most this many customers (a random sample).
MAX_TRAINING_CUSTOMERS = 200_000
#: OpenMP threads of the tree models. scikit-learn's histogram boosting spins its OpenMP
#: threads at every barrier; on a machine whose cores are busy (a shared server, a job
#: next to the API) that made a 2,357-customer fit take 44 s instead of 1 s. One thread
#: is fast enough for the capped training sample.
ONE_THREAD = 1


def training_window(first_day: int, end_day: int, horizon_days: int) -> int:
    """Training horizon in days: ``horizon_days``, at most half the history before ``end``.

    Raises ``ValueError`` when the history is too short for a time split.
    """
    window = min(int(horizon_days), (end_day - first_day) // 2)
    if window < MIN_WINDOW_DAYS:
        raise ValueError(
            f"history too short for a time-split model ({end_day - first_day} days; "
            f"needs {2 * MIN_WINDOW_DAYS})"
        )
    return window


def rfm_features(
    frequency: FloatArray, recency: FloatArray, T: FloatArray, time_unit_days: float
) -> FloatArray:
    """Feature matrix (days): repeats, age at last order, age, silence, silence in usual gaps.

    The usual gap is ``recency / frequency`` (first-to-last span over repeat orders); it is
    NaN for one-time buyers, which the tree models treat as its own branch.
    """
    unit = time_unit_days
    silence = (T - recency) * unit
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = np.where(frequency > 0, recency * unit / np.maximum(frequency, 1), np.nan)
        gaps_silent = np.where(gap > 0, silence / gap, np.nan)
    return np.column_stack(
        [frequency, recency * unit, T * unit, silence, gaps_silent, frequency / (T * unit + 1)]
    )


class TimeSplitModel:
    """Common flow of the models learned by a time split (see the module docstring).

    Subclasses implement ``_learn(features, counts)`` and ``_predict(features)`` returning
    the expected count and the probability of at least one order within the window.
    """

    model_name = ""
    #: No likelihood, parameters or standard errors: present for the score metadata.
    log_likelihood_ = math.nan
    standard_errors_: dict[str, float]
    fit_warnings_: list[FitWarning]

    def __init__(self) -> None:
        self.params_: dict[str, float] | None = None
        self.standard_errors_ = {}
        self.fit_warnings_ = []
        self._last: tuple[bytes, FloatArray, FloatArray] | None = None

    def fit_history(
        self,
        transactions: Transactions,
        *,
        end_day: int,
        time_unit_days: float,
        horizon_days: int,
    ) -> TimeSplitModel:
        """Learn from features at ``end_day - H`` and the orders in ``(end_day - H, end_day]``.

        Only transactions up to ``end_day`` are read, so a back-test stays honest.
        """
        tx = transactions.until(end_day)
        if len(tx) == 0:
            raise ValueError("no purchases before the end of the training period")
        window = training_window(tx.first_day, end_day, horizon_days)
        cut = end_day - window
        train = tx.summary(
            calibration_day=cut, observation_day=end_day, time_unit_days=time_unit_days
        )
        assert train.holdout_frequency is not None
        if len(train) < MIN_TRAINING_CUSTOMERS:
            raise ValueError(f"only {len(train)} customers before the training cut")
        self.time_unit_days_ = float(time_unit_days)
        self.window_days_ = window
        features = rfm_features(train.frequency, train.recency, train.T, time_unit_days)
        self._learn(features, train.holdout_frequency)
        self._last = None
        self.params_ = {"window_days": float(window), "training_customers": float(len(train))}
        return self

    # -- to be provided by subclasses ---------------------------------------------------
    def _learn(self, features: FloatArray, counts: FloatArray) -> None:
        raise NotImplementedError

    def _predict(self, features: FloatArray) -> tuple[FloatArray, FloatArray]:
        raise NotImplementedError

    # -- the BTYD prediction interface --------------------------------------------------
    def _window_predictions(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> tuple[FloatArray, FloatArray]:
        check_is_fitted(self)
        x, t_x, t_cal = (
            as_float(frequency, "frequency"),
            as_float(recency, "recency"),
            as_float(T, "T"),
        )
        # The scoring pipeline asks for several quantities (and the CLV for 12+ horizons) of
        # the same customers; the trees run once per distinct input, not once per question.
        digest = hashlib.blake2b(x.tobytes() + t_x.tobytes() + t_cal.tobytes()).digest()
        if self._last is not None and self._last[0] == digest:
            return self._last[1], self._last[2]
        counts, any_order = self._predict(rfm_features(x, t_x, t_cal, self._unit))
        result = np.maximum(counts, 0.0), np.clip(any_order, 1e-6, 1 - 1e-6)
        self._last = (digest, *result)
        return result

    @property
    def _unit(self) -> float:
        return float(self.time_unit_days_)

    @property
    def _window_units(self) -> float:
        return self.window_days_ / self._unit

    def p_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """Probability of at least one order within the training window."""
        return self._window_predictions(frequency, recency, T)[1].copy()  # the cache's own

    def conditional_expected_purchases(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """Expected orders in the next ``t`` time units (the window's count, scaled)."""
        counts, _ = self._window_predictions(frequency, recency, T)
        scale = np.asarray(t, dtype=np.float64) / self._window_units
        return np.asarray(counts * scale, dtype=np.float64)

    def p_no_purchase(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """``P(no order in the next t)`` under a constant hazard within the window."""
        _, any_order = self._window_predictions(frequency, recency, T)
        scale = np.asarray(t, dtype=np.float64) / self._window_units
        return np.asarray((1.0 - any_order) ** scale, dtype=np.float64)

    def median_time_to_next_purchase(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """Median wait (time units) of a customer who does order: ``ln 2`` over their rate."""
        counts, any_order = self._window_predictions(frequency, recency, T)
        # orders per time unit among customers who order at all; at least one order
        rate = np.maximum(counts / any_order, 1.0) / self._window_units
        return np.asarray(math.log(2.0) / rate, dtype=np.float64)

    def __repr__(self) -> str:
        state = "unfitted" if self.params_ is None else f"window={self.window_days_}d"
        return f"{type(self).__name__}({state})"


#: Frequency groups (repeat orders) and silence groups (usual gaps) of the recency table.
FREQUENCY_EDGES = np.array([1, 2, 3, 5, 10])
SILENCE_GAP_EDGES = np.array([1.0, 2.0, 3.0, 5.0, 10.0])
#: One-time buyers: age groups as fractions of the training window.
AGE_WINDOW_EDGES = np.array([0.25, 0.5, 1.0, 2.0, 4.0])
#: Pseudo-customers of the parent mean added to each group (empirical-Bayes shrinkage).
SHRINKAGE = 20.0


class RecencyModel(TimeSplitModel):
    """Empirical recency table: mean orders of similar customers one window earlier."""

    model_name = "recency"

    def _groups(self, features: FloatArray) -> tuple[np.ndarray, np.ndarray]:
        frequency, silence, gaps_silent = features[:, 0], features[:, 3], features[:, 4]
        freq_group = np.searchsorted(FREQUENCY_EDGES, frequency, side="right")
        silence_group = np.where(
            frequency > 0,
            np.searchsorted(SILENCE_GAP_EDGES, np.nan_to_num(gaps_silent), side="right"),
            np.searchsorted(AGE_WINDOW_EDGES * self.window_days_, silence, side="right"),
        )
        n_silence = max(SILENCE_GAP_EDGES.size, AGE_WINDOW_EDGES.size) + 1
        return freq_group, freq_group * n_silence + silence_group

    def _learn(self, features: FloatArray, counts: FloatArray) -> None:
        freq_group, cell = self._groups(features)
        any_order = (counts > 0).astype(np.float64)
        self.tables_: dict[str, Any] = {}
        for name, y in (("count", counts), ("any", any_order)):
            overall = float(y.mean())
            f_sum = np.bincount(freq_group, weights=y)
            f_n = np.bincount(freq_group).astype(np.float64)
            f_mean = (f_sum + SHRINKAGE * overall) / (f_n + SHRINKAGE)
            c_sum = np.bincount(cell, weights=y)
            c_n = np.bincount(cell).astype(np.float64)
            self.tables_[name] = (overall, f_mean, c_sum, c_n)

    def _lookup(self, name: str, freq_group: np.ndarray, cell: np.ndarray) -> FloatArray:
        overall, f_mean, c_sum, c_n = self.tables_[name]
        parent = np.where(
            freq_group < f_mean.size, f_mean[np.minimum(freq_group, f_mean.size - 1)], overall
        )
        inside = cell < c_sum.size
        safe = np.minimum(cell, c_sum.size - 1)
        total = np.where(inside, c_sum[safe], 0.0)
        n = np.where(inside, c_n[safe], 0.0)
        return np.asarray((total + SHRINKAGE * parent) / (n + SHRINKAGE), dtype=np.float64)

    def _predict(self, features: FloatArray) -> tuple[FloatArray, FloatArray]:
        freq_group, cell = self._groups(features)
        return self._lookup("count", freq_group, cell), self._lookup("any", freq_group, cell)


class BoostedRFMModel(TimeSplitModel):
    """Gradient-boosted trees on RFM features (scikit-learn), learned by a time split.

    Parameters
    ----------
    max_iter : int, default 100
        Boosting iterations of each of the two models (early stopping on a 10% validation
        split above 10,000 training customers).
    learning_rate : float, default 0.1
        Shrinkage of each tree.
    min_samples_leaf : int, default 40
        Smallest leaf: keeps small stores from fitting noise.
    random_state : int, default 0
        Seed of the training sample and of the validation split.
    """

    model_name = "rfm_gbm"

    def __init__(
        self,
        max_iter: int = 100,
        learning_rate: float = 0.1,
        min_samples_leaf: int = 40,
        random_state: int = 0,
    ) -> None:
        super().__init__()
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.min_samples_leaf = min_samples_leaf
        self.random_state = random_state

    def _settings(self) -> dict[str, Any]:
        return {
            "max_iter": self.max_iter,
            "learning_rate": self.learning_rate,
            "min_samples_leaf": self.min_samples_leaf,
            "l2_regularization": 1.0,
            "random_state": self.random_state,
        }

    def _learn(self, features: FloatArray, counts: FloatArray) -> None:
        if counts.size > MAX_TRAINING_CUSTOMERS:
            rng = np.random.default_rng(self.random_state)
            rows = rng.choice(counts.size, MAX_TRAINING_CUSTOMERS, replace=False)
            features, counts = features[rows], counts[rows]
        any_order = (counts > 0).astype(int)
        self.counts_model_ = HistGradientBoostingRegressor(loss="poisson", **self._settings())
        self.any_model_: HistGradientBoostingClassifier | None = None
        self.any_share_ = float(any_order.mean())
        with threadpool_limits(ONE_THREAD):
            self.counts_model_.fit(features, counts)
            if 0 < any_order.sum() < any_order.size:  # a classifier needs both outcomes
                self.any_model_ = HistGradientBoostingClassifier(**self._settings())
                self.any_model_.fit(features, any_order)

    def _predict(self, features: FloatArray) -> tuple[FloatArray, FloatArray]:
        with threadpool_limits(ONE_THREAD):
            counts = np.asarray(self.counts_model_.predict(features), dtype=np.float64)
            if self.any_model_ is None:
                return counts, np.full(counts.size, self.any_share_)
            proba = self.any_model_.predict_proba(features)
        return counts, np.asarray(proba[:, 1], dtype=np.float64)


#: The time-split models by name (back-test baselines and servable fallbacks).
TIME_SPLIT_MODELS: dict[str, type[TimeSplitModel]] = {
    RecencyModel.model_name: RecencyModel,
    BoostedRFMModel.model_name: BoostedRFMModel,
}
