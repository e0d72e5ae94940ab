"""Degenerate-fit warnings: raised on data with no dropout, silent on CDNOW."""

from __future__ import annotations

import numpy as np
import pytest

from recompra.predict import BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel
from recompra.predict.diagnostics import fit_warnings, share_still_active


def _no_dropout_sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Customers who never leave: Poisson purchases at gamma-distributed rates."""
    rng = np.random.default_rng(seed)
    T = rng.uniform(10, 100, n)
    x = rng.poisson(rng.gamma(0.8, 1 / 8, n) * T)
    # the last of x uniform purchase times in (0, T) is T * Beta(x, 1)
    t_x = np.where(x > 0, T * rng.beta(np.maximum(x, 1), 1), 0.0)
    return x.astype(float), t_x, T


@pytest.mark.parametrize("cls", [BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel])
def test_a_fit_without_dropout_is_flagged_in_both_languages(cls: type[BetaGeoModel]) -> None:
    model = cls().fit(*_no_dropout_sample(3000, seed=7))
    codes = {w.code for w in model.fit_warnings_}
    assert "no_dropout" in codes
    warning = next(w for w in model.fit_warnings_ if w.code == "no_dropout")
    assert "almost no customer leaving" in warning.message_en
    assert "quase não vê clientes saindo" in warning.message_pt


def test_published_cdnow_fits_are_not_flagged() -> None:
    # CDNOW estimates: FHL 2005 (BG/NBD), Fader & Hardie 2005 note (Pareto/NBD), and for
    # MBG/NBD those of lifetimes' ModifiedBetaGeoFitter (no published table exists, see
    # test_predict_golden.py); CDNOW's longest age is 38.86 weeks.
    finite = {"r": 0.01, "alpha": 0.1, "a": 0.1, "b": 0.1, "s": 0.1, "beta": 0.1}
    for params, m in (
        ({"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}, 0),
        ({"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}, 1),
        ({"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}, 0),
    ):
        errors = {k: finite[k] for k in params}
        assert fit_warnings(params, errors, dropout_at_zero=m, longest_age=38.86) == []


def test_share_still_active_matches_a_simulation() -> None:
    params = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    rng = np.random.default_rng(5)
    n = 400_000
    lam = rng.gamma(params["r"], 1 / params["alpha"], n)
    p = rng.beta(params["a"], params["b"], n)
    # BG/NBD: alive at 39 weeks if none of the repeat purchases so far was followed by a
    # dropout; the number of purchases before the dropout is geometric
    purchases_before_leaving = rng.geometric(p)
    alive = rng.poisson(lam * 39.0) < purchases_before_leaving
    assert share_still_active(params, 0, 39.0) == pytest.approx(alive.mean(), abs=4e-3)


def test_boundary_parameters_are_named() -> None:
    params = {"r": 0.5, "alpha": 3.0, "a": 1e-8, "b": 2.0}
    errors = dict.fromkeys(params, float("nan"))
    codes = [w.code for w in fit_warnings(params, errors, dropout_at_zero=0, longest_age=50)]
    assert codes == ["no_dropout", "boundary_a", "not_identified"]
