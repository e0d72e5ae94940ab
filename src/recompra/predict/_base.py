"""Shared machinery of the buy-till-you-die estimators.

Every estimator maximises its log-likelihood in log-parameter space (all parameters are
positive), on *compressed* data: identical ``(frequency, recency, T)`` rows are fitted once
with their count as weight, which is the main speed-up on real data (recorded in days, so
many customers share a row). Standard errors come from the inverse Hessian of the total
negative log-likelihood at the optimum (delta method back to the natural scale).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize

from recompra.predict.diagnostics import FitWarning, fit_warnings

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
ArrayLike = npt.ArrayLike

#: Rows of the subsample used to warm-start fits on large data.
WARM_START_SIZE = 20_000

#: Objective: log-parameters -> (mean negative log-likelihood, its gradient).
Objective = Callable[[FloatArray], tuple[float, FloatArray]]


def wdot(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """``sum(a * b)`` without BLAS.

    ``np.dot`` on long vectors goes to a multi-threaded BLAS, which is slower than a
    plain elementwise product when the machine's cores are busy (and gains nothing on
    memory-bound vectors).
    """
    return float(np.sum(np.multiply(a, b)))


class NotFittedError(ValueError, AttributeError):
    """Raised when a prediction is asked of an estimator that has not been fitted."""


class ConvergenceError(RuntimeError):
    """Raised when the likelihood cannot be maximised (no finite optimum found)."""


def check_is_fitted(model: Any) -> None:
    """Raise :class:`NotFittedError` unless ``model.fit`` has been called.

    Parameters
    ----------
    model
        Any estimator of this package.
    """
    if getattr(model, "params_", None) is None:
        raise NotFittedError(
            f"this {type(model).__name__} is not fitted yet: call fit(...) before predicting"
        )


def as_float(values: ArrayLike, name: str) -> FloatArray:
    """Return ``values`` as a 1-D float64 array, rejecting NaN and negative entries."""
    arr = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size and (not np.all(np.isfinite(arr)) or arr.min() < 0):
        raise ValueError(f"{name} must be finite and non-negative")
    return arr


@dataclass(frozen=True)
class RFMData:
    """Compressed calibration data: unique rows and their weights (customer counts)."""

    frequency: FloatArray
    recency: FloatArray
    T: FloatArray
    weights: FloatArray

    @property
    def n_customers(self) -> float:
        """Total weight (number of customers represented)."""
        return float(self.weights.sum())

    @cached_property
    def x_groups(self) -> tuple[FloatArray, IntArray, FloatArray]:
        """Unique frequencies, the row -> unique index, and the weight of each unique value.

        Terms that depend on the frequency alone (gamma and digamma functions) are
        evaluated once per distinct frequency and summed with these weights.
        """
        uniq, inv = np.unique(self.frequency, return_inverse=True)
        inverse: IntArray = np.asarray(inv, dtype=np.intp).reshape(-1)
        counts = np.bincount(inverse, weights=self.weights, minlength=uniq.size)
        return uniq, inverse, np.asarray(counts, dtype=np.float64)

    @cached_property
    def age_pairs(self) -> tuple[FloatArray, FloatArray, IntArray, IntArray]:
        """Distinct ``(frequency, age)`` pairs over both ages ``recency`` and ``T``.

        Returns the pair columns and, for every row, the index of its ``(x, recency)`` and
        of its ``(x, T)`` pair. Pareto/NBD evaluates its hypergeometric terms once per pair:
        with ages recorded in days there are far fewer pairs than customers.
        """
        n = self.frequency.size
        x2 = np.concatenate([self.frequency, self.frequency])
        t2 = np.concatenate([self.recency, self.T])
        (ux, ut), inverse = unique_rows(x2, t2)
        return ux, ut, inverse[:n], inverse[n:]


def compress_rows(
    columns: Sequence[FloatArray], weights: FloatArray
) -> tuple[list[FloatArray], FloatArray]:
    """Collapse identical rows of ``columns`` into one row weighted by the summed weights.

    Uses a lexicographic sort (``np.lexsort``) rather than ``np.unique(axis=0)``, which is
    several times faster on millions of rows.
    """
    n = columns[0].size
    if n == 0:
        return [c.copy() for c in columns], weights.copy()
    order = np.lexsort(tuple(reversed(columns)))
    sorted_cols = [c[order] for c in columns]
    change = np.zeros(n, dtype=bool)
    change[0] = True
    for c in sorted_cols:
        change[1:] |= c[1:] != c[:-1]
    starts = np.flatnonzero(change)
    new_weights = np.add.reduceat(weights[order], starts)
    return [c[starts] for c in sorted_cols], new_weights.astype(np.float64)


def unique_rows(
    *columns: FloatArray,
) -> tuple[list[FloatArray], npt.NDArray[np.intp]]:
    """Distinct rows of ``columns`` and, for each input row, the index of its distinct row."""
    n = columns[0].size
    order = np.lexsort(tuple(reversed(columns)))
    sorted_cols = [c[order] for c in columns]
    change = np.zeros(n, dtype=bool)
    if n:
        change[0] = True
    for c in sorted_cols:
        change[1:] |= c[1:] != c[:-1]
    group = np.cumsum(change) - 1
    inverse = np.empty(n, dtype=np.intp)
    inverse[order] = group
    starts = np.flatnonzero(change)
    return [c[starts] for c in sorted_cols], inverse


def as_rfm(
    frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``frequency, recency, T`` as float arrays (each checked by :func:`as_float`)."""
    return as_float(frequency, "frequency"), as_float(recency, "recency"), as_float(T, "T")


