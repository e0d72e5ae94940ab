"""Offline evaluation: the time split, the metrics, no leakage, served next to baselines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recompra.generate import GeneratorConfig, generate_tables
from recompra.recommend.backtest import time_split
from recompra.recommend.base import BaseRecommender
from recompra.recommend.evaluate import (
    EVALUATION_COLUMNS,
    evaluate_recommenders,
    evaluation_markdown,
    validate_recommenders,
    validation_markdown,
)
from recompra.recommend.metrics import Relevant, ranking_metrics
from recompra.recommend.nbo_model import NextBestOffer
from recompra.recommend.purchases import purchase_lines
from recompra.recommend.rule import BASELINES


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
    recs = np.array([[1, 2, 3], [4, 5, 6], [7, -1, -1]])
    relevant = Relevant.build(
        np.array([10, 20, 30]),
        pd.DataFrame({"customer_id": [10, 10, 20, 30], "item_id": [2, 9, 7, 7]}),
    )
    m = ranking_metrics(recs, relevant, k=3)
    # Customer 10: item 2 at rank 2 of 2 relevant -> precision 1/3, recall 1/2,
    # NDCG (1/log2 3) / (1 + 1/log2 3). Customer 20: nothing. Customer 30: rank 1 of 1.
    assert m["hit_rate"] == pytest.approx(2 / 3)
    assert m["precision"] == pytest.approx((1 / 3 + 0 + 1 / 3) / 3)
    assert m["recall"] == pytest.approx((1 / 2 + 0 + 1) / 3)
    g = 1 / np.log2(3)
    assert m["ndcg"] == pytest.approx((g / (1 + g) + 0 + 1) / 3)


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

    def spy() -> BaseRecommender:
        return Spy("category")

    table = evaluate_recommenders(lines, level="category", k=3, models={"spy": spy})
    cutoff = pd.Timestamp(table.attrs["cutoff"])
    assert seen
    assert max(seen) < cutoff
    # The plan was chosen on validation windows that all start before the test period.
    origins = [pd.Timestamp(c) for c in table.attrs["plan"]["validation_cutoffs"]]
    assert len(origins) >= 3
    assert max(origins) < cutoff


def test_served_next_to_every_baseline_on_the_same_customers(lines: pd.DataFrame) -> None:
    table = evaluate_recommenders(lines, level="category", k=5)
    assert list(table.columns) == list(EVALUATION_COLUMNS)
    assert set(table["items"]) == {"all", "new", "cold_start"}
    for items, rows in table.groupby("items"):
        assert (rows["model"] == "served").sum() == 1, items
        assert rows["customers"].nunique() == 1, items  # the same customers for every row
    for items in ("all", "new"):
        rows = table.loc[table["items"] == items]
        assert set(BASELINES) - {"own_history"} <= set(rows["model"])
    assert "own_history" in set(table.loc[table["items"] == "all", "model"])
    # The learned candidates are scored on the test period too, whether they serve or not.
    for items in ("all", "new"):
        assert {"blend", "learned_ranker"} <= set(table.loc[table["items"] == items, "model"])
    assert "own_history_then_new" in set(table.loc[table["items"] == "all", "model"])
    for column in ("hit_rate", "precision", "recall", "ndcg", "coverage"):
        assert table[column].between(0.0, 1.0).all()
    assert (table["precision"] <= table["hit_rate"]).all()
    plan = table.attrs["plan"]["choices"]
    for kind, choice in plan.items():
        served = table.loc[(table["model"] == "served")]
        assert choice["reason"], kind
        assert set(choice["validation"]) >= {"popularity"}
    assert set(served["role"].str.removeprefix("served: ")) == {
        choice["method"] for choice in plan.values()
    }


def test_served_minus_best_baseline_is_stated_with_its_interval(lines: pd.DataFrame) -> None:
    table = evaluate_recommenders(lines, level="category", k=5)
    differences = table.attrs["differences"]
    assert set(differences) == {"all", "new", "cold_start"}
    for items, diff in differences.items():
        rows = table.loc[table["items"] == items].set_index("model")
        baselines = rows.loc[rows["role"] == "baseline", "hit_rate"]
        assert diff["best_baseline"] == baselines.idxmax()
        served = rows.loc["served", "hit_rate"]
        assert diff["difference"] == pytest.approx(served - baselines.max())
        assert diff["low"] <= diff["difference"] <= diff["high"]
    assert "bootstrap CI" in evaluation_markdown(table)


def _hand_made_table(hits: dict[str, dict[str, int]], methods: dict[str, str]) -> pd.DataFrame:
    """An evaluation table from hit counts per list and model, 200 customers each."""
    customers = 200
    labels = {"any": "all", "new": "new", "cold_start": "cold_start"}
    rows = []
    for kind, counts in hits.items():
        for model, count in counts.items():
            role = "baseline" if model in BASELINES else "candidate"
            rate = count / customers
            rows.append(
                {
                    "level": "product",
                    "items": labels[kind],
                    "model": model,
                    "role": "served" if model == "served" else role,
                    "customers": customers,
                    **dict.fromkeys(("hit_rate", "precision", "recall", "ndcg"), rate),
                    "coverage": 0.1,
                }
            )
    table = pd.DataFrame(rows, columns=list(EVALUATION_COLUMNS))
    choices = {
        kind: {"method": method, "weights": {}, "reason": f"{method} chosen"}
        for kind, method in methods.items()
    }
    table.attrs.update({"k": 10, "plan": {"choices": choices}, "differences": {}})
    return table


def _verdict_line(markdown: str, label: str) -> str:
    return next(line for line in markdown.splitlines() if line.startswith(f"* `{label}`"))


def test_verdict_checks_a_served_baseline_against_every_other_baseline() -> None:
    # new: the popularity baseline serves (6 hits) and ties itself, but the co-occurrence
    # baseline hits 9 of the same 200 customers: a loss, not a tie.
    # all: the co-occurrence baseline serves and no other baseline reaches its 12 hits: a tie.
    # cold_start: a candidate serves with 8 hits, above popularity's 7: a win.
    hits = {
        "new": {"served": 6, "popularity": 6, "cooccurrence": 9, "next_best_offer": 11},
        "any": {"served": 12, "popularity": 7, "cooccurrence": 12, "own_history": 11},
        "cold_start": {"served": 8, "popularity": 7, "recent_popularity": 8},
    }
    methods = {"new": "popularity", "any": "cooccurrence", "cold_start": "recent_popularity"}
    markdown = evaluation_markdown(_hand_made_table(hits, methods))
    new = _verdict_line(markdown, "new")
    assert "does not beat every baseline" in new
    assert f"cooccurrence {9 / 200:.4f} above it" in new
    assert "tie" not in new
    every = _verdict_line(markdown, "all")
    assert "ties the baseline cooccurrence on the test period" in every
    assert "a tie, not a win" in every
    assert "does not beat" not in every
    cold = _verdict_line(markdown, "cold_start")
    assert "served beats every baseline on the test period" in cold


def test_verdict_names_a_tie_of_a_candidate_with_a_baseline() -> None:
    # A candidate serves and hits exactly as many customers as the best baseline.
    hits = {"new": {"served": 10, "popularity": 10, "cooccurrence": 4}}
    markdown = evaluation_markdown(_hand_made_table(hits, {"new": "blend"}))
    line = _verdict_line(markdown, "new")
    assert "ties the baseline popularity on the test period (a tie, not a win)" in line
    assert "does not beat" not in line


def test_validation_only_reads_nothing_of_the_test_period(lines: pd.DataFrame) -> None:
    split = time_split(lines, 0.2)
    before = validate_recommenders(lines, level="category", k=5)
    # Wipe the test period's items and customers (its time range kept, so the cutoff is
    # the same): the validation evidence must not move.
    tampered = lines.copy()
    in_test = tampered["purchased_at"] >= split.cutoff
    tampered.loc[in_test, "category_id"] = 999_999
    tampered.loc[in_test, "customer_id"] = 888_888
    assert time_split(tampered, 0.2).cutoff == split.cutoff
    after = validate_recommenders(tampered, level="category", k=5)
    pd.testing.assert_frame_equal(before, after)
    assert before.attrs["plan"] == after.attrs["plan"]
    origins = [pd.Timestamp(c) for c in before.attrs["validation_cutoffs"]]
    assert max(origins) < split.cutoff
    # One served row per list, the method the plan chose, on the plan's pooled rows.
    for kind, choice in before.attrs["plan"]["choices"].items():
        label = {"any": "all"}.get(kind, kind)
        rows = before.loc[before["items"] == label]
        assert list(rows.loc[rows["role"] == "served", "model"]) == [choice["method"]]
        assert (rows["rows"] == choice["customers"]).all()
        assert set(rows["model"]) == set(choice["validation"])
    markdown = validation_markdown(before)
    assert "nothing is scored on the test period" in markdown
