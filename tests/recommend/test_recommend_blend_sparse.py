"""The blend ranks its fused scores sparsely: the same lists as the dense path and as a sort."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recompra.generate import GeneratorConfig, generate_tables
from recompra.recommend import base as recommender_base
from recompra.recommend.base import BaseRecommender, Exclude
from recompra.recommend.blend import Blend
from recompra.recommend.item_cooccurrence import ItemCooccurrence
from recompra.recommend.nbo_model import NextBestOffer
from recompra.recommend.popularity import Popularity
from recompra.recommend.purchases import purchase_lines
from recompra.recommend.replenishment import OwnHistory

WEIGHTS = {"cooccurrence": 1.0, "next_best_offer": 0.5, "own_history": 2.0, "popularity": 0.1}
DEPTH, RANK_OFFSET, TIE = 7, 5.0, 1e-6


@pytest.fixture(scope="module")
def lines() -> pd.DataFrame:
    return purchase_lines(generate_tables(GeneratorConfig(seed=5, n_orders=3_000, n_products=300)))


def _blend(lines: pd.DataFrame) -> Blend:
    members: dict[str, BaseRecommender] = {
        "cooccurrence": ItemCooccurrence(),
        "next_best_offer": NextBestOffer(),
        "own_history": OwnHistory(),
        "popularity": Popularity(),
    }
    return Blend(members, WEIGHTS, depth=DEPTH).fit(lines)


def _expected(blend: Blend, who: np.ndarray, k: int, exclude: Exclude, only: bool) -> np.ndarray:
    """Fuse the members' lists and rank every item by plain sorting, row by row."""
    lists = {
        name: member._top_k_positions(who, DEPTH, member.default_exclude, evidence_only=True)[0]
        for name, member in blend.members.items()
    }
    ids = blend.index_.ids
    tie = TIE * blend.popularity_norm_
    history = blend.history_rows(who).tolil()
    out = np.full((len(who), k), -1, dtype=np.int64)
    for row in range(len(who)):
        fused = dict.fromkeys(range(len(ids)), 0.0)
        for name, listed in lists.items():
            for rank, item in enumerate(listed[row].tolist()):
                if item >= 0:
                    fused[int(np.searchsorted(ids, item))] += WEIGHTS[name] / (
                        RANK_OFFSET + rank + 1
                    )
        banned = set(history.rows[row]) if exclude == "all" else set()
        ranked = sorted(
            (j for j in fused if j not in banned), key=lambda j: (-(fused[j] + tie[j]), j)
        )
        if only:
            ranked = [j for j in ranked if fused[j] > 0]
        top = [int(ids[j]) for j in ranked[:k]]
        out[row, : len(top)] = top
    return out


@pytest.mark.parametrize("exclude", ["none", "all"])
@pytest.mark.parametrize("evidence_only", [False, True])
def test_blend_sparse_lists_equal_the_dense_lists_and_a_sort(
    lines: pd.DataFrame, exclude: Exclude, evidence_only: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every block through sparse_top, however dense the fused evidence of this small store.
    monkeypatch.setattr(recommender_base, "DENSE_SHARE", 1.0)
    blend = _blend(lines)
    who = np.concatenate([blend.customers_[::3], [-5]])  # one unknown: the cold start
    blend.scoring = "sparse"
    sparse = blend._top_k_positions(who, 12, exclude, evidence_only=evidence_only)
    assert blend._has_sparse_scores()  # ranked sparsely
    assert blend.blocks_ranked_["dense"] == 0
    blend.scoring = "dense"
    dense = blend._top_k_positions(who, 12, exclude, evidence_only=evidence_only)
    np.testing.assert_array_equal(sparse[0], dense[0])
    np.testing.assert_array_equal(sparse[1], dense[1])
    want = _expected(blend, who, 12, exclude, evidence_only)
    np.testing.assert_array_equal(sparse[0], want)
    assert (want >= 0).sum() > len(who)  # the lists are not empty


def test_a_blend_without_weights_ranks_by_the_tie_breaker(lines: pd.DataFrame) -> None:
    blend = Blend({"popularity": Popularity()}, {}, depth=DEPTH).fit(lines)
    got = blend.top_k(blend.customers_[:3], 5, exclude="none")
    order = sorted(range(blend.index_.size), key=lambda j: (-blend.popularity_norm_[j], j))
    want = blend.index_.ids[order[:5]]
    np.testing.assert_array_equal(got, np.tile(want, (3, 1)))
