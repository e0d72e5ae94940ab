"""Offline evaluation: the time split, the metrics, and no leakage from the test period."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recompra.generate import GeneratorConfig, generate_tables
from recompra.recommend.evaluate import (
    DEFAULT_MODELS,
    EVALUATION_COLUMNS,
    _metrics,
    evaluate_recommenders,
    time_split,
)
from recompra.recommend.purchases import purchase_lines
from recompra.recommend.recommenders import BaseRecommender, NextBestOffer
from recompra.recommend.sql import Level


@pytest.fixture(scope="module")
def lines() -> pd.DataFrame:
    return purchase_lines(generate_tables(GeneratorConfig(seed=5, n_orders=6_000)))


def test_split_is_the_last_fifth_of_the_time_span(lines: pd.DataFrame) -> None:
    split = time_split(lines, 0.2)
    start, end = lines["purchased_at"].min(), lines["purchased_at"].max()
    assert split.cutoff == start + (end - start) * 0.8
    assert split.train["purchased_at"].max() < split.cutoff
    assert split.test["purchased_at"].min() >= split.cutoff
    assert len(split.train) + len(split.test) == len(lines)
    with pytest.raises(ValueError, match="test_fraction"):
        time_split(lines, 1.0)


def test_metrics_by_hand() -> None:
    recs = np.array([[1, 2, 3], [4, 5, 6]])
    customers = np.array([10, 20])
    relevant = pd.DataFrame({"customer_id": [10, 10, 20], "item_id": [2, 9, 7]})
    m = _metrics(recs, customers, relevant, k=3)
    # Customer 10: 1 hit of 2 relevant -> precision 1/3, recall 1/2; customer 20: nothing.
    assert m["hit_rate"] == pytest.approx(0.5)
    assert m["precision"] == pytest.approx((1 / 3 + 0) / 2)
    assert m["recall"] == pytest.approx((1 / 2 + 0) / 2)


def _recommendations_after_fitting_on_train(
    lines: pd.DataFrame, customers: np.ndarray
) -> np.ndarray:
    split = time_split(lines, 0.2)
    return NextBestOffer("product").fit(split.train).top_k(customers, 10)


def test_nothing_from_the_test_period_leaks(lines: pd.DataFrame) -> None:
    split = time_split(lines, 0.2)
    customers = np.sort(lines["customer_id"].unique())[:300]
    before = _recommendations_after_fitting_on_train(lines, customers)
    # Rewrite the test period completely (other products, a brand-new best seller),
    # keeping its time range so the cutoff stays where it is.
    tampered = lines.copy()
    in_test = tampered["purchased_at"] >= split.cutoff
    rng = np.random.default_rng(0)
    tampered.loc[in_test, "product_id"] = rng.permutation(
        tampered.loc[in_test, "product_id"].to_numpy()
    )
    tampered.loc[in_test & (rng.random(len(tampered)) < 0.5), "product_id"] = 999_999
    assert time_split(tampered, 0.2).cutoff == split.cutoff
    after = _recommendations_after_fitting_on_train(tampered, customers)
    np.testing.assert_array_equal(before, after)
    assert 999_999 not in after


def test_models_only_see_training_lines(lines: pd.DataFrame) -> None:
    seen: list[pd.Timestamp] = []

    class Spy(NextBestOffer):
        def fit(self, fit_lines: pd.DataFrame) -> Spy:
            seen.append(fit_lines["purchased_at"].max())
            return super().fit(fit_lines)

    def spy(level: Level) -> BaseRecommender:
        return Spy(level)

    table = evaluate_recommenders(lines, level="category", k=3, models={"spy": spy})
    cutoff = pd.Timestamp(table.attrs["cutoff"])
    assert seen
    assert max(seen) < cutoff


def test_table_shape_and_ranges(lines: pd.DataFrame) -> None:
    table = evaluate_recommenders(lines, level="category", k=5)
    assert list(table.columns) == list(EVALUATION_COLUMNS)
    assert len(table) == 2 * len(DEFAULT_MODELS)
    assert set(table["items"]) == {"all", "new"}
    for column in ("hit_rate", "precision", "recall", "coverage"):
        assert table[column].between(0.0, 1.0).all()
    assert (table["precision"] <= table["hit_rate"]).all()
