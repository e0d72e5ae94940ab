"""Count probabilities ``P(X(t)=n)`` and ``P(X(T, T+t)=n | history)`` of every model.

Reference values are computed here, independently of the library: FHL 2005 eq. 8 written
out term by term, a Monte-Carlo simulation of the Pareto/NBD story, and Bayes' rule
integrated numerically over the individual-level parameters.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import betaln, gammainc, gammaln
from scipy.stats import beta as beta_dist
from scipy.stats import gamma as gamma_dist
from scipy.stats import poisson

from recompra.predict import BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel

FHL_BG = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
FH_PARETO = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
# (x, t_x, T): a one-time buyer, FHL's worked example, a heavy buyer, a long silence
HISTORIES = [(0, 0.0, 38.86), (2, 30.43, 38.86), (12, 37.0, 38.86), (5, 8.0, 38.86)]


def _fhl_eq8(r: float, alpha: float, a: float, b: float, n: int, t: float) -> float:
    """FHL 2005 eq. 8, as printed: the NBD term plus the dropout term with a finite sum."""
    log_nb = (
        gammaln(r + n) - gammaln(r) - gammaln(n + 1) + r * np.log(alpha / (alpha + t))
    ) + n * np.log(t / (alpha + t))
    first = np.exp(betaln(a, b + n) - betaln(a, b) + log_nb)
    if n == 0:
        return float(first)
    partial = sum(
        np.exp(
            gammaln(r + j)
            - gammaln(r)
            - gammaln(j + 1)
            + r * np.log(alpha / (alpha + t))
            + j * np.log(t / (alpha + t))
        )
        for j in range(n)
    )
    return float(first + np.exp(betaln(a + 1, b + n - 1) - betaln(a, b)) * (1 - partial))


def test_bgnbd_pmf_equals_fhl_2005_equation_8() -> None:
    model = BetaGeoModel().set_params(**FHL_BG)
    for t in (1.0, 39.0, 78.0):
        ours = model.p_purchases(np.arange(0, 25), t)
        reference = [_fhl_eq8(**FHL_BG, n=n, t=t) for n in range(25)]
        np.testing.assert_allclose(ours, reference, rtol=1e-10, atol=1e-15)


def test_paretonbd_pmf_sums_to_one_and_matches_a_simulation() -> None:
    model = ParetoNBDModel().set_params(**FH_PARETO)
    t = 39.0
    k = np.arange(0, 2000)
    pmf = model.p_purchases(k, t)
    assert pmf.sum() == pytest.approx(1.0, abs=1e-9)
    assert float((k * pmf).sum()) == pytest.approx(model.expected_purchases(t)[0], rel=1e-6)
    # the model's story, simulated: lambda ~ Gamma(r, alpha), mu ~ Gamma(s, beta),
    # lifetime ~ Exp(mu), purchases ~ Poisson(lambda * min(lifetime, t))
    rng = np.random.default_rng(2005)
    n = 2_000_000
    p = FH_PARETO
    lam = rng.gamma(p["r"], 1 / p["alpha"], n)
    mu = rng.gamma(p["s"], 1 / p["beta"], n)
    counts = rng.poisson(lam * np.minimum(rng.exponential(1 / mu), t))
    observed = np.bincount(counts, minlength=8)[:8] / n
    sigma = np.sqrt(pmf[:8] * (1 - pmf[:8]) / n)
    assert np.all(np.abs(observed - pmf[:8]) < 5 * sigma), (observed, pmf[:8])


def _prior_grid(shape: float, rate: float, size: int) -> np.ndarray:
    """Gamma(shape, rate) quantiles at the midpoints of ``size`` equal-probability cells."""
    return np.asarray(gamma_dist.ppf((np.arange(size) + 0.5) / size, shape, scale=1 / rate))


def _bayes_bg(n: int, t: float, x: int, t_x: float, T: float, m: int) -> float:
    """P(n purchases in (T, T+t] | history) by Bayes' rule on a (lambda, p) prior grid."""
    lam = _prior_grid(FHL_BG["r"], FHL_BG["alpha"], 3000)[:, None]
    cells = (np.arange(1500) + 0.5) / 1500
    p = np.asarray(beta_dist.ppf(cells, FHL_BG["a"], FHL_BG["b"]))[None, :]
    # history: alive at T after x + m dropout chances, or left right after purchase x
    alive = (1 - p) ** (x + m) * lam**x * np.exp(-lam * T)
    dead = p * (1 - p) ** (x - 1 + m) * lam**x * np.exp(-lam * t_x) if x + m > 0 else 0.0
    # future of an active customer: a Poisson count, each purchase a dropout chance
    stays = (1 - p) ** n * poisson.pmf(n, lam * t)
    leaves = p * (1 - p) ** (n - 1) * poisson.sf(n - 1, lam * t) if n > 0 else 0.0
    joint = alive * (stays + leaves) + (dead if n == 0 else 0.0)
    return float(np.sum(joint) / np.sum(alive + dead))


