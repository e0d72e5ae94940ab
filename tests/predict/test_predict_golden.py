"""Golden tests: the CDNOW estimates published by Fader, Hardie et al.

Data: the CDNOW 1/10th sample (2357 customers who made their first purchase in Q1 1997),
39-week calibration period ending 1997-09-30, time in weeks, same-day purchases merged.
"""

from __future__ import annotations

import numpy as np
import pytest

from recompra.predict import (
    BetaGeoModel,
    GammaGammaModel,
    ModifiedBetaGeoModel,
    NotFittedError,
    ParetoNBDModel,
)
from recompra.predict.rfm import RFMSummary


def test_calibration_summary_matches_the_papers(cdnow_summary: RFMSummary) -> None:
    s = cdnow_summary
    # FHL 2005 (Marketing Science) section 4: 2357 customers, 2457 repeat transactions in
    # the 39-week calibration period; Fader & Hardie 2013 GG note: 946 repeat buyers.
    assert len(s) == 2357
    assert s.frequency.sum() == 2457
    assert int((s.frequency > 0).sum()) == 946
    assert s.T.max() == pytest.approx(272 / 7)  # 1997-01-01 .. 1997-09-30


def test_bgnbd_reproduces_fader_hardie_lee_2005(cdnow_summary: RFMSummary) -> None:
    s = cdnow_summary
    model = BetaGeoModel().fit(s.frequency, s.recency, s.T)
    p = model.params_
    assert p is not None
    # Fader, Hardie & Lee (2005) "Counting your customers the easy way: an alternative
    # to the Pareto/NBD model", Marketing Science 24(2), section 4:
    # r = 0.243, alpha = 4.414, a = 0.793, b = 2.426, LL = -9582.4.
    assert p["r"] == pytest.approx(0.243, abs=5e-4)
    assert p["alpha"] == pytest.approx(4.414, abs=5e-4)
    assert p["a"] == pytest.approx(0.793, abs=5e-4)
    assert p["b"] == pytest.approx(2.426, abs=5e-4)
    assert model.log_likelihood_ == pytest.approx(-9582.4, abs=0.05)
    assert all(np.isfinite(v) and v > 0 for v in model.standard_errors_.values())


def test_paretonbd_reproduces_fader_hardie_2005_note(cdnow_summary: RFMSummary) -> None:
    s = cdnow_summary
    model = ParetoNBDModel().fit(s.frequency, s.recency, s.T)
    p = model.params_
    assert p is not None
    # Fader & Hardie (2005) "A Note on Implementing the Pareto/NBD Model in MATLAB",
    # http://brucehardie.com/notes/008/ : r = 0.553, alpha = 10.578, s = 0.606,
    # beta = 11.669, LL = -9595.0 (also FHL 2005 "RFM and CLV", JMR 42(4)).
    assert p["r"] == pytest.approx(0.553, abs=5e-4)
    assert p["alpha"] == pytest.approx(10.578, abs=5e-3)
    assert p["s"] == pytest.approx(0.606, abs=5e-4)
    assert p["beta"] == pytest.approx(11.669, abs=5e-3)
    assert model.log_likelihood_ == pytest.approx(-9595.0, abs=0.05)


def test_gamma_gamma_reproduces_fader_hardie_2013(cdnow_summary: RFMSummary) -> None:
    s = cdnow_summary
    model = GammaGammaModel().fit(s.frequency, s.monetary_value)
    p = model.params_
    assert p is not None
    assert model.n_customers_ == 946
    # Fader & Hardie (2013) "The Gamma-Gamma Model of Monetary Value",
    # http://brucehardie.com/notes/025/ (946 repeat buyers, spend = mean value of the
    # repeat transactions in the calibration period): p = 6.25, q = 3.74, gamma = 15.44.
    assert p["p"] == pytest.approx(6.25, abs=5e-3)
    assert p["q"] == pytest.approx(3.74, abs=5e-3)
    assert p["v"] == pytest.approx(15.44, abs=5e-3)
    # LL = -4055.9177: CLVTools correctness test for the same published fit
    # (bachmannpatrick/CLVTools, tests/testthat/test_correctness_gg.R). The figure
    # "-9964" in our issue brief could not be traced to any source; -4055.9 is the
    # log-likelihood of the 946 spend observations at the published estimates.
    assert model.log_likelihood_ == pytest.approx(-4055.9177, abs=1e-3)


def test_mbgnbd_fits_cdnow_better_than_bgnbd_and_pareto(cdnow_summary: RFMSummary) -> None:
    """MBG/NBD on CDNOW.

    No published table of MBG/NBD *estimates* on CDNOW was found (Batislam et al. 2007
    use a Turkish grocery panel; BTYDplus' vignette uses its grocery data). What BTYDplus
    does publish for CDNOW is the log-likelihood ranking of its ``demo("cdnow")``
    (mplatzer/BTYDplus, demo/cdnow.R: "MBG/NBD provides best fit according to LL"
    among NBD, Pareto/NBD, BG/NBD and MBG/NBD). That ranking is asserted here; the
    parameter recovery of the MBG/NBD estimator is tested on simulated data instead.
    """
    s = cdnow_summary
    mbg = ModifiedBetaGeoModel().fit(s.frequency, s.recency, s.T)
    bg = BetaGeoModel().fit(s.frequency, s.recency, s.T)
    pareto = ParetoNBDModel().fit(s.frequency, s.recency, s.T)
    assert mbg.log_likelihood_ > bg.log_likelihood_
    assert mbg.log_likelihood_ > pareto.log_likelihood_


def test_models_refuse_to_predict_before_fit() -> None:
    for model in (BetaGeoModel(), ParetoNBDModel(), ModifiedBetaGeoModel()):
        with pytest.raises(NotFittedError, match="not fitted"):
            model.p_alive([1], [1.0], [2.0])
    with pytest.raises(NotFittedError):
        GammaGammaModel().conditional_expected_average_spend([1], [10.0])
