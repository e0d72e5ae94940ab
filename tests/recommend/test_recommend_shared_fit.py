"""Models fitted on one history count the order baskets once and keep no unused cosine."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recompra.generate import GeneratorConfig, generate_tables
from recompra.recommend.item_cooccurrence import ItemCooccurrence
from recompra.recommend.matrices import History
from recompra.recommend.nbo_model import NextBestOffer
from recompra.recommend.purchases import purchase_lines


@pytest.fixture(scope="module")
def lines() -> pd.DataFrame:
    return purchase_lines(generate_tables(GeneratorConfig(seed=9, n_orders=2_000, n_products=150)))


def test_one_history_counts_the_order_baskets_once(lines: pd.DataFrame) -> None:
    shared = History.of(lines, "product")
    cosine = ItemCooccurrence().fit(lines, shared)
    lift = ItemCooccurrence(measure="lift").fit(lines, shared)
    nbo = NextBestOffer().fit(lines, shared)
    assert cosine.order_cooc_ is lift.order_cooc_
    assert nbo.order_cooc_ is cosine.order_cooc_
    # A different minimum count is a different statistic: not shared.
    pruned = ItemCooccurrence(min_pair_count=2).fit(lines, shared)
    assert pruned.order_cooc_ is not cosine.order_cooc_
    assert pruned.order_cooc_.counts.nnz < cosine.order_cooc_.counts.nnz


def test_the_cosine_is_computed_only_by_the_model_that_ranks_by_it(lines: pd.DataFrame) -> None:
    nbo = NextBestOffer().fit(lines)
    assert "cosine" not in vars(nbo.order_cooc_)
    assert "cosine" not in vars(nbo.customer_cooc_)
    plain = ItemCooccurrence().fit(lines)
    assert "cosine" in vars(plain.order_cooc_)


def test_shared_and_separate_fits_give_the_same_lists(lines: pd.DataFrame) -> None:
    # The same lines with and without a shared history: identical models, identical lists.
    shared = History.of(lines, "product")
    who = shared.customers[::5]
    for make in (ItemCooccurrence, lambda: ItemCooccurrence(measure="lift"), NextBestOffer):
        together = make().fit(lines, shared).top_k(who, 12)
        alone = make().fit(lines).top_k(who, 12)
        np.testing.assert_array_equal(together, alone)
    # The cosine, computed on first use, is n_ab / sqrt(n_a n_b) of the counts.
    cooc = ItemCooccurrence().fit(lines, shared).order_cooc_
    counts = cooc.counts.toarray()
    n = cooc.item_counts
    with np.errstate(divide="ignore", invalid="ignore"):
        want = np.where(counts > 0, counts / np.sqrt(np.outer(n, n)), 0.0)
    np.testing.assert_allclose(cooc.cosine.toarray(), want, rtol=1e-12)
