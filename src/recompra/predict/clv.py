"""Customer lifetime value over a finite horizon with monthly discounting.

``CLV = margin * E[spend] * sum_k (E[X(T, T+t_k)] - E[X(T, T+t_{k-1})]) / (1 + d)^k`` for
months ``k = 1..K`` (``t_k`` the end of month ``k``, the last one cut at the horizon):
purchases expected in month ``k`` are discounted ``k`` months at the monthly rate ``d``
(the discrete scheme of lifetimes' ``customer_lifetime_value``).
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np

from recompra.predict._base import ArrayLike, FloatArray

#: Mean month length in days.
MONTH_DAYS = 365.25 / 12


class TransactionModel(Protocol):
    """What the CLV needs of a fitted transaction model."""

    def conditional_expected_purchases(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray: ...


def discounted_expected_purchases(
    model: TransactionModel,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    *,
    horizon_days: float,
    time_unit_days: float,
    monthly_discount_rate: float,
) -> FloatArray:
    """Expected purchases over the horizon, each discounted to the present (in months)."""
    if horizon_days <= 0:
        return np.zeros(np.atleast_1d(np.asarray(frequency)).size)
    n_months = math.ceil(horizon_days / MONTH_DAYS - 1e-9)
    total = np.zeros(np.atleast_1d(np.asarray(frequency)).size)
    previous = np.zeros_like(total)
    for k in range(1, n_months + 1):
        end_days = min(k * MONTH_DAYS, horizon_days)
        cumulative = model.conditional_expected_purchases(
            end_days / time_unit_days, frequency, recency, T
        )
        total += (cumulative - previous) / (1.0 + monthly_discount_rate) ** k
        previous = cumulative
    return total


def customer_lifetime_value(
    model: TransactionModel,
    spend: ArrayLike,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    *,
    horizon_days: float = 365.0,
    time_unit_days: float = 7.0,
    monthly_discount_rate: float = 0.01,
    margin: float = 1.0,
) -> FloatArray:
    """Discounted value of the purchases expected within ``horizon_days``.

    Parameters
    ----------
    model
        Fitted BG/NBD, MBG/NBD or Pareto/NBD model.
    spend : array-like
        Expected value per purchase (e.g. the Gamma-Gamma conditional expected spend).
    frequency, recency, T : array-like
        Calibration summary in the model's time unit.
    horizon_days : float, default 365
        Horizon in days.
    time_unit_days : float, default 7
        Days per model time unit.
    monthly_discount_rate : float, default 0.01
        Discount rate per month.
    margin : float, default 1.0
        Profit margin applied to the spend.
    """
    purchases = discounted_expected_purchases(
        model,
        frequency,
        recency,
        T,
        horizon_days=horizon_days,
        time_unit_days=time_unit_days,
        monthly_discount_rate=monthly_discount_rate,
    )
    return np.asarray(margin * np.asarray(spend, dtype=np.float64) * purchases, dtype=np.float64)
