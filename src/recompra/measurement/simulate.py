"""Ground truth for the measurement statistics: journeys with a known effect.

Each simulated customer enters a journey, lands in the holdout or the treated arm and
repurchases within the window with the baseline probability plus ``lift`` when treated;
an order's value is log-normal. A pre-period covariate correlated with the customer's
propensity stands in for a predicted CLV (what CUPED adjusts with). Everything is
vectorised numpy, so thousands of experiments run in a test in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class SimulatedJourney:
    """One experiment: arm per customer, conversion, revenue (minor units), covariate."""

    holdout: npt.NDArray[np.bool_]
    converted: npt.NDArray[np.bool_]
    revenue_minor: npt.NDArray[np.int64]
    covariate: npt.NDArray[np.float64]


def simulate_journey(
    rng: np.random.Generator,
    *,
    customers: int,
    holdout_share: float,
    baseline: float,
    lift: float,
    order_value_minor: int = 15_000,
    holdout: npt.NDArray[np.bool_] | None = None,
) -> SimulatedJourney:
    """A journey whose treated customers convert with ``baseline + lift`` (absolute).

    ``holdout`` is the arm of each customer when the caller assigns it (the real stable
    hash); otherwise arms are drawn with ``holdout_share``.
    """
    arm = rng.random(customers) < holdout_share if holdout is None else holdout
    # Customers differ in propensity; the covariate sees it with noise, as a model would.
    propensity = rng.normal(0.0, 1.0, customers)
    base = np.clip(baseline * np.exp(0.5 * propensity - 0.125), 0.0, 1.0)
    # The lift is added to each treated customer's probability, so its mean is exact
    # wherever the clip does not bind.
    probability = np.clip(base + np.where(arm, 0.0, lift), 0.0, 1.0)
    converted = rng.random(customers) < probability
    sigma = 0.8
    values = rng.lognormal(np.log(order_value_minor) - sigma**2 / 2, sigma, customers)
    revenue = np.where(converted, np.rint(values), 0).astype(np.int64)
    covariate = propensity + rng.normal(0.0, 0.7, customers)
    return SimulatedJourney(arm, converted, revenue, covariate)


@dataclass(frozen=True)
class DailyCounts:
    """Cumulative entrants and conversions per arm at the end of each day (sims x days)."""

    treated_n: npt.NDArray[np.int64]
    treated_converted: npt.NDArray[np.int64]
    control_n: npt.NDArray[np.int64]
    control_converted: npt.NDArray[np.int64]


def simulate_daily(
    rng: np.random.Generator,
    *,
    simulations: int,
    days: int,
    entries_per_day: int,
    holdout_share: float,
    baseline: float,
    lift: float = 0.0,
) -> DailyCounts:
    """Many journeys observed daily: binomial arms and conversions, cumulated per day."""
    shape = (simulations, days)
    control_daily = rng.binomial(entries_per_day, holdout_share, shape)
    treated_daily = entries_per_day - control_daily
    return DailyCounts(
        np.cumsum(treated_daily, axis=1),
        np.cumsum(rng.binomial(treated_daily, baseline + lift), axis=1),
        np.cumsum(control_daily, axis=1),
        np.cumsum(rng.binomial(control_daily, baseline), axis=1),
    )
