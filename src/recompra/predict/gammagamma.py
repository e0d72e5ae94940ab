"""Gamma-Gamma model of monetary value (Fader, Hardie & Lee 2005, "RFM and CLV: using
iso-value curves"; Fader & Hardie 2013, "The Gamma-Gamma Model of Monetary Value").

Each transaction value of a customer is ``Gamma(p, nu)``; ``nu ~ Gamma(q, v)`` across
customers. For a customer with ``x`` transactions of average value ``m`` the likelihood
of ``m`` is (Fader & Hardie 2013, eq. 3)::

    f(m | p, q, v, x) = Gamma(px+q) / (Gamma(px) Gamma(q)) * v^q m^(px-1) x^(px)
                        / (v + m x)^(px+q)

Only customers with ``x > 0`` (repeat purchases, in lifetimes' convention) carry
information; rows with ``x == 0`` or ``m <= 0`` are ignored by :meth:`fit`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import digamma, gammaln

from recompra.predict._base import (
    ArrayLike,
    FloatArray,
    as_float,
    check_is_fitted,
    compress_rows,
    hessian_from_gradient,
    maximise,
    standard_errors,
    wdot,
)


@dataclass(frozen=True)
class _SpendData:
    """Compressed spend data with the parameter-free sums precomputed."""

    x: FloatArray
    mx: FloatArray
    w: FloatArray
    wx_row: FloatArray
    ux: FloatArray
    wx: FloatArray
    n: float
    s_xlogm: float
    s_xlogx: float
    s_logm: float

    @classmethod
    def build(cls, x: FloatArray, m: FloatArray, w: FloatArray) -> _SpendData:
        ux, inverse = np.unique(x, return_inverse=True)
        wx = np.bincount(inverse.reshape(-1), weights=w, minlength=ux.size)
        log_m = np.log(m)
        return cls(
            x=x,
            mx=m * x,
            w=w,
            wx_row=w * x,
            ux=ux,
            wx=np.asarray(wx, dtype=np.float64),
            n=float(w.sum()),
            s_xlogm=float(wdot(w * x, log_m)),
            s_xlogx=float(wdot(w * x, np.log(x))),
            s_logm=float(wdot(w, log_m)),
        )


class GammaGammaModel:
    """Gamma-Gamma spend estimator (parameters ``p, q, v``).

    Parameters
    ----------
    penalizer : float, default 0.0
        L2 penalty on the parameters (0 gives the maximum-likelihood estimate).
    tol : float, default 1e-8
        Gradient tolerance of the optimiser.
    max_iter : int, default 500
        Maximum optimiser iterations.
    """

    param_names = ("p", "q", "v")

    params_: dict[str, float] | None
    log_likelihood_: float
    standard_errors_: dict[str, float]
    n_customers_: float

    def __init__(self, penalizer: float = 0.0, tol: float = 1e-8, max_iter: int = 500) -> None:
        self.penalizer = penalizer
        self.tol = tol
        self.max_iter = max_iter
        self.params_ = None

    @staticmethod
    def _loglik(log_params: FloatArray, data: _SpendData) -> tuple[float, FloatArray]:
        """Total log-likelihood and gradient in log-params.

        Terms in ``x`` alone are evaluated once per distinct ``x``; sums of ``log m`` and
        ``log x`` are precomputed, so each evaluation costs one ``log`` per row.
        """
        p, q, v = np.exp(log_params)
        ux, wx = data.ux, data.wx
        pux = p * ux
        n = data.n
        log_vmx = np.log(v + data.mx)
        inv_vmx = 1.0 / (v + data.mx)
        sum_log = float(wdot(data.w, log_vmx))
        sum_xlog = float(wdot(data.wx_row, log_vmx))
        ll = (
            float(wdot(wx, gammaln(pux + q) - gammaln(pux)))
            + n * float(q * np.log(v) - gammaln(q))
            + p * (data.s_xlogm + data.s_xlogx)
            - data.s_logm
            - p * sum_xlog
            - q * sum_log
        )
        d_pq = digamma(pux + q)
        g_p = float(wdot(wx, ux * (d_pq - digamma(pux)))) + data.s_xlogm + data.s_xlogx - sum_xlog
        g_q = float(wdot(wx, d_pq)) - n * float(digamma(q) - np.log(v)) - sum_log
        g_v = n * q / v - p * float(wdot(data.wx_row, inv_vmx)) - q * float(wdot(data.w, inv_vmx))
        return ll, np.array([g_p * p, g_q * q, g_v * v])

    def fit(
        self,
        frequency: ArrayLike,
        monetary_value: ArrayLike,
        weights: ArrayLike | None = None,
    ) -> GammaGammaModel:
        """Fit by maximum likelihood.

        Parameters
        ----------
        frequency : array-like
            Number of (repeat) transactions whose values are averaged.
        monetary_value : array-like
            Average value of those transactions.
        weights : array-like, optional
            Number of customers each row stands for.

        Returns
        -------
        self
        """
        x = as_float(frequency, "frequency")
        m = as_float(monetary_value, "monetary_value")
        if x.size != m.size:
            raise ValueError("frequency and monetary_value must have the same length")
        w = np.ones_like(x) if weights is None else as_float(weights, "weights")
        keep = (x > 0) & (m > 0) & (w > 0)
        if not np.any(keep):
            raise ValueError("Gamma-Gamma needs customers with frequency > 0 and spend > 0")
        (x, m), w = compress_rows([x[keep], m[keep]], w[keep])
        data = _SpendData.build(x, m, w)
        n = data.n
        pen = self.penalizer

        def objective(log_params: FloatArray) -> tuple[float, FloatArray]:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                ll, grad = self._loglik(log_params, data)
            theta = np.exp(log_params)
            value = -ll / n + pen * float(np.sum(theta**2))
            g = -grad / n + pen * 2 * theta**2
            if not np.isfinite(value) or not np.all(np.isfinite(g)):
                return np.inf, np.zeros(3)
            return value, g

        mean_m = float(wdot(w, m) / n)
        x0 = np.log(np.array([1.0, 2.0, mean_m]))
        log_params = maximise(objective, x0, tol=self.tol, max_iter=self.max_iter)
        ll, _ = self._loglik(log_params, data)
        hess = hessian_from_gradient(lambda lp: -self._loglik(lp, data)[1], log_params)
        self.params_ = {
            k: float(val) for k, val in zip(self.param_names, np.exp(log_params), strict=True)
        }
        self.log_likelihood_ = ll
        self.standard_errors_ = standard_errors(self.param_names, log_params, hess)
        self.n_customers_ = n
        return self

    def set_params(self, **params: float) -> GammaGammaModel:
        """Set the fitted parameters directly."""
        self.params_ = {name: float(params[name]) for name in self.param_names}
        return self

    def population_mean_spend(self) -> float:
        """Mean transaction value across customers, ``p v / (q - 1)`` (needs ``q > 1``)."""
        check_is_fitted(self)
        assert self.params_ is not None
        p, q, v = (self.params_[k] for k in self.param_names)
        return float(p * v / (q - 1)) if q > 1 else float("nan")

    def conditional_expected_average_spend(
        self, frequency: ArrayLike, monetary_value: ArrayLike
    ) -> FloatArray:
        """Expected average transaction value given ``x`` transactions averaging ``m``.

        ``(p v + p x m) / (p x + q - 1)`` (Fader & Hardie 2013, eq. 5): a weighted mean
        of the population mean and the customer's own mean, trusting the latter more as
        ``x`` grows. For ``x == 0`` this is the population mean.
        """
        check_is_fitted(self)
        assert self.params_ is not None
        p, q, v = (self.params_[k] for k in self.param_names)
        x = as_float(frequency, "frequency")
        m = as_float(monetary_value, "monetary_value")
        m = np.where(x > 0, m, 0.0)
        return np.asarray((p * v + p * x * m) / (p * x + q - 1), dtype=np.float64)

    def __repr__(self) -> str:
        if self.params_ is None:
            return "GammaGammaModel(unfitted)"
        inner = ", ".join(f"{k}={val:.4g}" for k, val in self.params_.items())
        return f"GammaGammaModel({inner})"
