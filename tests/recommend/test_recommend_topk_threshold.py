"""The sparse top-k's threshold pass: rows decided by their evidence alone, checked by a sort."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from _plain_sort import plain_sorted_top
from _topk_inputs import random_evidence

from recompra.recommend.topk import SparseScores, _threshold_top, fallback_orders, sparse_top


@pytest.mark.parametrize("with_prior", [False, True])
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("k", [6, 15])
def test_threshold_rows_equal_the_sorted_order(with_prior: bool, seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    n, m = 80, 60
    evidence = random_evidence(rng, n, m)
    excluded = sp.csr_matrix(rng.random((n, m)) < rng.uniform(0.0, 0.3, n)[:, None])
    popularity = rng.integers(0, 5, m).astype(np.float64)
    tie = 1e-6 * popularity
    prior = popularity / 4.0 if with_prior else None
    mass = rng.integers(0, 3, n).astype(np.float64) if with_prior else None
    scores = SparseScores(evidence, mass, prior)
    dense = scores.dense() + tie
    dense[excluded.toarray()] = -np.inf
    want = plain_sorted_top(dense, k)
    orders = fallback_orders(tie, prior)
    np.testing.assert_array_equal(sparse_top(scores, tie, excluded, k, orders), want)
    positive = np.take_along_axis(scores.dense(), np.maximum(want, 0), axis=1) > 0
    np.testing.assert_array_equal(
        sparse_top(scores, tie, excluded, k, orders, evidence_only=True),
        np.where((want >= 0) & positive, want, -1),
    )
    # Both paths are exercised: some rows decided by the threshold, some not (k = 15 with
    # this many excluded items: rows just short of k + e entries, none decided).
    out = np.full((n, k), -1, dtype=np.int64)
    resolved = _threshold_top(scores, tie, excluded.tocsr(), k, out, False)
    assert resolved.sum() < n
    assert resolved.any() or k == 15
    np.testing.assert_array_equal(out[resolved], want[resolved])


def test_a_row_short_of_k_once_its_excluded_items_are_dropped_is_refilled() -> None:
    # 16 evidence items, the 2 best excluded: 14 remain for k = 15, so the 15th item is
    # the best-selling item without evidence (the fallback), not a gap.
    m, k = 40, 15
    evidence = sp.csr_matrix((np.arange(16, 0, -1.0), (np.zeros(16, int), np.arange(16))), (1, m))
    excluded = sp.csr_matrix((np.ones(2), ([0, 0], [0, 1])), shape=(1, m))
    tie = 1e-6 * np.arange(m, dtype=np.float64)  # item 39 sells best
    dense = evidence.toarray() + tie
    dense[0, :2] = -np.inf
    want = plain_sorted_top(dense, k)
    assert want[0, -1] == m - 1
    got = sparse_top(SparseScores(evidence), tie, excluded, k, fallback_orders(tie, None))
    np.testing.assert_array_equal(got, want)
