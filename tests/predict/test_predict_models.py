"""Predictions against published reference values, edge cases and parameter recovery."""

from __future__ import annotations

import numpy as np
import pytest

from recompra.predict import (
    BetaGeoModel,
    GammaGammaModel,
    ModifiedBetaGeoModel,
    ParetoNBDModel,
)
from recompra.predict.clv import customer_lifetime_value
from recompra.predict.explain import explain
from recompra.predict.simulate import simulate_bgnbd, simulate_paretonbd, simulate_spend

FHL_BG = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
FH_PARETO = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}


def test_bgnbd_conditional_expectation_matches_fhl_2005() -> None:
    model = BetaGeoModel().set_params(**FHL_BG)
    # FHL 2005 ("Counting your customers the easy way", section 4) / Hardie's BG/NBD
    # spreadsheet, also lifetimes' test_estimation.py: x=2, t_x=30.43, T=38.86 ->
    # 1.226 expected purchases in the next 39 weeks.
    value = model.conditional_expected_purchases(39, [2], [30.43], [38.86])
    assert value[0] == pytest.approx(1.226, abs=1e-3)


def test_bgnbd_pmf_matches_btyd_reference() -> None:
    model = BetaGeoModel().set_params(**FHL_BG)
    # R package BTYD, bgnbd.pmf examples (https://cran.r-project.org/package=BTYD),
    # at the FHL 2005 parameters.
    assert model.p_purchases(10, 2)[()] == pytest.approx(1.07869e-07, rel=1e-4)
    assert model.p_purchases(0, 39)[()] == pytest.approx(0.5737864, rel=1e-6)
    expected = [
        0.0019995214, 0.0015170236, 0.0011633150, 0.0009003148, 0.0007023638,
        0.0005517902, 0.0004361913, 0.0003467171, 0.0002769613, 0.0002222260,
    ]  # fmt: skip
    np.testing.assert_allclose(model.p_purchases(np.arange(11, 21), 30), expected, rtol=1e-6)


@pytest.mark.parametrize("cls", [BetaGeoModel, ModifiedBetaGeoModel])
def test_pmf_sums_to_one_and_matches_expectation(cls: type[BetaGeoModel]) -> None:
    model = cls().set_params(**FHL_BG)
    k = np.arange(0, 400)
    pmf = model.p_purchases(k, 52.0)
    assert pmf.sum() == pytest.approx(1.0, abs=1e-9)
    assert float((k * pmf).sum()) == pytest.approx(model.expected_purchases(52.0)[0], rel=1e-6)


def test_pareto_p_alive_and_expectation_are_consistent() -> None:
    model = ParetoNBDModel().set_params(**FH_PARETO)
    # a new customer (x=0, T=0) is alive; the unconditional expectation equals the
    # conditional one at the start
    assert model.p_alive([0], [0], [0])[0] == pytest.approx(1.0)
    np.testing.assert_allclose(
        model.conditional_expected_purchases(39, [0], [0], [0]),
        model.expected_purchases(39),
        rtol=1e-12,
    )
    # the longer the silence, the lower P(alive)
    pa = model.p_alive([3, 3, 3], [10, 10, 10], [12, 30, 60])
    assert pa[0] > pa[1] > pa[2]


@pytest.mark.parametrize("cls", [BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel])
def test_extreme_customers_stay_finite(cls: type[BetaGeoModel]) -> None:
    params = FH_PARETO if cls is ParetoNBDModel else FHL_BG
    model = cls().set_params(**params)
    x = np.array([0, 0, 5000, 5000, 1, 200_000])
    t_x = np.array([0, 0, 99.0, 10.0, 1e6, 9e5])
    T = np.array([1e-9, 1e7, 100.0, 100.0, 1e6 + 1, 1e6])
    for value in (
        model.p_alive(x, t_x, T),
        model.conditional_expected_purchases(52, x, t_x, T),
        model.p_no_purchase(13, x, t_x, T),
        model.median_time_to_next_purchase(x, t_x, T),
    ):
        assert np.all(np.isfinite(value))
    pa = model.p_alive(x, t_x, T)
    assert np.all((pa >= 0) & (pa <= 1))
    assert pa[3] < 1e-12  # 5000 purchases, then 90 silent weeks: gone


