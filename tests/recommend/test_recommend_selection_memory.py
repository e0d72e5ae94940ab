"""What the model selection's windows hold: no explanation counts, one ranker fit each.

The selection ranks with every candidate of three validation windows held at once, so
what a fitted model keeps beyond its scores is multiplied by three (docs/recommend.md,
the 10M-order section). These tests check the cuts give the same lists as before.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recompra.generate import GeneratorConfig, generate_tables
from recompra.recommend.matrices import History, top_per_row
from recompra.recommend.nbo_model import NextBestOffer
from recompra.recommend.purchases import purchase_lines
from recompra.recommend.selection import candidates, learned_ranker


@pytest.fixture(scope="module")
def lines() -> pd.DataFrame:
    return purchase_lines(generate_tables(GeneratorConfig(seed=5, n_orders=2_000, n_products=150)))


def _sorted_top(matrix: sp.csr_matrix, m: int) -> np.ndarray:
    """The ``m`` largest entries of each row by a plain per-row sort (ties: lower column)."""
    out = np.zeros(matrix.shape)
    for r in range(matrix.shape[0]):
        row = matrix.getrow(r)
        order = np.lexsort((row.indices, -row.data))[:m]
        out[r, row.indices[order]] = row.data[order]
    return out


@pytest.mark.parametrize("entries", [1, 7, 50, 10**9])
def test_top_per_row_in_blocks_keeps_what_one_sort_keeps(entries: int) -> None:
    rng = np.random.default_rng(entries)
    matrix = sp.random(40, 60, density=0.4, random_state=3, format="csr")
    matrix.data = np.ceil(matrix.data * 4)  # few distinct values: many ties
    for m in (1, 3, 10):
        got = top_per_row(matrix.copy(), m, entries=entries)
        np.testing.assert_array_equal(got.toarray(), _sorted_top(matrix, m))
        assert np.diff(got.indptr).max() <= m
    # Rows longer than the block budget are never split.
    wide = sp.csr_matrix(rng.integers(0, 3, size=(5, 200)).astype(np.float64))
    got = top_per_row(wide.copy(), 4, entries=entries)
    np.testing.assert_array_equal(got.toarray(), _sorted_top(wide, 4))


def test_next_best_offer_without_explanation_counts_ranks_the_same(lines: pd.DataFrame) -> None:
    shared = History.of(lines, "product")
    explained = NextBestOffer().fit(lines, shared)
    ranking = NextBestOffer(explained=False).fit(lines, History.of(lines, "product"))
    assert not hasattr(ranking, "customer_cooc_")
    assert ("customer", 1) not in ranking.shared_history()._cooccurrences
    np.testing.assert_array_equal(
        ranking.item_conditional_.toarray(), explained.item_conditional_.toarray()
    )
    # Pruned after the division by n_i + alpha (as a product with its reciprocal, as the
    # model always computed it: the same floats as before the pruning moved first).
    counts = explained.customer_cooc_.counts
    n_i = explained.customer_cooc_.item_counts
    divided = sp.csr_matrix(counts.toarray() * (1.0 / (n_i + explained.alpha))[:, None])
    want = _sorted_top(divided, explained.top_neighbours)
    np.testing.assert_array_equal(explained.item_conditional_.toarray(), want)
    pruned = NextBestOffer(top_neighbours=3).fit(lines, shared)
    np.testing.assert_array_equal(pruned.item_conditional_.toarray(), _sorted_top(divided, 3))
    who = shared.customers[::3]
    for mode in ("all", "non_repeat", "none"):
        np.testing.assert_array_equal(
            ranking.top_k(who, 20, exclude=mode), explained.top_k(who, 20, exclude=mode)
        )


def test_the_new_and_any_rankers_share_one_fit(lines: pd.DataFrame) -> None:
    shared = History.of(lines, "product")
    fitted = {name: make().fit(lines, shared) for name, make in candidates("product").items()}
    who = shared.customers[::4]
    base = learned_ranker(fitted, "any").fit(lines, shared)
    for kind in ("new", "any"):
        alone = learned_ranker(fitted, kind).fit(lines, shared)
        reused = base.with_members(alone.members, alone.exclude)
        assert list(reused.members) == list(alone.members)
        ranked = alone.member_lists(who)
        for name, positions in reused.member_lists(who).items():
            np.testing.assert_array_equal(positions, ranked[name])
        got, want = reused.pairs(who, ranked), alone.pairs(who, ranked)
        np.testing.assert_array_equal(got.rows, want.rows)
        np.testing.assert_array_equal(got.positions, want.positions)
        np.testing.assert_array_equal(got.features, want.features)
    # The shared fit is not changed by the copies.
    assert list(base.members) == list(learned_ranker(fitted, "any").members)