def prepare_rfm(
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    weights: ArrayLike | None,
) -> RFMData:
    """Validate lifetimes-style inputs and compress identical rows."""
    x, t_x, t_cal = as_rfm(frequency, recency, T)
    if not (x.size == t_x.size == t_cal.size):
        raise ValueError("frequency, recency and T must have the same length")
    if x.size == 0:
        raise ValueError("cannot fit a model on zero customers")
    if np.any(t_x > t_cal * (1 + 1e-12) + 1e-12):
        raise ValueError("recency must not exceed T")
    if np.any((x == 0) & (t_x > 0)):
        raise ValueError("customers with frequency 0 must have recency 0")
    if np.any(x != np.floor(x)):
        raise ValueError("frequency must hold whole numbers of repeat purchases")
    w = np.ones_like(x) if weights is None else as_float(weights, "weights")
    if w.size != x.size:
        raise ValueError("weights must have the same length as frequency")
    keep = w > 0
    cols, w = compress_rows([x[keep], np.minimum(t_x[keep], t_cal[keep]), t_cal[keep]], w[keep])
    return RFMData(frequency=cols[0], recency=cols[1], T=cols[2], weights=w)


def maximise(
    objective: Objective,
    x0: FloatArray,
    *,
    tol: float,
    max_iter: int,
    hess_inv0: FloatArray | None = None,
) -> FloatArray:
    """Minimise ``objective`` (mean negative log-likelihood) from ``x0`` with BFGS.

    Returns the log-parameters at the optimum. BFGS with analytic (or accurate numeric)
    gradients is robust here because the log-parameterisation removes the bounds; a
    bounded L-BFGS-B polish is used if BFGS stops on a precision loss. ``hess_inv0``
    (an inverse-Hessian estimate, e.g. from a subsample fit) saves most iterations.
    """
    options: dict[str, Any] = {"gtol": tol, "maxiter": max_iter}
    if hess_inv0 is not None:
        options["hess_inv0"] = hess_inv0
    result = minimize(objective, x0, jac=True, method="BFGS", options=options)
    best = np.asarray(result.x, dtype=np.float64)
    # BFGS often stops on "precision loss" once the objective's rounding dominates;
    # that optimum is accepted when the gradient is already negligible.
    stalled = np.max(np.abs(np.asarray(result.jac, dtype=np.float64))) > 100 * tol
    if not result.success and (stalled or not np.isfinite(result.fun)):
        polish = minimize(
            objective,
            best,
            jac=True,
            method="L-BFGS-B",
            bounds=[(-30.0, 30.0)] * best.size,
            options={"ftol": 1e-15, "gtol": tol, "maxiter": max_iter},
        )
        if np.isfinite(polish.fun) and polish.fun <= result.fun:
            best = np.asarray(polish.x, dtype=np.float64)
    value, _ = objective(best)
    if not np.isfinite(value):
        raise ConvergenceError("the log-likelihood is not finite at the optimum")
    return best


def subsample(data: RFMData, size: int, seed: int = 0) -> RFMData:
    """A weighted random subsample of ``size`` customers, compressed again."""
    rng = np.random.default_rng(seed)
    rows = rng.choice(data.frequency.size, size=size, p=data.weights / data.weights.sum())
    counts = np.bincount(rows, minlength=data.frequency.size).astype(np.float64)
    keep = counts > 0
    return RFMData(data.frequency[keep], data.recency[keep], data.T[keep], counts[keep])