@pytest.mark.parametrize("cls", [BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel])
def test_fits_do_not_fail_on_awkward_samples(cls: type[BetaGeoModel]) -> None:
    # tiny sample, all one-time buyers but one, a huge frequency, very long ages
    x = np.array([0, 0, 0, 0, 1e4, 2])
    t_x = np.array([0, 0, 0, 0, 499.0, 3.0])
    T = np.array([1.0, 50.0, 2000.0, 1e5, 500.0, 5.0])
    model = cls().fit(x, t_x, T)
    assert model.params_ is not None
    assert np.isfinite(model.log_likelihood_)
    assert np.all(np.isfinite(model.p_alive(x, t_x, T)))


def test_weights_equal_repeated_rows() -> None:
    sim = simulate_bgnbd(300, **FHL_BG, T=39.0, seed=3)
    repeated = BetaGeoModel().fit(
        np.repeat(sim.frequency, 2), np.repeat(sim.recency, 2), np.repeat(sim.T, 2)
    )
    weighted = BetaGeoModel().fit(sim.frequency, sim.recency, sim.T, weights=np.full(300, 2.0))
    assert repeated.params_ is not None
    assert weighted.params_ is not None
    for name, value in repeated.params_.items():
        assert weighted.params_[name] == pytest.approx(value, rel=1e-6)
    assert weighted.log_likelihood_ == pytest.approx(repeated.log_likelihood_, rel=1e-9)


def _within_2se(model: BetaGeoModel | ParetoNBDModel | GammaGammaModel, truth: dict) -> None:
    assert model.params_ is not None
    for name, value in truth.items():
        se = model.standard_errors_[name]
        assert abs(model.params_[name] - value) < 2 * se, (name, model.params_[name], se)


def test_parameter_recovery_on_simulated_data() -> None:
    n = 20_000
    ages = np.random.default_rng(0).uniform(10, 60, n)
    bg = simulate_bgnbd(n, **FHL_BG, T=ages, seed=11)
    _within_2se(BetaGeoModel().fit(bg.frequency, bg.recency, bg.T), FHL_BG)
    # BTYDplus tests/testthat/test-mbg-nbd.R uses these MBG/NBD parameters
    mbg_truth = {"r": 0.85, "alpha": 1.45, "a": 0.79, "b": 2.42}
    mbg = simulate_bgnbd(n, **mbg_truth, T=ages, seed=12, dropout_at_zero=True)
    _within_2se(ModifiedBetaGeoModel().fit(mbg.frequency, mbg.recency, mbg.T), mbg_truth)
    pn = simulate_paretonbd(n, **FH_PARETO, T=ages, seed=13)
    _within_2se(ParetoNBDModel().fit(pn.frequency, pn.recency, pn.T), FH_PARETO)
    gg_truth = {"p": 6.25, "q": 3.74, "v": 15.44}
    spend = simulate_spend(bg.frequency, **gg_truth, seed=14)
    _within_2se(GammaGammaModel().fit(bg.frequency, spend), gg_truth)


def test_clv_discounting_and_margin() -> None:
    model = BetaGeoModel().set_params(**FHL_BG)
    args = ([2.0], [30.43], [38.86])
    plain = customer_lifetime_value(model, [100.0], *args, monthly_discount_rate=0.0)
    expected = model.conditional_expected_purchases(365 / 7, *args)
    assert plain[0] == pytest.approx(100.0 * expected[0], rel=1e-12)
    discounted = customer_lifetime_value(model, [100.0], *args, monthly_discount_rate=0.01)
    assert plain[0] / (1.01**12) < discounted[0] < plain[0]
    half = customer_lifetime_value(model, [100.0], *args, margin=0.5)
    assert half[0] == pytest.approx(discounted[0] / 2)


def test_explanations_in_both_languages() -> None:
    en = explain([0.12, 0.9], [210, 5], [30, float("nan")], [0.4, 2.25], 365, lang="en")
    pt = explain([0.12, 0.9], [210, 5], [30, float("nan")], [0.4, 2.25], 365, lang="pt")
    assert en[0] == (
        "P(alive) is low (12%): last order 210 days ago, and this customer usually buys "
        "every 30 days. Expected orders in the next 365 days: 0.4."
    )
    assert pt[0] == (
        "P(ativo) é baixa (12%): último pedido há 210 dias, e este cliente costuma comprar "
        "a cada 30 dias. Pedidos esperados nos próximos 365 dias: 0,4."
    )
    assert "bought only once" in en[1]
    assert "só comprou uma vez" in pt[1]
