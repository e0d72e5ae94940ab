"""Closed forms of the NBD purchase process shared by all models.

While a customer is active, purchases follow a Poisson process with rate ``lambda``, and
``lambda ~ Gamma(r, alpha)`` across customers (shape ``r``, rate ``alpha``). Given
``x`` repeat purchases in an observed age ``T`` and that the customer is still active at
``T``, the posterior of ``lambda`` is ``Gamma(r + x, alpha + T)`` in all three models.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import nbinom

from recompra.predict._base import ArrayLike, BTYDModel, FloatArray, as_float


def p_no_purchase_given_alive(
    r: float, alpha: float, x: FloatArray, T: FloatArray, t: FloatArray
) -> FloatArray:
    """``P(no purchase in (T, T+t] | active at T)`` ignoring dropout inside the window.

    Equals ``E[exp(-lambda t)]`` under the posterior ``Gamma(r+x, alpha+T)``:
    ``((alpha+T)/(alpha+T+t))**(r+x)``. For BG/NBD and MBG/NBD it is exact, because a
    customer can only drop out right after a purchase.
    """
    return np.asarray(np.exp(-(r + x) * np.log1p(t / (alpha + T))), dtype=np.float64)


def median_time_to_next_purchase(
    r: float, alpha: float, x: FloatArray, T: FloatArray
) -> FloatArray:
    """Median waiting time from ``T`` to the next purchase of an active customer.

    Solves ``((alpha+T)/(alpha+T+w))**(r+x) = 1/2``:
    ``w = (alpha+T) * (2**(1/(r+x)) - 1)``. The mean ``(alpha+T)/(r+x-1)`` would be
    infinite for ``r + x <= 1`` (most one-time buyers), so the median is used.
    """
    return np.asarray((alpha + T) * np.expm1(np.log(2.0) / (r + x)), dtype=np.float64)


def nbd_pmf(
    r: FloatArray | float, alpha: FloatArray | float, k: FloatArray, t: FloatArray
) -> FloatArray:
    """``P(N(t) = k)`` of the NBD (Poisson-gamma) count in a window of length ``t``.

    ``r`` and ``alpha`` may be arrays (per-customer posterior parameters); all broadcast.
    """
    return np.asarray(nbinom.pmf(k, r, alpha / (alpha + t)), dtype=np.float64)


def nbd_sf_ge(
    r: FloatArray | float, alpha: FloatArray | float, k: FloatArray, t: FloatArray
) -> FloatArray:
    """``P(N(t) >= k)`` of the NBD count (1 for ``k <= 0``)."""
    return np.asarray(
        np.where(k <= 0, 1.0, nbinom.sf(k - 1, r, alpha / (alpha + t))), dtype=np.float64
    )


class NBDPurchaseModel(BTYDModel):
    """BTYD model whose active customers buy by the NBD process above.

    Subclasses list ``r`` and ``alpha`` first in ``param_names``; the waiting-time
    predictions below then hold for every such model and are written once here.
    """

    def p_no_purchase(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """``P(no purchase in (T, T+t] | history)``.

        ``(1 - P(alive)) + P(alive) * ((alpha+T)/(alpha+T+t))**(r+x)``. Exact for the BG
        family (a customer drops out only right after a purchase); for Pareto/NBD dropout
        *during* the window is ignored, which makes it a lower bound (an active customer
        who dies inside the window buys even less).
        """
        r, alpha = self._theta()[:2]
        x = as_float(frequency, "frequency")
        t_cal = as_float(T, "T")
        pa = self.p_alive(x, as_float(recency, "recency"), t_cal)
        stay = p_no_purchase_given_alive(r, alpha, x, t_cal, np.asarray(t, dtype=np.float64))
        return np.asarray(1.0 - pa + pa * stay, dtype=np.float64)

    def median_time_to_next_purchase(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """Median time from ``T`` to the next purchase, given the customer is active."""
        r, alpha = self._theta()[:2]
        return median_time_to_next_purchase(
            r, alpha, as_float(frequency, "frequency"), as_float(T, "T")
        )
