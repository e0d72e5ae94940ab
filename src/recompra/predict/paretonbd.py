"""Pareto/NBD model (Schmittlein, Morrison & Colombo 1987).

Purchases follow a Poisson process with rate ``lambda ~ Gamma(r, alpha)`` while the
customer is alive; lifetimes are exponential with rate ``mu ~ Gamma(s, beta)``. The
likelihood (Fader & Hardie 2005, "A Note on Implementing the Pareto/NBD Model in MATLAB",
eq. 2-4) is::

    L = Gamma(r+x) alpha^r beta^s / Gamma(r)
        * [ (alpha+T)^-(r+x) (beta+T)^-s + s/(r+s+x) * (F(t_x) - F(T)) ]

    F(t) = 2F1(r+s+x, s+1; r+s+x+1; (alpha-beta)/(alpha+t)) / (alpha+t)^(r+s+x)  (alpha >= beta)
    F(t) = 2F1(r+s+x, r+x; r+s+x+1; (beta-alpha)/(beta+t)) / (beta+t)^(r+s+x)    (alpha < beta)

Numerical method (chosen for stability). With ``M = max(alpha, beta)``,
``m = min(alpha, beta)``, ``k = r+s+x`` and ``z = (M-m)/(M+t)`` in ``[0, 1)``, Euler's
transformation gives::

    2F1(k, b; k+1; z) = (1-z)^(1-b) * 2F1(1, k+1-b; k+1; z),   1 - z = (m+t)/(M+t)

The remaining series has positive terms bounded by ``z**n`` (for ``b >= 1``, and by
``n z**n`` otherwise), so it cannot overflow however large ``x`` is, while the factor
``(1-z)^(1-b)`` — the part that explodes for heavy buyers, ``b = r+x`` — is taken in log
space. ``log(F(t_x) - F(T))`` is ``log F(t_x) + log1p(-F(T)/F(t_x))``. The series itself is
evaluated by ``scipy.special.hyp2f1`` once per distinct ``(x, age)`` pair.

The gradient is taken by central differences of this exact log-likelihood (the
derivatives of 2F1 in its parameters have no closed form); the cost is kept low by the
pair de-duplication above.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln, hyp2f1, logsumexp, roots_laguerre

from recompra.predict import _nbd
from recompra.predict._base import (
    ArrayLike,
    FloatArray,
    RFMData,
    as_rfm,
    unique_rows,
    wdot,
)
from recompra.predict._nbd import NBDPurchaseModel

_FD_STEP = 1e-5


def _log_f(
    r: float, alpha: float, s: float, beta: float, x: FloatArray, t: FloatArray
) -> FloatArray:
    """``log F(t)`` (see module docstring), vectorised over ``(x, t)``."""
    k = r + s + x
    b: FloatArray | float
    if alpha >= beta:
        big, small, b = alpha, beta, s + 1.0
    else:
        big, small, b = beta, alpha, r + x
    log_big = np.log(big + t)
    log_one_minus_z = np.log(small + t) - log_big
    z = (big - small) / (big + t)
    series = _hyp2f1_one(k + 1.0 - b, k + 1.0, z)
    return np.asarray((1.0 - b) * log_one_minus_z + np.log(series) - k * log_big, dtype=np.float64)


def _hyp2f1_one(bp: FloatArray | float, c: FloatArray | float, z: FloatArray) -> FloatArray:
    """``2F1(1, bp; c; z)`` for ``0 <= z < 1``: scipy, checked, with a quadrature fallback.

    ``scipy.special.hyp2f1`` returns NaN in parts of this region (e.g. ``c`` in the tens
    of thousands with ``z`` near 1: very heavy buyers). The value lies in
    ``[1, 1/(1-z)]`` when ``bp <= c``; anything non-finite or outside that range is
    recomputed by :func:`_log_hyp_laguerre`.
    """
    bp_arr, c_arr, z_arr = np.broadcast_arrays(
        np.asarray(bp, dtype=np.float64), np.asarray(c, dtype=np.float64), z
    )
    value = np.asarray(hyp2f1(1.0, bp_arr, c_arr, z_arr), dtype=np.float64)
    upper = np.where(bp_arr <= c_arr, 1.0 / (1.0 - z_arr), np.inf)
    bad = ~np.isfinite(value) | (value < 1.0 - 1e-12) | (value > upper * (1 + 1e-12))
    if np.any(bad):
        value = value.copy()
        k = c_arr[bad] - 1.0  # c = k + 1
        b = c_arr[bad] - bp_arr[bad]  # bp = k + 1 - b
        zb = z_arr[bad]
        log_f = _log_hyp_laguerre(k, b, zb)
        value[bad] = np.exp((b - 1.0) * np.log1p(-zb) + log_f)
    return value


_LAGUERRE = roots_laguerre(96)


def _log_hyp_laguerre(k: FloatArray, b: FloatArray, z: FloatArray) -> FloatArray:
    """``log 2F1(k, b; k+1; z)`` by scaled Gauss-Laguerre quadrature.

    With ``u = exp(-v/k)``, ``2F1(k, b; k+1; z) = int_0^inf e^-v (1 - z e^(-v/k))^-b dv``.
    The integrand decays at about ``rho = b z / (k (1-z))`` beyond ``e^-v``; rescaling
    ``v = w / (1 + rho)`` leaves a slowly varying function for the Laguerre rule.
    """
    nodes, weights = _LAGUERRE
    rho = b * z / (k * (1.0 - z))
    scale = 1.0 / (1.0 + rho)
    v = nodes[None, :] * scale[:, None]
    log_terms = (
        np.log(weights)[None, :]
        + nodes[None, :] * (1.0 - scale)[:, None]
        - b[:, None] * np.log1p(-z[:, None] * np.exp(-v / k[:, None]))
    )
    return np.asarray(logsumexp(log_terms, axis=1) + np.log(scale), dtype=np.float64)


def _log_parts(
    r: float,
    alpha: float,
    s: float,
    beta: float,
    x: FloatArray,
    t_x: FloatArray,
    T: FloatArray,
    pairs: tuple[FloatArray, FloatArray, np.ndarray, np.ndarray] | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Log of the two terms inside the bracket: "alive at T" and "died in (t_x, T]"."""
    if pairs is None:
        n = x.size
        (ux, ut), inverse = unique_rows(np.concatenate([x, x]), np.concatenate([t_x, T]))
        inv_tx, inv_T = inverse[:n], inverse[n:]
    else:
        ux, ut, inv_tx, inv_T = pairs
    log_f = _log_f(r, alpha, s, beta, ux, ut)
    lf_tx = log_f[inv_tx]
    lf_T = log_f[inv_T]
    diff = np.minimum(lf_T - lf_tx, 0.0)
    log_a0 = lf_tx + np.log1p(-np.exp(diff))
    log_alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    log_dead = np.log(s) - np.log(r + s + x) + log_a0
    return log_alive, log_dead


