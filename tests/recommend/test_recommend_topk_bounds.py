"""The threshold pass's per-row bound, its single run per row and its set helpers.

Each expected value comes from a plain sort (or NumPy's own set functions) in the test.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from _plain_sort import plain_sorted_top

from recompra.recommend import topk
from recompra.recommend.topk import (
    SparseScores,
    _distinct,
    _member,
    _row_kth,
    _threshold_top,
    fallback_orders,
    sparse_top,
)


def _csr_rows(rows: list[np.ndarray], m: int) -> sp.csr_matrix:
    """A CSR matrix whose row ``i`` holds ``rows[i]`` in its first columns."""
    data = np.concatenate(rows)
    indices = np.concatenate([np.arange(len(r)) for r in rows])
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
    return sp.csr_matrix((data, indices, indptr), shape=(len(rows), m))


def _expected_kth(rows: list[np.ndarray], k: int, spare: np.ndarray) -> np.ndarray:
    want = np.full(len(rows), -np.inf)
    for i, values in enumerate(rows):
        rank = k + int(spare[i])
        if len(values) >= rank:
            want[i] = np.sort(values)[::-1][rank - 1]
    return want


@pytest.mark.parametrize("length", [40, 300])  # sorted bucket, partitioned bucket
def test_each_row_of_a_bucket_gets_its_own_rank(length: int) -> None:
    rng = np.random.default_rng(length)
    k = 5
    # All rows in one power-of-two length bucket. Row 0 is a heavy customer whose spare
    # exceeds its length; row 1 has a spare that still fits; the others have none.
    rows = [rng.permutation(np.arange(length - i, dtype=np.float64) + 1.0) for i in range(5)]
    spare = np.array([length + 10, length // 2, 0, 1, 0])
    matrix = _csr_rows(rows, length + 1)
    got = _row_kth(matrix.data, matrix.indptr, k, spare)
    np.testing.assert_array_equal(got, _expected_kth(rows, k, spare))
    # Rows too short for k, and a bucket of several lengths, still match the sort.
    short = [rng.normal(size=n) for n in (0, 3, 9, 12, 16, 17, 31)]
    spare = rng.integers(0, 6, len(short))
    matrix = _csr_rows(short, 40)
    got = _row_kth(matrix.data, matrix.indptr, 3, spare)
    np.testing.assert_array_equal(got, _expected_kth(short, 3, spare))


def test_a_heavy_row_does_not_leave_its_bucket_undecided() -> None:
    # Evidence far above any item without it: every row whose (k + excluded)-th best
    # entry exists is decided by the threshold pass, the heavy row (40 excluded of its
    # 40 entries) is not, and the lists equal a sort of the dense scores.
    m, k = 80, 5
    rng = np.random.default_rng(4)
    rows = [rng.permutation(np.arange(40 - i, dtype=np.float64) + 10.0) for i in range(4)]
    evidence = _csr_rows(rows, m)
    excluded = sp.lil_matrix((4, m))
    excluded[0, :40] = 1.0
    excluded[1, :2] = 1.0
    excluded = excluded.tocsr()
    tie = 1e-6 * rng.integers(0, 9, m).astype(np.float64)
    scores = SparseScores(evidence)
    out = np.full((4, k), -1, dtype=np.int64)
    resolved = _threshold_top(scores, tie, excluded, k, out, False)
    np.testing.assert_array_equal(resolved, [False, True, True, True])
    dense = scores.dense() + tie
    dense[excluded.toarray() > 0] = -np.inf
    want = plain_sorted_top(dense, k)
    np.testing.assert_array_equal(out[1:], want[1:])
    got = sparse_top(scores, tie, excluded, k, fallback_orders(tie, None))
    np.testing.assert_array_equal(got, want)


def test_rows_the_threshold_leaves_undecided_are_not_passed_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(9)
    n, m, k = 60, 50, 8
    density = rng.uniform(0.0, 0.9, n)  # short rows undecided, long ones decided
    mask = rng.random((n, m)) < density[:, None]
    evidence = sp.csr_matrix(np.where(mask, rng.integers(1, 5, (n, m)), 0).astype(np.float64))
    excluded = sp.csr_matrix(rng.random((n, m)) < 0.1)
    popularity = rng.integers(0, 5, m).astype(np.float64)
    tie, prior = 1e-6 * popularity, popularity / 4.0
    scores = SparseScores(evidence, rng.integers(0, 3, n).astype(np.float64), prior)
    passes: list[int] = []
    real = topk.rank_evidence

    def counted(*args: object, **kwargs: object) -> topk.RankedEvidence:
        ranked = real(*args, **kwargs)  # type: ignore[arg-type]
        passes.append(len(ranked.resolved))
        return ranked

    monkeypatch.setattr(topk, "rank_evidence", counted)
    got = sparse_top(scores, tie, excluded, k, fallback_orders(tie, prior))
    dense = scores.dense() + tie
    dense[excluded.toarray()] = -np.inf
    np.testing.assert_array_equal(got, plain_sorted_top(dense, k))
    resolved = real(scores, tie, np.diff(excluded.indptr), k).resolved
    assert 0 < resolved.sum() < n  # both paths taken
    assert passes == [n]  # one pass over the block, none over its undecided rows


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_set_helpers_equal_numpy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for keys in (
        np.zeros(0, dtype=np.int64),
        np.array([7], dtype=np.int64),
        np.arange(0, 500, 3, dtype=np.int64),  # already strictly increasing
        rng.integers(0, 400, 1_000),  # repeats, unsorted
        np.sort(rng.integers(0, 400, 1_000)),  # sorted with repeats
    ):
        distinct = _distinct(keys)
        np.testing.assert_array_equal(distinct, np.unique(keys))
        probe = rng.integers(-5, 520, 300)
        np.testing.assert_array_equal(_member(probe, distinct), np.isin(probe, keys))
