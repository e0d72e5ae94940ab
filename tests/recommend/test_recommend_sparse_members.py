"""The learned ranker and category popularity rank sparsely: the dense path's lists, and a sort.

Each model is ranked through ``topk.sparse_top`` (every block, ``DENSE_SHARE`` forced to
1), then through the dense path, and both are compared with a plain sort of scores the
test computes itself (row by row: score plus the ``1e-6 * popularity`` tie-breaker, then
the lower item position).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recompra.generate import GeneratorConfig, generate_tables
from recompra.recommend import base as recommender_base
from recompra.recommend.base import BaseRecommender, Exclude
from recompra.recommend.category_popularity import CategoryPopularity
from recompra.recommend.purchases import purchase_lines
from recompra.recommend.ranker import LearnedRanker, new_classifier
from recompra.recommend.selection import MEMBERS, candidates, learned_ranker

TIE = 1e-6


@pytest.fixture(scope="module")
def lines() -> pd.DataFrame:
    return purchase_lines(generate_tables(GeneratorConfig(seed=5, n_orders=3_000, n_products=300)))


def _sorted_lists(
    model: BaseRecommender,
    who: np.ndarray,
    scores: np.ndarray,
    k: int,
    exclude: Exclude,
    only: bool,
) -> np.ndarray:
    """Rank ``scores`` (rows of ``who`` x item positions) by a plain sort, row by row."""
    ids = model.index_.ids
    tie = TIE * model.popularity_.astype(np.float64) / model.popularity_.max()
    history = model.history_rows(who).tolil()
    out = np.full((len(who), k), -1, dtype=np.int64)
    for row in range(len(who)):
        banned = set(history.rows[row]) if exclude == "all" else set()
        ranked = sorted(
            (j for j in range(len(ids)) if j not in banned),
            key=lambda j: (-(scores[row, j] + tie[j]), j),
        )
        if only:
            ranked = [j for j in ranked if scores[row, j] > 0]
        top = [int(ids[j]) for j in ranked[:k]]
        out[row, : len(top)] = top
    return out


def _both_paths(
    model: BaseRecommender, who: np.ndarray, k: int, exclude: Exclude, only: bool
) -> np.ndarray:
    """Return the sparse path's ids after checking them against the dense path's."""
    model.scoring = "sparse"
    sparse = model._top_k_positions(who, k, exclude, evidence_only=only)
    assert model._has_sparse_scores()
    assert model.blocks_ranked_["sparse"] > 0
    assert model.blocks_ranked_["dense"] == 0
    model.scoring = "dense"
    dense = model._top_k_positions(who, k, exclude, evidence_only=only)
    np.testing.assert_array_equal(sparse[0], dense[0])
    np.testing.assert_array_equal(sparse[1], dense[1])
    return sparse[0]


def _category_scores(model: CategoryPopularity, lines: pd.DataFrame, who: np.ndarray) -> np.ndarray:
    """``P(c(j) | u) * P(j | c(j))`` counted from the lines, independently of the model."""
    pairs = lines[["customer_id", "product_id", "category_id"]].drop_duplicates()
    buyers = pairs.groupby("product_id")["customer_id"].nunique()
    category = pairs.drop_duplicates("product_id").set_index("product_id")["category_id"]
    per_category = buyers.groupby(category.reindex(buyers.index)).sum()
    ids = model.index_.ids
    scores = np.zeros((len(who), len(ids)))
    for row, customer in enumerate(who.tolist()):
        mine = pairs[pairs["customer_id"] == customer]
        share = mine["category_id"].value_counts() / max(len(mine), 1)
        for j, product in enumerate(ids.tolist()):
            c = category.get(product)
            if c in share.index:
                scores[row, j] = share[c] * buyers.get(product, 0) / per_category[c]
    return scores


@pytest.mark.parametrize("exclude", ["none", "all"])
@pytest.mark.parametrize("evidence_only", [False, True])
def test_category_popularity_sparse_lists_equal_the_dense_lists_and_a_sort(
    lines: pd.DataFrame, exclude: Exclude, evidence_only: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recommender_base, "DENSE_SHARE", 1.0)
    model = CategoryPopularity("product").fit(lines)
    who = np.concatenate([model.customers_[::7], [-5]])  # one unknown: no categories
    got = _both_paths(model, who, 15, exclude, evidence_only)
    want = _sorted_lists(
        model, who, _category_scores(model, lines, who), 15, exclude, evidence_only
    )
    np.testing.assert_array_equal(got, want)
    assert (want >= 0).sum() > len(who)  # the lists are not empty


@pytest.fixture(scope="module")
def ranker(lines: pd.DataFrame) -> LearnedRanker:
    """The ``any`` list's ranker, its classifier fitted on which items customers bought most."""
    factories = candidates("product")
    fitted = {name: factories[name]().fit(lines) for name in MEMBERS["any"]}
    ranker = learned_ranker(fitted, "any").fit(lines)
    who = ranker.customers_[::2]
    pairs = ranker.pairs(who, ranker.member_lists(who))
    labels = pairs.features[:, len(MEMBERS["any"]) + 4] > 1  # bought it more than once
    ranker.classifier = new_classifier().fit(pairs.features, labels)
    return ranker


@pytest.mark.parametrize("exclude", ["none", "all"])
@pytest.mark.parametrize("evidence_only", [False, True])
def test_learned_ranker_sparse_lists_equal_the_dense_lists_and_a_sort(
    ranker: LearnedRanker, exclude: Exclude, evidence_only: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recommender_base, "DENSE_SHARE", 1.0)
    who = np.concatenate([ranker.customers_[1::5], [-5]])
    got = _both_paths(ranker, who, 15, exclude, evidence_only)
    # The classifier's probability of each listed pair, 0 for the rest of the catalogue.
    pairs = ranker.pairs(who, ranker.member_lists(who))
    assert ranker.classifier is not None
    scores = np.zeros((len(who), ranker.index_.size))
    probability = ranker.classifier.predict_proba(pairs.features)[:, 1]
    scores[pairs.rows, pairs.positions] = np.maximum(probability, 1e-9)
    want = _sorted_lists(ranker, who, scores, 15, exclude, evidence_only)
    np.testing.assert_array_equal(got, want)
    assert (want >= 0).sum() > len(who)
