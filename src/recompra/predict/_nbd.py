"""Closed forms of the NBD purchase process shared by all models.

While a customer is active, purchases follow a Poisson process with rate ``lambda``, and
``lambda ~ Gamma(r, alpha)`` across customers (shape ``r``, rate ``alpha``). Given
``x`` repeat purchases in an observed age ``T`` and that the customer is still active at
``T``, the posterior of ``lambda`` is ``Gamma(r + x, alpha + T)`` in all three models.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import nbinom

from recompra.predict._base import FloatArray


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