def _bayes_pareto(n: int, t: float, x: int, t_x: float, T: float) -> float:
    """The same for Pareto/NBD on a (lambda, mu) prior grid."""
    p = FH_PARETO
    lam = _prior_grid(p["r"], p["alpha"], 3000)[:, None]
    mu = _prior_grid(p["s"], p["beta"], 1500)[None, :]
    rate = lam + mu
    alive = lam**x * np.exp(-rate * T)
    dead = lam**x * mu / rate * (np.exp(-rate * t_x) - np.exp(-rate * T))
    # alive at T: buys Poisson(lambda) until an Exp(mu) death; integrated over the death
    future = np.exp(-mu * t) * poisson.pmf(n, lam * t) + mu * lam**n / rate ** (n + 1) * gammainc(
        n + 1, rate * t
    )
    joint = alive * future + (dead if n == 0 else 0.0)
    return float(np.sum(joint) / np.sum(alive + dead))


@pytest.mark.parametrize(("x", "t_x", "T"), HISTORIES)
def test_conditional_pmf_matches_bayes_rule_for_the_beta_geometric_models(
    x: int, t_x: float, T: float
) -> None:
    for cls, m in ((BetaGeoModel, 0), (ModifiedBetaGeoModel, 1)):
        model = cls().set_params(**FHL_BG)
        ours = model.conditional_p_purchases(np.arange(4), 39.0, x, t_x, T)
        reference = [_bayes_bg(n, 39.0, x, t_x, T, m) for n in range(4)]
        np.testing.assert_allclose(ours, reference, rtol=2e-3, atol=2e-5)


@pytest.mark.parametrize(("x", "t_x", "T"), HISTORIES)
def test_conditional_pmf_matches_bayes_rule_for_paretonbd(x: int, t_x: float, T: float) -> None:
    model = ParetoNBDModel().set_params(**FH_PARETO)
    ours = model.conditional_p_purchases(np.arange(4), 39.0, x, t_x, T)
    reference = [_bayes_pareto(n, 39.0, x, t_x, T) for n in range(4)]
    np.testing.assert_allclose(ours, reference, rtol=2e-3, atol=2e-5)


@pytest.mark.parametrize("cls", [BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel])
def test_conditional_pmf_sums_to_one_and_to_the_conditional_expectation(
    cls: type[BetaGeoModel],
) -> None:
    model = cls().set_params(**(FH_PARETO if cls is ParetoNBDModel else FHL_BG))
    x, t_x, T = (np.array(col, dtype=float) for col in zip(*HISTORIES, strict=True))
    k = np.arange(0, 600)[:, None]
    pmf = model.conditional_p_purchases(k, 52.0, x, t_x, T)
    np.testing.assert_allclose(pmf.sum(axis=0), 1.0, atol=1e-9)
    # the mean of the PMF against the separately derived closed-form expectation
    expected = model.conditional_expected_purchases(52.0, x, t_x, T)
    np.testing.assert_allclose((k * pmf).sum(axis=0), expected, rtol=1e-6)
