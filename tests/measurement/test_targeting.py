"""Uplift targeting on simulated journeys: a lift only for customers with a high first
feature is found (Qini CI above zero); a journey with no lift at all is not targeted."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recompra.measurement.targeting import evaluate_targeting, qini_coefficient
from recompra.measurement.uplift import journey_targeting


def _journey(seed: int, *, heterogeneous: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = 12_000
    x = rng.normal(size=(n, 3))
    treated = rng.random(n) < 0.5
    base = 1 / (1 + np.exp(-(-2.0 + 0.3 * x[:, 1])))
    # A 15-point lift for customers whose first feature is positive, none for the rest.
    lift = np.where(x[:, 0] > 0, 0.15, 0.0) if heterogeneous else np.zeros(n)
    y = rng.random(n) < base + np.where(treated, lift, 0.0)
    return x, treated, y


def test_a_lift_in_one_group_is_found_by_both_models() -> None:
    x, treated, y = _journey(1, heterogeneous=True)
    results = evaluate_targeting(x, treated, y, seed=1)
    assert [r.model for r in results] == ["t_learner", "class_transformation"]
    assert all(r.use_for_targeting and r.ci_low > 0 for r in results)


def test_no_lift_means_no_targeting() -> None:
    x, treated, y = _journey(2, heterogeneous=False)
    results = evaluate_targeting(x, treated, y, seed=2)
    assert not any(r.use_for_targeting for r in results)
    assert all(r.reason == "ranking_not_better_than_random" for r in results)


def test_the_qini_coefficient_of_a_perfect_and_a_reversed_ranking() -> None:
    # Four treated buyers, four treated non-buyers, four holdout non-buyers: ranking the
    # buyers first gives a positive area, ranking them last a negative one.
    treated = np.array([True] * 8 + [False] * 4)
    y = np.array([True] * 4 + [False] * 8)
    good = np.array([4.0, 4, 4, 4, 1, 1, 1, 1, 2, 2, 2, 2])
    assert qini_coefficient(good, treated, y) > 0
    assert qini_coefficient(-good, treated, y) < 0


def test_the_report_targets_on_pre_entry_history_when_the_lift_depends_on_it() -> None:
    """Customers with two earlier orders respond (+20 points), the others do not: the
    report's features (recency, frequency, monetary before entry) let both models find
    them."""
    rng = np.random.default_rng(5)
    n = 8_000
    entered = pd.Timestamp("2026-03-01", tz="UTC")
    loyal = rng.random(n) < 0.5
    held = rng.random(n) < 0.5
    converted = rng.random(n) < 0.15 + np.where(loyal & ~held, 0.20, 0.0)
    prior = [
        (c, entered - pd.Timedelta(days=int(d)), 10_000)
        for c in range(n)
        for d in ((30, 90) if loyal[c] else (200,))
    ]
    orders = pd.DataFrame(prior, columns=["customer_id", "purchased_at", "total_minor"])
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(n),
            "started_at": entered,
            "holdout": held,
            "orders": converted.astype(int),
            "covariate": rng.normal(size=n),
        }
    )
    results = journey_targeting(frame, orders)
    assert [r.use_for_targeting for r in results] == [True, True]
