"""Each block of customers is ranked by the cheaper path; mixed paths give the dense lists."""

from __future__ import annotations

import numpy as np
import pytest

from recompra.generate import GeneratorConfig, generate_tables
from recompra.recommend import base as recommender_base
from recompra.recommend.base import BaseRecommender
from recompra.recommend.item_cooccurrence import ItemCooccurrence
from recompra.recommend.nbo_model import NextBestOffer
from recompra.recommend.purchases import purchase_lines


@pytest.mark.parametrize("model", [ItemCooccurrence(), NextBestOffer()], ids=type)
def test_blocks_ranked_by_either_path_equal_the_dense_lists(
    model: BaseRecommender, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = purchase_lines(generate_tables(GeneratorConfig(seed=3, n_orders=2_000, n_products=200)))
    model.fit(lines)
    who = model.customers_
    rows = model.history_rows(who)
    scores = model._sparse_scores(rows, who)
    assert scores is not None
    # Blocks of 40 customers around the store's own evidence share: some above, some below.
    monkeypatch.setattr(recommender_base, "SPARSE_CHUNK", 40)
    monkeypatch.setattr(
        recommender_base, "DENSE_SHARE", scores.evidence.nnz / (len(who) * model.index_.size)
    )
    model.scoring = "sparse"
    sparse = model._top_k_positions(who, 12, model.default_exclude)
    assert model.blocks_ranked_["sparse"] > 0
    assert model.blocks_ranked_["dense"] > 0
    model.scoring = "dense"
    dense = model._top_k_positions(who, 12, model.default_exclude)
    np.testing.assert_array_equal(sparse[1], dense[1])
    assert (dense[1] >= 0).all()
