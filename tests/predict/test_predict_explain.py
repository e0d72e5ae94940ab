"""Explanations never contradict the recency they quote."""

from __future__ import annotations

import numpy as np
import pytest

from recompra.predict.explain import explain, explain_selection, level


def test_the_issue_example_is_not_explained_as_high() -> None:
    # issue 12: "P(alive) is high (71%): last order 311 days ago" for a customer who
    # usually buys every month
    en = explain([0.71], [311], [30], [2.1], 365, lang="en")[0]
    pt = explain([0.71], [311], [30], [2.1], 365, lang="pt")[0]
    assert en.startswith("P(alive) is low: last order 311 days ago, 10.4 times")
    assert "the model's 71%" in en
    assert pt.startswith("P(ativo) é baixa: último pedido há 311 dias, 10,4 vezes")


@pytest.mark.parametrize("gap_days", [1.0, 7.0, 30.0, 91.0, 400.0])
def test_ten_usual_gaps_of_silence_is_never_high(gap_days: float) -> None:
    p_alive = np.linspace(0.0, 1.0, 101)
    since = np.full(p_alive.size, 10 * gap_days)
    gaps = np.full(p_alive.size, gap_days)
    expected = np.full(p_alive.size, 3.0)
    for text in explain(p_alive, since, gaps, expected, 365, lang="en"):
        assert not text.startswith("P(alive) is high"), text
    for text in explain(p_alive, since, gaps, expected, 365, lang="pt"):
        assert not text.startswith("P(ativo) é alta"), text


def test_a_short_silence_keeps_the_model_level() -> None:
    assert level(0.9, 20, 30) == "high"
    assert level(0.1, 20, 30) == "low"
    assert level(0.9, 200, float("nan")) == "high"  # one-time buyer: no usual gap to compare


def test_caps_rarely_fire_on_customers_who_are_still_buying() -> None:
    """Independent check of the thresholds on simulated *active* customers.

    Customers buy as Poisson processes (usual gap 7 to 60 days) for ten years and never
    leave; their usual gap is estimated as the pipeline does (first-to-last span over
    repeat purchases). A silence is "unusual" when an active customer shows it less than
    5% of the time and "very unusual" below 1%, so about 5% of these customers may lose
    the "high" level and about 1% may be called "low" — not more.
    """
    rng = np.random.default_rng(12)
    n = 100_000
    gap = rng.uniform(7, 60, n)
    age = 3650.0
    x = rng.poisson(age / gap)
    last = age * rng.beta(x, 1)  # the last of x uniform purchase days
    silence = age - last
    usual = last / x
    levels = np.array([level(0.9, s, g) for s, g in zip(silence, usual, strict=True)])
    assert np.mean(levels != "high") == pytest.approx(0.05, abs=0.006)
    assert np.mean(levels == "low") == pytest.approx(0.01, abs=0.003)


def test_selection_reason_never_hides_a_loss_to_a_baseline() -> None:
    # a BTYD model served although it loses: only the non-servable naive baseline beats it
    kwargs = {
        "chosen": "bgnbd",
        "chosen_mae": 1.124,
        "best_btyd": "bgnbd",
        "btyd_mae": 1.124,
        "best_baseline": "same_rate",
        "baseline_mae": 1.109,
    }
    en = explain_selection(**kwargs, lang="en")
    pt = explain_selection(**kwargs, lang="pt")
    assert en == (
        "Every BTYD model loses to the baselines on this store's back-test (best model: "
        "BG/NBD, MAE 1.124; best baseline: 'same rate as before', MAE 1.109). No servable "
        "baseline does better, so BG/NBD is served anyway. 'same rate as before' is a "
        "reference, not a servable model; the served one loses to it by 0.015."
    )
    assert pt.startswith("Todos os modelos BTYD perdem para as referências")
    assert "perde para ela por 0,015" in pt
    # a fallback served and beating every baseline: no extra sentence
    served = explain_selection(
        chosen="rfm_gbm",
        chosen_mae=1.05,
        best_btyd="pareto",
        btyd_mae=1.2,
        best_baseline="rfm_gbm",
        baseline_mae=1.05,
        lang="en",
    )
    assert served.endswith("Serving gradient boosting on RFM instead (MAE 1.050).")