def hessian_from_gradient(
    gradient: Callable[[FloatArray], FloatArray], x: FloatArray, step: float = 1e-5
) -> FloatArray:
    """Forward-difference Hessian of a function given its gradient, symmetrised."""
    k = x.size
    hess = np.empty((k, k))
    g0 = gradient(x)
    for i in range(k):
        e = np.zeros(k)
        e[i] = step
        hess[i] = (gradient(x + e) - g0) / step
    return 0.5 * (hess + hess.T)


def standard_errors(
    names: Sequence[str], log_params: FloatArray, hess_total_log: FloatArray
) -> dict[str, float]:
    """Standard errors on the natural scale from the Hessian in log-parameter space.

    The covariance of the log-parameters is the inverse Hessian of the total negative
    log-likelihood; the delta method gives ``se(theta) = theta * se(log theta)``.
    Returns NaN entries when the Hessian is singular (parameters not identified).
    """
    try:
        cov = np.linalg.inv(hess_total_log)
        var = np.diag(cov)
    except np.linalg.LinAlgError:
        var = np.full(len(names), np.nan)
    theta = np.exp(log_params)
    se = theta * np.sqrt(np.where(var > 0, var, np.nan))
    return {name: float(v) for name, v in zip(names, se, strict=True)}


class ScoringModel(Protocol):
    """What the scoring pipeline, the churn score and the back-test need of a fitted model.

    Met by the BTYD models and by the time-split models of :mod:`recompra.predict.empirical`.
    """

    model_name: str
    params_: dict[str, float] | None
    log_likelihood_: float
    standard_errors_: dict[str, float]
    fit_warnings_: list[FitWarning]

    def p_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray: ...

    def conditional_expected_purchases(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray: ...

    def p_no_purchase(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray: ...

    def median_time_to_next_purchase(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray: ...


class BTYDModel:
    """Base class: common ``fit`` flow of the frequency/recency models.

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty on the parameters added to the mean negative log-likelihood
        (``penalizer * sum(theta**2)``, as in lifetimes); 0 gives the plain MLE.
    tol : float, default 1e-7
        Gradient tolerance of the optimiser (on the mean log-likelihood).
    max_iter : int, default 500
        Maximum optimiser iterations.
    """

    #: Literature names of the parameters, in optimisation order.
    param_names: tuple[str, ...] = ()
    #: Short name used in score tables ("bgnbd", "pareto", "mbgnbd").
    model_name: str = ""

    params_: dict[str, float] | None
    log_likelihood_: float
    standard_errors_: dict[str, float]
    n_customers_: float
    n_unique_rows_: int
    #: Plain-language findings about the fit (degenerate dropout, boundary parameters).
    fit_warnings_: list[FitWarning]
    #: 1 when customers may drop out right after the first purchase (MBG/NBD).
    dropout_at_zero = 0

    def __init__(self, penalizer: float = 0.0, tol: float = 1e-7, max_iter: int = 500) -> None:
        self.penalizer = penalizer
        self.tol = tol
        self.max_iter = max_iter
        self.params_ = None

    # -- to be provided by subclasses -------------------------------------------------
    def _loglik(
        self, log_params: FloatArray, data: RFMData, *, gradient: bool
    ) -> tuple[float, FloatArray]:
        """Total weighted log-likelihood and (if asked) its gradient in log-params."""
        raise NotImplementedError

    def _initial(self, data: RFMData) -> FloatArray:
        raise NotImplementedError

    # -- common flow --------------------------------------------------------------------
    def _objective(self, data: RFMData) -> Objective:
        n = data.n_customers
        pen = self.penalizer

        def objective(log_params: FloatArray) -> tuple[float, FloatArray]:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                ll, grad = self._loglik(log_params, data, gradient=True)
            theta = np.exp(log_params)
            value = -ll / n + pen * float(np.sum(theta**2))
            g = -grad / n + pen * 2 * theta**2
            if not np.isfinite(value) or not np.all(np.isfinite(g)):
                return np.inf, np.zeros_like(log_params)
            return value, g

        return objective

    def fit(
        self,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        weights: ArrayLike | None = None,
    ) -> BTYDModel:
        """Fit the model by maximum likelihood.

        Parameters
        ----------
        frequency : array-like
            Number of repeat purchases in the calibration period.
        recency : array-like
            Age of the customer at the last purchase (0 when ``frequency == 0``).
        T : array-like
            Age of the customer at the end of the calibration period.
        weights : array-like, optional
            Number of customers each row stands for (identical rows are merged
            automatically in any case).

        Returns
        -------
        self
        """
        data = prepare_rfm(frequency, recency, T, weights)
        x0 = self._initial(data)
        hess_inv0 = None
        if data.frequency.size > 4 * WARM_START_SIZE:
            # Two stages: converge on a weighted subsample, then polish on all rows
            # starting from its optimum and curvature (a few full-data iterations).
            small = subsample(data, WARM_START_SIZE)
            x0 = maximise(self._objective(small), x0, tol=self.tol, max_iter=self.max_iter)
            hess = hessian_from_gradient(self._total_gradient(small), x0) / small.n_customers
            try:
                inv = np.linalg.inv(hess)
                hess_inv0 = 0.5 * (inv + inv.T)
                if not np.all(np.linalg.eigvalsh(hess_inv0) > 0):
                    hess_inv0 = None
            except np.linalg.LinAlgError:
                hess_inv0 = None
        objective = self._objective(data)
        log_params = maximise(
            objective, x0, tol=self.tol, max_iter=self.max_iter, hess_inv0=hess_inv0
        )
        self._set_fitted(log_params, data)
        return self

    def _total_gradient(self, data: RFMData) -> Callable[[FloatArray], FloatArray]:
        def grad(log_params: FloatArray) -> FloatArray:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                return -self._loglik(log_params, data, gradient=True)[1]

        return grad

    def _set_fitted(self, log_params: FloatArray, data: RFMData) -> None:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            ll, _ = self._loglik(log_params, data, gradient=False)
        hess = hessian_from_gradient(self._total_gradient(data), log_params)
        self.params_ = {
            name: float(v) for name, v in zip(self.param_names, np.exp(log_params), strict=True)
        }
        self.log_likelihood_ = float(ll)
        self.standard_errors_ = standard_errors(self.param_names, log_params, hess)
        self.n_customers_ = data.n_customers
        self.n_unique_rows_ = int(data.frequency.size)
        self.fit_warnings_ = fit_warnings(
            self.params_,
            self.standard_errors_,
            dropout_at_zero=self.dropout_at_zero,
            longest_age=float(data.T.max()),
        )

    def _theta(self) -> tuple[float, ...]:
        check_is_fitted(self)
        assert self.params_ is not None
        return tuple(self.params_[name] for name in self.param_names)

    def log_likelihood(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """Per-customer log-likelihood at the fitted parameters."""
        theta = np.log(np.asarray(self._theta()))
        x, t_x, t_cal = as_rfm(frequency, recency, T)
        data = RFMData(x, t_x, t_cal, np.ones_like(x))
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self._loglik_rows(theta, data)

    def _loglik_rows(self, log_params: FloatArray, data: RFMData) -> FloatArray:
        raise NotImplementedError

    # -- predictions (implemented by each model) -----------------------------------------
    def p_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """Probability that the customer is still active at age ``T``."""
        raise NotImplementedError

    def conditional_expected_purchases(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """Expected purchases in ``(T, T+t]`` given the customer's history."""
        raise NotImplementedError

    def expected_purchases(self, t: ArrayLike) -> FloatArray:
        """Expected repeat purchases in ``(0, t]`` of a newly acquired customer."""
        raise NotImplementedError

    def p_no_purchase(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """``P(no purchase in (T, T+t] | history)``."""
        raise NotImplementedError

    def median_time_to_next_purchase(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """Median time from ``T`` to the next purchase, given the customer is active."""
        raise NotImplementedError

    def p_purchases(self, k: ArrayLike, t: ArrayLike) -> FloatArray:
        """``P(X(t) = k)`` for a newly acquired customer."""
        raise NotImplementedError

    def conditional_p_purchases(
        self, k: ArrayLike, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """``P(k purchases in (T, T+t] | history)``."""
        raise NotImplementedError

    def set_params(self, **params: float) -> BTYDModel:
        """Set the fitted parameters directly (e.g. published values, or from a store)."""
        missing = set(self.param_names) - set(params)
        if missing:
            raise ValueError(f"missing parameters: {sorted(missing)}")
        self.params_ = {name: float(params[name]) for name in self.param_names}
        self.fit_warnings_ = []
        return self

    def __repr__(self) -> str:
        if self.params_ is None:
            return f"{type(self).__name__}(unfitted)"
        inner = ", ".join(f"{k}={v:.4g}" for k, v in self.params_.items())
        return f"{type(self).__name__}({inner})"
