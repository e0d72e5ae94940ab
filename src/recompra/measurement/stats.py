"""The statistics behind "what each action earned": intention-to-treat differences with
confidence intervals, the sample-ratio-mismatch check, the minimum detectable effect,
CUPED variance reduction and an always-valid sequential test (mSPRT).

Pure functions on counts and arrays; the formulas and their references are in
``docs/measurement.md``. Conventions: "treated" is the arm that gets the action, "control"
the holdout; a difference is treated minus control; money is in integer minor units and
its per-customer means are floats in minor units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
# scipy and statsmodels are imported inside the functions that use them: the API server
# imports this module (through the measurement service) and must start without them
# (issue 20: seconds of start-up for every process).

ALPHA = 0.05
POWER = 0.80


@dataclass(frozen=True)
class Estimate:
    """A difference (treated minus control) with its two-sided CI and p-value."""

    value: float
    ci_low: float
    ci_high: float
    p_value: float


def conversion_difference(
    treated_converted: int,
    treated_n: int,
    control_converted: int,
    control_n: int,
    *,
    alpha: float = ALPHA,
) -> Estimate:
    """Difference of two conversion rates: Newcomb's hybrid-score CI and a score test.

    Newcomb (1998) keeps its coverage near nominal for small rates and small arms, where
    the Wald interval under-covers; the score test is its matching p-value.
    """
    from statsmodels.stats.proportion import confint_proportions_2indep, test_proportions_2indep

    if min(treated_n, control_n) == 0:
        return Estimate(math.nan, math.nan, math.nan, math.nan)
    low, high = confint_proportions_2indep(
        treated_converted,
        treated_n,
        control_converted,
        control_n,
        method="newcomb",
        compare="diff",
        alpha=alpha,
    )
    test = test_proportions_2indep(
        treated_converted,
        treated_n,
        control_converted,
        control_n,
        method="score",
        compare="diff",
    )
    value = treated_converted / treated_n - control_converted / control_n
    return Estimate(value, float(low), float(high), _finite_p(float(test.pvalue)))


def mean_difference(treated: FloatArray, control: FloatArray, *, alpha: float = ALPHA) -> Estimate:
    """Difference of means by Welch's t-test (unequal variances) and its CI.

    Used for revenue per eligible customer: heavy tails make the two arms' variances
    differ, which Student's pooled test would ignore.
    """
    from scipy import stats

    if len(treated) < 2 or len(control) < 2:
        return Estimate(math.nan, math.nan, math.nan, math.nan)
    value = float(np.mean(treated) - np.mean(control))
    if np.var(treated) == 0 and np.var(control) == 0:
        return Estimate(value, value, value, 1.0 if value == 0 else 0.0)
    result = stats.ttest_ind(treated, control, equal_var=False)
    interval = result.confidence_interval(confidence_level=1 - alpha)
    return Estimate(value, float(interval.low), float(interval.high), float(result.pvalue))


def _finite_p(p_value: float) -> float:
    # The score test returns NaN when both arms have the same all-or-nothing rate.
    return 1.0 if math.isnan(p_value) else p_value


def srm_p_value(treated_n: int, control_n: int, holdout_share: float) -> float:
    """Pearson chi-square p-value that the arms' sizes match the planned holdout share.

    A small p-value (below 0.001 by convention) means the assignment or the logging is
    broken and the report's comparison cannot be trusted.
    """
    from scipy import stats

    total = treated_n + control_n
    if total == 0 or not 0 < holdout_share < 1:
        return math.nan
    expected = [total * (1 - holdout_share), total * holdout_share]
    return float(stats.chisquare([treated_n, control_n], f_exp=expected).pvalue)


def _power(diff: float, baseline: float, treated_n: float, ratio: float, alpha: float) -> float:
    """Power of the two-sided two-proportion z-test (control = ``ratio`` x treated)."""
    from statsmodels.stats.proportion import power_proportions_2indep

    result = power_proportions_2indep(diff, baseline, treated_n, ratio=ratio, alpha=alpha)
    return float(result.power)


def conversion_mde(
    baseline: float,
    treated_n: float,
    control_n: float,
    *,
    alpha: float = ALPHA,
    power: float = POWER,
) -> float:
    """The smallest absolute rise in conversion detectable with ``power`` at these N.

    Solves statsmodels' two-proportion power (normal approximation, pooled variance under
    the null, unpooled under the alternative) for the difference.
    """
    from scipy.optimize import brentq

    if min(treated_n, control_n) <= 0 or not 0 <= baseline < 1:
        return math.nan

    def shortfall(diff: float) -> float:
        return _power(diff, baseline, treated_n, control_n / treated_n, alpha) - power

    upper = 1 - baseline - 1e-12
    if shortfall(upper) < 0:
        return math.nan
    return float(brentq(shortfall, 1e-12, upper, xtol=1e-12))


def treated_n_for_mde(
    baseline: float,
    mde: float,
    holdout_share: float,
    *,
    alpha: float = ALPHA,
    power: float = POWER,
) -> float:
    """The treated-arm size at which ``conversion_mde`` falls to ``mde`` (the holdout is
    ``holdout_share`` of entries)."""
    from scipy.optimize import brentq

    if not 0 < holdout_share < 1 or mde <= 0 or baseline + mde >= 1:
        return math.nan
    ratio = holdout_share / (1 - holdout_share)

    def shortfall(n: float) -> float:
        return _power(mde, baseline, n, ratio, alpha) - power

    high = 10.0
    while shortfall(high) < 0:
        high *= 2
    return float(brentq(shortfall, 1.0, high, xtol=1e-6)) if shortfall(1.0) < 0 else 1.0


def mean_mde(
    sd: float, treated_n: float, control_n: float, *, alpha: float = ALPHA, power: float = POWER
) -> float:
    """The smallest difference of means detectable with ``power`` (normal approximation)."""
    from scipy import stats

    if min(treated_n, control_n) <= 0:
        return math.nan
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    return float(z * sd * math.sqrt(1 / treated_n + 1 / control_n))


def days_to_mde(
    baseline: float,
    target_mde: float,
    holdout_share: float,
    *,
    entered: int,
    entries_per_day: float,
) -> float:
    """Days until the journey reaches ``target_mde`` at its current entry rate (0: reached)."""
    needed_treated = treated_n_for_mde(baseline, target_mde, holdout_share)
    if math.isnan(needed_treated) or entries_per_day <= 0:
        return math.nan
    needed = needed_treated / (1 - holdout_share)
    return max(0.0, (needed - entered) / entries_per_day)


@dataclass(frozen=True)
class Cuped:
    """Outcomes adjusted by a pre-period covariate and the variance that removed."""

    adjusted: FloatArray
    theta: float
    variance_reduction: float


def cuped(outcome: FloatArray, covariate: FloatArray) -> Cuped:
    """CUPED (Deng et al. 2013): ``y - theta * (x - mean(x))`` with ``theta = cov(x, y) /
    var(x)`` over both arms (the covariate predates treatment, so the difference of means
    stays unbiased while the variance drops by ``corr(x, y)^2``)."""
    x_variance = float(np.var(covariate))
    if len(outcome) < 2 or x_variance == 0:
        return Cuped(outcome.astype(np.float64), 0.0, 0.0)
    theta = float(np.cov(covariate, outcome, bias=True)[0, 1] / x_variance)
    adjusted = outcome - theta * (covariate - covariate.mean())
    before = float(np.var(outcome))
    reduction = 1 - float(np.var(adjusted)) / before if before > 0 else 0.0
    return Cuped(adjusted.astype(np.float64), theta, reduction)


@dataclass(frozen=True)
class Sequential:
    """The mixture SPRT at each look: its likelihood ratio, always-valid p-value and CI."""

    likelihood_ratio: FloatArray
    p_value: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray

    @property
    def crossed(self) -> bool:
        """Whether the boundary was crossed at any look (the p-value fell under alpha)."""
        return bool(len(self.p_value) and self.p_value[-1] <= ALPHA)


def msprt(
    difference: FloatArray, variance: FloatArray, mixing_variance: float, *, alpha: float = ALPHA
) -> Sequential:
    """Normal-mixture SPRT over looks at a difference with estimated ``variance``.

    Johari, Pekelis and Walsh (2017, "Always valid inference"): with a N(0, tau^2)
    mixture over the true difference, ``Lambda = sqrt(V / (V + tau^2)) * exp(tau^2 *
    d^2 / (2 V (V + tau^2)))``; the running ``min(1, 1 / max Lambda)`` is a p-value
    valid at every look, so peeking daily keeps the false-positive rate at ``alpha``.
    Looks with no variance yet (an empty arm) count as ``Lambda = 1``.
    """
    tau2 = mixing_variance
    known = variance > 0
    safe_v = np.where(known, variance, 1.0)
    log_ratio = 0.5 * np.log(safe_v / (safe_v + tau2)) + tau2 * difference**2 / (
        2 * safe_v * (safe_v + tau2)
    )
    log_ratio = np.where(known, log_ratio, 0.0)
    running = np.maximum.accumulate(log_ratio, axis=-1)
    p_value = np.minimum(1.0, np.exp(-running))
    half = np.sqrt(
        safe_v
        * (safe_v + tau2)
        / tau2
        * (2 * math.log(1 / alpha) + np.log((safe_v + tau2) / safe_v))
    )
    low = np.where(known, difference - half, -np.inf)
    high = np.where(known, difference + half, np.inf)
    # The always-valid CI is the intersection of every look's interval.
    return Sequential(
        np.exp(log_ratio),
        p_value,
        np.maximum.accumulate(low, axis=-1),
        np.minimum.accumulate(high, axis=-1),
    )


def decision(
    estimate: Estimate,
    *,
    planned_reached: bool,
    sequential_crossed: bool,
    alpha: float = ALPHA,
) -> str:
    """``better``/``worse`` only when a valid test says so, else ``inconclusive``.

    Valid means the fixed-horizon test at its planned N (a p-value read before the plan
    is reached is peeking) or the always-valid sequential boundary.
    """
    significant = (planned_reached and estimate.p_value < alpha) or sequential_crossed
    if not significant or math.isnan(estimate.value) or estimate.value == 0:
        return "inconclusive"
    return "better" if estimate.value > 0 else "worse"


#: The mixture's spread over true conversion differences (absolute): effects of a few
#: percentage points are what a post-sale message plausibly moves. Any value keeps the
#: test valid; a closer guess only makes it faster to stop.
CONVERSION_MIXING_SD = 0.02


def conversion_sequential(
    treated_converted: npt.NDArray[np.int64],
    treated_n: npt.NDArray[np.int64],
    control_converted: npt.NDArray[np.int64],
    control_n: npt.NDArray[np.int64],
    *,
    mixing_sd: float = CONVERSION_MIXING_SD,
    alpha: float = ALPHA,
) -> Sequential:
    """``msprt`` on the difference of conversion rates at each look (cumulative counts)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        treated_rate = np.where(treated_n > 0, treated_converted / np.maximum(treated_n, 1), 0.0)
        control_rate = np.where(control_n > 0, control_converted / np.maximum(control_n, 1), 0.0)
        variance = np.where(
            (treated_n > 0) & (control_n > 0),
            treated_rate * (1 - treated_rate) / np.maximum(treated_n, 1)
            + control_rate * (1 - control_rate) / np.maximum(control_n, 1),
            0.0,
        )
    return msprt(treated_rate - control_rate, variance, mixing_sd**2, alpha=alpha)