class ParetoNBDModel(NBDPurchaseModel):
    """Pareto/NBD estimator (parameters ``r, alpha, s, beta``).

    Parameters
    ----------
    penalizer, tol, max_iter
        The optimiser's hyper-parameters, described in
        :class:`~recompra.predict._base.BTYDModel`.
    """

    param_names = ("r", "alpha", "s", "beta")
    model_name = "pareto"

    def _initial(self, data: RFMData) -> FloatArray:
        w = data.weights
        mean_t = float(np.sum(w * data.T) / data.n_customers)
        rate = float(np.sum(w * (data.frequency + 0.5)) / max(np.sum(w * data.T), 1e-9))
        return np.log(
            np.array([1.0, 1.0 / max(rate, 1e-9), 1.0, max(mean_t, 1e-3)], dtype=np.float64)
        )

    def _rows(self, log_params: FloatArray, data: RFMData) -> FloatArray:
        r, alpha, s, beta = np.exp(log_params)
        log_alive, log_dead = _log_parts(
            r, alpha, s, beta, data.frequency, data.recency, data.T, data.age_pairs
        )
        return np.asarray(np.logaddexp(log_alive, log_dead), dtype=np.float64)

    def _total(self, log_params: FloatArray, data: RFMData) -> float:
        r, alpha, s, beta = np.exp(log_params)
        ux, _, wx = data.x_groups
        x_part = float(wdot(wx, gammaln(r + ux))) + data.n_customers * float(
            -gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        )
        return x_part + float(wdot(data.weights, self._rows(log_params, data)))

    def _loglik_rows(self, log_params: FloatArray, data: RFMData) -> FloatArray:
        r, alpha, s, beta = np.exp(log_params)
        x = data.frequency
        log_alive, log_dead = _log_parts(r, alpha, s, beta, x, data.recency, data.T)
        const = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        return np.asarray(const + np.logaddexp(log_alive, log_dead), dtype=np.float64)

    def _loglik(
        self, log_params: FloatArray, data: RFMData, *, gradient: bool
    ) -> tuple[float, FloatArray]:
        ll = self._total(log_params, data)
        if not gradient:
            return ll, np.zeros(4)
        grad = np.empty(4)
        for i in range(4):
            step = np.zeros(4)
            step[i] = _FD_STEP
            up = self._total(log_params + step, data)
            down = self._total(log_params - step, data)
            grad[i] = (up - down) / (2 * _FD_STEP)
        return ll, grad

    # -- predictions -------------------------------------------------------------------
    def p_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """Probability of being alive at ``T`` (Fader & Hardie 2005 MATLAB note, eq. 11)."""
        r, alpha, s, beta = self._theta()
        x, t_x, t_cal = as_rfm(frequency, recency, T)
        with np.errstate(divide="ignore"):
            log_alive, log_dead = _log_parts(r, alpha, s, beta, x, t_x, t_cal)
        return np.asarray(np.exp(log_alive - np.logaddexp(log_alive, log_dead)), dtype=np.float64)

    def conditional_expected_purchases(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """Expected purchases in ``(T, T+t]`` given the history (SMC 1987; lifetimes).

        ``(r+x)(beta+T) / ((alpha+T)(s-1)) * [1 - ((beta+T)/(beta+T+t))**(s-1)] * P(alive)``,
        with the bracket over ``s - 1`` taken as ``-expm1((s-1) log u)/(s-1)`` so that
        ``s`` near 1 is handled (limit ``-log u``).
        """
        r, alpha, s, beta = self._theta()
        x, t_x, t_cal = as_rfm(frequency, recency, T)
        tt = np.asarray(t, dtype=np.float64)
        log_u = -np.log1p(tt / (beta + t_cal))
        factor = _one_minus_pow_over(log_u, s - 1.0)
        value = (r + x) * (beta + t_cal) / (alpha + t_cal) * factor
        return np.asarray(value * self.p_alive(x, t_x, t_cal), dtype=np.float64)

    def expected_purchases(self, t: ArrayLike) -> FloatArray:
        """Expected repeat purchases in ``(0, t]`` of a new customer.

        ``r beta / (alpha (s-1)) * [1 - (beta/(beta+t))**(s-1)]``.
        """
        r, alpha, s, beta = self._theta()
        tt = np.atleast_1d(np.asarray(t, dtype=np.float64))
        log_u = -np.log1p(tt / beta)
        return np.asarray(r * beta / alpha * _one_minus_pow_over(log_u, s - 1.0), dtype=np.float64)

    def p_purchases(self, k: ArrayLike, t: ArrayLike) -> FloatArray:
        """``P(X(t) = k)``: probability of ``k`` repeat purchases in ``(0, t]``.

        See :func:`pareto_nbd_pmf`; ``k`` and ``t`` broadcast.
        """
        r, alpha, s, beta = self._theta()
        return pareto_nbd_pmf(r, alpha, s, beta, k, t)

    def conditional_p_purchases(
        self, k: ArrayLike, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """``P(X(T, T+t) = k | x, t_x, T)``: ``k`` purchases in the next ``t`` given the history.

        Given that the customer is alive at ``T``, the posteriors are
        ``lambda ~ Gamma(r+x, alpha+T)`` and ``mu ~ Gamma(s, beta+T)`` (Fader & Hardie 2005
        derivations note, section 4) and, both clocks being memoryless, the future is a
        Pareto/NBD count with those parameters; a customer who has left buys nothing::

            P(k | history) = (1 - P(alive)) [k = 0]
                             + P(alive) * pmf(k; r+x, alpha+T, s, beta+T, t)
        """
        r, alpha, s, beta = self._theta()
        x, t_x, t_cal = as_rfm(frequency, recency, T)
        kk = np.asarray(k, dtype=np.float64)
        alive = self.p_alive(x, t_x, t_cal)
        future = pareto_nbd_pmf(r + x, alpha + t_cal, s, beta + t_cal, kk, t)
        return np.asarray((1.0 - alive) * (kk == 0) + alive * future, dtype=np.float64)


#: Composite Gauss-Legendre rule on [0, 1] (panels x nodes) for the dropout-time mixture.
_PANELS = 24
_LEGENDRE_NODES, _LEGENDRE_WEIGHTS = np.polynomial.legendre.leggauss(12)
_EDGES = np.linspace(0.0, 1.0, _PANELS + 1)
_HALF = np.diff(_EDGES)[:, None] / 2
_QUAD_POINTS = ((_EDGES[:-1, None] + _EDGES[1:, None]) / 2 + _HALF * _LEGENDRE_NODES).ravel()
_QUAD_WEIGHTS = (_HALF * _LEGENDRE_WEIGHTS).ravel()


def pareto_nbd_pmf(
    r: ArrayLike, alpha: ArrayLike, s: ArrayLike, beta: ArrayLike, k: ArrayLike, t: ArrayLike
) -> FloatArray:
    """``P(X(t) = k)`` of a new Pareto/NBD customer (every argument broadcasts).

    The customer buys as an NBD count (``lambda ~ Gamma(r, alpha)``) until the dropout time
    ``tau``, whose mixture over ``mu ~ Gamma(s, beta)`` is a Lomax law,
    ``P(tau > u) = (beta/(beta+u))**s``. So ``X(t) = N(min(tau, t))`` and::

        P(X(t)=k) = (beta/(beta+t))**s NB(k; r, alpha, t)
                    + integral_0^t NB(k; r, alpha, u) dF_tau(u)

    The integral is taken in the probability scale ``v = F_tau(u)`` (so the integrand is
    bounded by 1 and smooth) with a composite Gauss-Legendre rule of 288 points. This is
    the same quantity as Fader & Hardie's closed form ("Deriving an expression for
    P(X(t)=x) under the Pareto/NBD model", 2006/2020), whose alternating sum of 2F1 terms
    loses precision for large ``x`` or ``t``; the quadrature does not, and because
    ``NB(., r, alpha, u)`` sums to one at every node, the result sums to one over ``k``
    up to rounding.
    """
    rr, al, ss, be, kk, tt = np.broadcast_arrays(
        *(np.asarray(v, dtype=np.float64) for v in (r, alpha, s, beta, k, t))
    )
    log_survive = -ss * np.log1p(tt / be)
    dropped = -np.expm1(log_survive)  # P(tau <= t)
    v = dropped[..., None] * _QUAD_POINTS
    # u = F^-1(v) = beta ((1-v)^(-1/s) - 1)
    u = be[..., None] * np.expm1(-np.log1p(-v) / ss[..., None])
    inside = _nbd.nbd_pmf(rr[..., None], al[..., None], kk[..., None], u)
    mixture = dropped * np.sum(inside * _QUAD_WEIGHTS, axis=-1)
    pmf = np.exp(log_survive) * _nbd.nbd_pmf(rr, al, kk, tt) + mixture
    return np.asarray(pmf, dtype=np.float64)


def _one_minus_pow_over(log_u: FloatArray, e: float) -> FloatArray:
    """``(1 - u**e) / e`` for ``u = exp(log_u)``, continuous at ``e = 0``."""
    if abs(e) < 1e-10:
        return np.asarray(-log_u, dtype=np.float64)
    return np.asarray(-np.expm1(e * log_u) / e, dtype=np.float64)
