"""Samplers that draw calibration summaries from known model parameters.

Used by the tests (parameter recovery) and the benchmarks. All samplers are vectorised:
a million customers take well under a second. Given ``N`` purchase-process events in a
window of length ``w``, their times are uniform order statistics, so the time of the
``x``-th of them is ``w * Beta(x, N - x + 1)``; no event log is materialised.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from recompra.predict._base import FloatArray


@dataclass(frozen=True)
class Simulated:
    """A simulated calibration summary (lifetimes conventions)."""

    frequency: FloatArray
    recency: FloatArray
    T: FloatArray


def _ages(n: int, T: npt.ArrayLike) -> FloatArray:
    ages = np.broadcast_to(np.asarray(T, dtype=np.float64), (n,)).copy()
    if np.any(ages <= 0):
        raise ValueError("T must be positive")
    return ages


def _last_time(
    rng: np.random.Generator,
    x: npt.NDArray[np.int64],
    n_events: npt.NDArray[np.int64],
    w: FloatArray,
) -> FloatArray:
    t_x = np.zeros(x.size)
    pos = x > 0
    t_x[pos] = w[pos] * rng.beta(x[pos], n_events[pos] - x[pos] + 1)
    return t_x


def _snap(t_x: FloatArray, resolution: float | None) -> FloatArray:
    if resolution is None:
        return t_x
    return np.round(t_x / resolution) * resolution


def simulate_bgnbd(
    n: int,
    *,
    r: float,
    alpha: float,
    a: float,
    b: float,
    T: npt.ArrayLike,
    seed: int | None = None,
    dropout_at_zero: bool = False,
    resolution: float | None = None,
) -> Simulated:
    """Draw ``n`` customers from BG/NBD (or MBG/NBD with ``dropout_at_zero=True``).

    Parameters
    ----------
    n : int
        Number of customers.
    r, alpha, a, b : float
        True parameters.
    T : float or array-like
        Age of each customer at the end of the calibration period.
    seed : int, optional
        Seed of ``numpy.random.default_rng``.
    dropout_at_zero : bool, default False
        MBG/NBD: the customer may also drop out right after the first purchase.
    resolution : float, optional
        Record purchase times on this grid (e.g. ``1/7`` for days when ``T`` is in weeks),
        as real order data are; ``None`` keeps continuous times.
    """
    rng = np.random.default_rng(seed)
    ages = _ages(n, T)
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    n_events = rng.poisson(lam * ages)
    # purchases made before dropping out: geometric on {1, 2, ...} (BG/NBD: dropout after
    # a repeat purchase) or on {0, 1, ...} (MBG/NBD: also right after the first one)
    survive = rng.geometric(np.clip(p, 1e-300, 1.0)) - (1 if dropout_at_zero else 0)
    x = np.minimum(n_events, survive)
    t_x = _snap(_last_time(rng, x, n_events, ages), resolution)
    return Simulated(x.astype(np.float64), np.minimum(t_x, ages), ages)


def simulate_paretonbd(
    n: int,
    *,
    r: float,
    alpha: float,
    s: float,
    beta: float,
    T: npt.ArrayLike,
    seed: int | None = None,
    resolution: float | None = None,
) -> Simulated:
    """Draw ``n`` customers from Pareto/NBD (see :func:`simulate_bgnbd` for arguments)."""
    rng = np.random.default_rng(seed)
    ages = _ages(n, T)
    lam = rng.gamma(r, 1.0 / alpha, n)
    mu = rng.gamma(s, 1.0 / beta, n)
    lifetime = rng.exponential(1.0 / np.maximum(mu, 1e-300))
    window = np.minimum(lifetime, ages)
    n_events = rng.poisson(lam * window)
    t_x = _snap(_last_time(rng, n_events, n_events, window), resolution)
    return Simulated(n_events.astype(np.float64), np.minimum(t_x, ages), ages)


def simulate_spend(
    frequency: npt.ArrayLike, *, p: float, q: float, v: float, seed: int | None = None
) -> FloatArray:
    """Average transaction value of each customer under Gamma-Gamma (0 when ``x == 0``).

    ``nu ~ Gamma(q, rate v)``; the mean of ``x`` values ``Gamma(p, rate nu)`` is
    ``Gamma(p x, rate nu x)``.
    """
    rng = np.random.default_rng(seed)
    x = np.asarray(frequency, dtype=np.float64)
    nu = rng.gamma(q, 1.0 / v, x.size)
    out = np.zeros(x.size)
    pos = x > 0
    out[pos] = rng.gamma(p * x[pos], 1.0 / (nu[pos] * x[pos]))
    return out


def cohort_ages(
    n: int, *, max_age: float, resolution: float, seed: int | None = None
) -> FloatArray:
    """Ages of customers acquired uniformly over ``(0, max_age]`` on a ``resolution`` grid."""
    rng = np.random.default_rng(seed)
    steps = max(round(max_age / resolution), 1)
    return rng.integers(1, steps + 1, n).astype(np.float64) * resolution
