"""The beta-geometric dropout family shared by BG/NBD and MBG/NBD.

Both models let each customer drop out with probability ``p ~ Beta(a, b)`` right after
a purchase; BG/NBD only after *repeat* purchases, MBG/NBD (Batislam et al. 2007) also
right after the first purchase (``m = 1`` below). With ``m`` in {0, 1} the likelihood of
``(x, t_x, T)`` is (Fader, Hardie & Lee 2005, eq. 6; BTYDplus ``xbgcnbd.LL`` with k=1)::

    L = B(a, b+x+m)/B(a, b) * Gamma(r+x) alpha^r / Gamma(r)
        * [ (alpha+T)^-(r+x) + d * a/(b+x-1+m) * (alpha+t_x)^-(r+x) ]

with ``d = 1`` if ``x > 0 or m == 1`` else 0. Everything is evaluated in log space
(``gammaln``, ``logaddexp``), so huge frequencies and long ages do not overflow.
"""

from __future__ import annotations

import numpy as np
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

from recompra.predict import _nbd
from recompra.predict._base import ArrayLike, FloatArray, RFMData, as_rfm, wdot
from recompra.predict._nbd import NBDPurchaseModel


class BetaGeoFamily(NBDPurchaseModel):
    """Common implementation; use :class:`BetaGeoModel` or :class:`ModifiedBetaGeoModel`."""

    param_names = ("r", "alpha", "a", "b")

    def _initial(self, data: RFMData) -> FloatArray:
        w = data.weights
        rate = float(np.sum(w * (data.frequency + 0.5)) / max(np.sum(w * data.T), 1e-9))
        return np.log(np.array([1.0, 1.0 / max(rate, 1e-9), 1.0, 1.0], dtype=np.float64))

    def _terms(
        self, log_params: FloatArray, data: RFMData
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
        r, alpha, a, b = np.exp(log_params)
        m = self.dropout_at_zero
        x, t_x, T = data.frequency, data.recency, data.T
        log_aT = np.log(alpha + T)
        log_atx = np.log(alpha + t_x)
        a3 = -(r + x) * log_aT
        has_a4 = (x > 0) if m == 0 else np.ones(x.shape, dtype=bool)
        denom = np.where(has_a4, b + x - 1 + m, 1.0)
        a4 = np.where(has_a4, np.log(a) - np.log(denom) - (r + x) * log_atx, -np.inf)
        d = np.logaddexp(a3, a4)
        return a3, a4, d, log_aT, log_atx

    def _x_terms(self, log_params: FloatArray, ux: FloatArray) -> FloatArray:
        r, alpha, a, b = np.exp(log_params)
        m = self.dropout_at_zero
        return np.asarray(
            gammaln(r + ux) - gammaln(r) + r * np.log(alpha) + betaln(a, b + ux + m) - betaln(a, b),
            dtype=np.float64,
        )

    def _loglik_rows(self, log_params: FloatArray, data: RFMData) -> FloatArray:
        _, _, d, _, _ = self._terms(log_params, data)
        return np.asarray(self._x_terms(log_params, data.frequency) + d, dtype=np.float64)

    def _loglik(
        self, log_params: FloatArray, data: RFMData, *, gradient: bool
    ) -> tuple[float, FloatArray]:
        r, alpha, a, b = np.exp(log_params)
        m = self.dropout_at_zero
        w = data.weights
        ux, _, wx = data.x_groups
        a3, a4, d, log_aT, log_atx = self._terms(log_params, data)
        ll = float(wdot(wx, self._x_terms(log_params, ux)) + wdot(w, d))
        if not gradient:
            return ll, np.zeros(4)
        x, T, t_x = data.frequency, data.T, data.recency
        w3 = w * np.exp(a3 - d)
        w4 = w * np.exp(a4 - d)
        # frequency-only parts, once per distinct frequency
        g_r_x = float(wdot(wx, digamma(r + ux) - digamma(r)))
        ab = digamma(a + b) - digamma(a + b + ux + m)
        g_a_x = float(wdot(wx, ab))
        g_b_x = float(wdot(wx, ab + digamma(b + ux + m) - digamma(b)))
        n = data.n_customers
        has_a4 = (x > 0) if m == 0 else np.ones(x.shape, dtype=bool)
        denom = np.where(has_a4, b + x - 1 + m, 1.0)
        g_r = g_r_x + n * np.log(alpha) - float(wdot(w3, log_aT) + wdot(w4, log_atx))
        g_alpha = n * r / alpha - float(
            wdot(w3, (r + x) / (alpha + T)) + wdot(w4, (r + x) / (alpha + t_x))
        )
        w4_sum = float(w4.sum())
        g_a = g_a_x + w4_sum / a
        g_b = g_b_x - float(wdot(w4, 1.0 / denom))
        grad = np.array([g_r * r, g_alpha * alpha, g_a * a, g_b * b])
        return ll, grad

    # -- predictions -------------------------------------------------------------------
    def p_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> FloatArray:
        """Probability that the customer is still active at age ``T``.

        ``1 / (1 + d * a/(b+x-1+m) * ((alpha+T)/(alpha+t_x))**(r+x))`` (FHL 2005 eq. 13;
        BTYDplus ``mbgcnbd.PAlive`` for MBG/NBD).
        """
        r, alpha, a, b = self._theta()
        m = self.dropout_at_zero
        x, t_x, t_cal = as_rfm(frequency, recency, T)
        has = (x > 0) if m == 0 else np.ones(x.shape, dtype=bool)
        denom = np.where(has, b + x - 1 + m, 1.0)
        logit = np.log(a) - np.log(denom) + (r + x) * (np.log(alpha + t_cal) - np.log(alpha + t_x))
        return np.asarray(np.where(has, expit(-logit), 1.0), dtype=np.float64)

    def conditional_expected_purchases(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """Expected purchases in ``(T, T+t]`` given the customer's history.

        FHL 2005 eq. 10 (BTYDplus ``xbgcnbd.ConditionalExpectedTransactions``)::

            (a+b+x-1+m)/(a-1) * [1 - ((alpha+T)/(alpha+T+t))**(r+x)
                                 * 2F1(r+x, b+x+m; a+b+x-1+m; t/(alpha+T+t))] * P(alive)

        The product ``(1-z)**(r+x) 2F1(...)`` is rewritten with Euler's transformation as
        ``(1-z)**(a-1) 2F1(a+b-1+m-r, a-1; a+b+x-1+m; z)``, whose parameters do not grow
        with ``x``, so it cannot overflow for heavy buyers.
        """
        r, alpha, a, b = self._theta()
        m = self.dropout_at_zero
        if abs(a - 1.0) < 1e-7:  # removable singularity of the closed form
            a = 1.0 + 1e-7
        x, t_x, t_cal = as_rfm(frequency, recency, T)
        tt = np.asarray(t, dtype=np.float64)
        z = tt / (alpha + t_cal + tt)
        c = a + b + x - 1 + m
        one_minus_z = (alpha + t_cal) / (alpha + t_cal + tt)
        hyp = hyp2f1(a + b - 1 + m - r, a - 1, c, z)
        bracket = 1.0 - one_minus_z ** (a - 1) * hyp
        value = c / (a - 1) * bracket * self.p_alive(x, t_x, t_cal)
        return np.asarray(np.maximum(value, 0.0), dtype=np.float64)

    def expected_purchases(self, t: ArrayLike) -> FloatArray:
        """Expected repeat purchases in ``(0, t]`` of a newly acquired customer."""
        tt = np.atleast_1d(np.asarray(t, dtype=np.float64))
        zeros = np.zeros_like(tt)
        return self.conditional_expected_purchases(tt, zeros, zeros, zeros)

    def p_purchases(self, k: ArrayLike, t: ArrayLike) -> FloatArray:
        """``P(X(t) = k)``: probability of ``k`` repeat purchases in ``(0, t]``.

        Closed form of FHL 2005 eq. 8 (and its MBG/NBD analogue with the dropout also
        possible at time 0); see :func:`beta_geo_pmf`. ``k`` and ``t`` broadcast.
        """
        r, alpha, a, b = self._theta()
        return beta_geo_pmf(r, alpha, a, b, self.dropout_at_zero, k, t)

    def conditional_p_purchases(
        self, k: ArrayLike, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """``P(X(T, T+t) = k | x, t_x, T)``: ``k`` purchases in the next ``t`` given the history.

        A customer active at ``T`` has the posterior ``lambda ~ Gamma(r+x, alpha+T)`` and
        ``p ~ Beta(a, b+x+m)`` (they survived ``x+m`` dropout chances), and, the Poisson
        process being memoryless, buys from ``T`` on like a *new* BG/NBD customer with those
        parameters (no dropout at ``T`` itself). A customer who has left buys nothing::

            P(k | history) = (1 - P(alive)) [k = 0]
                             + P(alive) * pmf_BG(k; r+x, alpha+T, a, b+x+m, t)

        This is FHL's conditional PMF (Fader, Hardie & Lee, "Computing P(X(t)=x | history)
        for the BG/NBD"; lifetimes ``conditional_probability_of_n_purchases_up_to_time``).
        ``k``, ``t`` and the customer arrays broadcast.
        """
        r, alpha, a, b = self._theta()
        x, t_x, t_cal = as_rfm(frequency, recency, T)
        kk = np.asarray(k, dtype=np.float64)
        alive = self.p_alive(x, t_x, t_cal)
        future = beta_geo_pmf(r + x, alpha + t_cal, a, b + x + self.dropout_at_zero, 0, kk, t)
        return np.asarray((1.0 - alive) * (kk == 0) + alive * future, dtype=np.float64)


def beta_geo_pmf(
    r: ArrayLike,
    alpha: ArrayLike,
    a: ArrayLike,
    b: ArrayLike,
    dropout_at_zero: int,
    k: ArrayLike,
    t: ArrayLike,
) -> FloatArray:
    """``P(X(t) = k)`` of a new BG/NBD (``dropout_at_zero=0``) or MBG/NBD (1) customer.

    FHL 2005 eq. 8, with ``m = dropout_at_zero``::

        P(X(t)=k) = E[(1-p)^(k+m)] NB(k; r, alpha, t)
                    + E[p (1-p)^(k-1+m)] P(NB(r, alpha, t) >= k)

    with ``E[(1-p)^j] = B(a, b+j)/B(a, b)`` and ``E[p(1-p)^j] = B(a+1, b+j)/B(a, b)``;
    the second term is absent for ``k = 0`` in BG/NBD. Every argument broadcasts, so the
    parameters may be per-customer posterior values.
    """
    m = dropout_at_zero
    rr, al, aa, bb, kk, tt = np.broadcast_arrays(
        *(np.asarray(v, dtype=np.float64) for v in (r, alpha, a, b, k, t))
    )
    survive = np.exp(betaln(aa, bb + kk + m) - betaln(aa, bb))
    die_at = np.where(
        kk + m - 1 >= 0,
        np.exp(betaln(aa + 1, bb + np.maximum(kk - 1 + m, 0)) - betaln(aa, bb)),
        0.0,
    )
    pmf = survive * _nbd.nbd_pmf(rr, al, kk, tt) + die_at * _nbd.nbd_sf_ge(rr, al, kk, tt)
    return np.asarray(pmf, dtype=np.float64)
