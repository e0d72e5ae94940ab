"""The tie rule of every list (score, then lower item position) on the dense and the
sparse top-k, and the sparse path equal to the dense one for every recommender."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from _plain_sort import plain_sorted_top

from recompra.generate import GeneratorConfig, generate_tables
from recompra.recommend import base as recommender_base
from recompra.recommend.base import BaseRecommender, Exclude
from recompra.recommend.ease import Ease
from recompra.recommend.item_cooccurrence import ItemCooccurrence
from recompra.recommend.nbo_model import NextBestOffer
from recompra.recommend.popularity import Popularity
from recompra.recommend.purchases import purchase_lines
from recompra.recommend.replenishment import OwnHistory, Replenishment
from recompra.recommend.topk import SparseScores, dense_top, fallback_orders, sparse_top


def test_dense_top_breaks_ties_by_lower_position() -> None:
    # 15 items tied at 1.0 (every 7th position): argpartition alone returns them out of
    # position order (0, 7, 14, 21, 28, 56, 42, ...).
    scores = np.zeros((2, 100))
    scores[0, ::7] = 1.0
    scores[1, ::3] = 2.0
    scores[1, 50:] = -np.inf
    for k in (1, 10, 40, 100):
        want = plain_sorted_top(scores, k)
        # Excluded (-inf) positions come last; the caller turns them into -1.
        np.testing.assert_array_equal(np.where(want >= 0, dense_top(scores, k), -1), want)


def test_sparse_top_equals_the_sorted_order_on_tied_scores() -> None:
    rng = np.random.default_rng(3)
    n, m, k = 60, 40, 8
    # Few distinct values: many exact ties in the evidence, the prior and the tie-breaker.
    evidence = sp.random(n, m, density=0.15, random_state=4, format="csr")
    evidence.data = np.round(evidence.data * 3) - 1.0  # -1, 0, 1, 2: negatives rank below
    prior = rng.integers(0, 4, m).astype(np.float64)
    tie = prior * 1e-6  # popularity-shaped: the prior and the tie-breaker agree
    mass = rng.integers(0, 3, n).astype(np.float64)  # some rows have no prior at all
    excluded = sp.random(n, m, density=0.3, random_state=5, format="csr")
    scores = SparseScores(evidence, mass, prior)
    dense = scores.dense() + tie
    dense[excluded.toarray() != 0] = -np.inf
    want = plain_sorted_top(dense, k)
    got = sparse_top(scores, tie, excluded, k, fallback_orders(tie, prior))
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.where(want >= 0, dense_top(dense, k), -1), want)
    # Evidence only: positions whose score without the tie-breaker is not positive are -1.
    plain = scores.dense()
    only = sparse_top(scores, tie, excluded, k, fallback_orders(tie, prior), evidence_only=True)
    positive = np.take_along_axis(plain, np.maximum(want, 0), axis=1) > 0
    np.testing.assert_array_equal(only, np.where((want >= 0) & positive, want, -1))


@pytest.fixture(scope="module")
def lines() -> pd.DataFrame:
    return purchase_lines(generate_tables(GeneratorConfig(seed=11, n_orders=3_000, n_products=300)))


MODELS = {
    "popularity": lambda: Popularity(),
    "recent_popularity": lambda: Popularity(recent_fraction=0.25),
    "cooccurrence": lambda: ItemCooccurrence(),
    "lift": lambda: ItemCooccurrence(measure="lift"),
    "next_best_offer": lambda: NextBestOffer(),
    "ease": lambda: Ease(max_items=120),
    "replenishment": lambda: Replenishment(),
    "own_history": lambda: OwnHistory(),
}


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("level", ["product", "category"])
@pytest.mark.parametrize("dense_share", [1.0, recommender_base.DENSE_SHARE])
def test_sparse_lists_equal_the_dense_lists(
    lines: pd.DataFrame, name: str, level: str, dense_share: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    # dense_share 1.0: every block through sparse_top, however dense its evidence.
    monkeypatch.setattr(recommender_base, "DENSE_SHARE", dense_share)
    model: BaseRecommender = MODELS[name]()
    model.level = "product" if level == "product" else "category"
    model.fit(lines)
    # Every known customer and two unknown ones (the cold-start list).
    who = np.concatenate([model.customers_, [-5, 10**12]])
    modes: tuple[Exclude, ...] = ("none", "all", "non_repeat")
    listed = 0
    for mode in modes:
        for evidence_only in (False, True):
            model.scoring = "sparse"
            sparse = model._top_k_positions(who, 15, mode, evidence_only=evidence_only)
            model.scoring = "dense"
            dense = model._top_k_positions(who, 15, mode, evidence_only=evidence_only)
            np.testing.assert_array_equal(sparse[0], dense[0])
            np.testing.assert_array_equal(sparse[1], dense[1])
            listed += int((sparse[0] >= 0).sum())
    assert listed > 0


def test_tied_co_occurrence_lists_order_by_popularity_then_lower_id() -> None:
    # A customer bought item 0 with each of items 1..30 exactly once (one order each):
    # every candidate ties on cosine and on popularity, so the lower id comes first.
    rows = []
    for j in range(1, 31):
        rows += [(j, 900 + j, 0), (j, 900 + j, 31 - j + 100)]
    rows += [(99, 7, 0)]
    when = pd.Timestamp("2024-01-01", tz="UTC")
    lines = pd.DataFrame(
        {
            "order_id": [o for o, _, _ in rows],
            "customer_id": [c for _, c, _ in rows],
            "purchased_at": [when] * len(rows),
            "product_id": [p for _, _, p in rows],
            "category_id": [1] * len(rows),
            "quantity": [1] * len(rows),
            "unit_price_minor": [100] * len(rows),
        }
    )
    model = ItemCooccurrence().fit(lines)
    want = sorted(range(101, 131))[:10]
    for scoring in ("sparse", "dense"):
        model.scoring = scoring  # type: ignore[assignment]
        got = model.top_k(np.array([7]), 10, exclude="all")[0]
        assert got.tolist() == want
