"""The BG/NBD purchase process: vectorised simulation and closed-form expectations."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import hyp2f1

from recompra.generate.config import GeneratorConfig

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class RepeatPurchases:
    """Simulated repeat purchases of a group of customers.

    Attributes
    ----------
    lam, p
        True purchase rate (per time unit) and dropout probability of each customer.
    count
        Number of repeat purchases of each customer in ``(0, T]``.
    alive
        Whether the customer is still active at ``T``.
    owner, times
        Flat arrays, one entry per repeat purchase: the customer's position and the time
        since acquisition (time units), sorted by time within each customer.
    """

    lam: FloatArray
    p: FloatArray
    count: IntArray
    alive: npt.NDArray[np.bool_]
    owner: IntArray
    times: FloatArray


def simulate_repeat_purchases(
    rng: np.random.Generator, config: GeneratorConfig, horizon: FloatArray
) -> RepeatPurchases:
    """Simulate BG/NBD repeat purchases for customers observed for ``horizon`` time units.

    Parameters
    ----------
    rng
        Random generator (consumed deterministically).
    config
        Holds the true parameters ``r, alpha, a, b``.
    horizon
        Observation length ``T`` of each customer, in time units since acquisition.

    Returns
    -------
    RepeatPurchases
        Per-customer truth and the flat purchase times.

    Notes
    -----
    With ``N ~ Poisson(lambda T)`` events of the underlying process in ``(0, T]`` and
    ``J ~ Geometric(p)`` the index of the purchase after which the customer drops out,
    the customer makes ``X = min(N, J)`` purchases at the first ``X`` order statistics of
    ``N`` uniforms on ``(0, T]``. These are drawn without materialising all ``N``:
    ``U_(i) = S_i / (S_X + G)`` with ``S`` the cumulative sums of ``X`` standard
    exponentials and ``G ~ Gamma(N + 1 - X)``.
    """
    n = len(horizon)
    lam = rng.gamma(config.r, 1.0 / config.alpha, n)
    p = np.clip(rng.beta(config.a, config.b, n), 1e-12, 1.0)
    events = rng.poisson(lam * horizon).astype(np.int64)
    dropout_after = rng.geometric(p).astype(np.int64)
    count = np.minimum(events, dropout_after)
    total = int(count.sum())
    owner = np.repeat(np.arange(n, dtype=np.int64), count)
    gaps = rng.standard_exponential(total)
    csum = np.cumsum(gaps)
    ends = np.cumsum(count)
    starts = ends - count
    before = np.concatenate(([0.0], csum))[starts]
    partial = csum - before[owner]
    segment_total = np.concatenate(([0.0], csum))[ends] - before
    rest = rng.standard_gamma((events - count + 1).astype(np.float64))
    times = horizon[owner] * partial / (segment_total + rest)[owner]
    return RepeatPurchases(
        lam=lam,
        p=p,
        count=count,
        alive=dropout_after > count,
        owner=owner,
        times=times,
    )


def expected_repeat_purchases(
    t: FloatArray | float, r: float, alpha: float, a: float, b: float
) -> FloatArray:
    """Closed-form BG/NBD expectation ``E[X(t)]`` of repeat purchases in ``(0, t]``.

    Parameters
    ----------
    t
        Time(s) since acquisition, in the parameters' time unit.
    r, alpha, a, b
        BG/NBD parameters.

    Returns
    -------
    numpy.ndarray
        ``(a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r
        * 2F1(r, b; a + b - 1; t / (alpha + t)))`` (Fader, Hardie & Lee 2005, eq. 9).
    """
    tt = np.asarray(t, dtype=np.float64)
    z = tt / (alpha + tt)
    term = (alpha / (alpha + tt)) ** r * hyp2f1(r, b, a + b - 1.0, z)
    return np.asarray((a + b - 1.0) / (a - 1.0) * (1.0 - term), dtype=np.float64)


def expected_orders_per_customer(config: GeneratorConfig) -> float:
    """Expected orders per customer (acquisition + repeats + extra canceled ones).

    Acquisition times are uniform over the period, so the expectation averages
    :func:`expected_repeat_purchases` over a uniform horizon.
    """
    grid = (np.arange(2048, dtype=np.float64) + 0.5) / 2048 * config.period_units
    repeats = float(
        expected_repeat_purchases(grid, config.r, config.alpha, config.a, config.b).mean()
    )
    return (1.0 + repeats) * (1.0 + config.cancel_rate)
