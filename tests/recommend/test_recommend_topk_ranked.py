"""One ranking of a block's evidence serves every exclusion within the history (by a sort)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from _plain_sort import plain_sorted_top
from _topk_inputs import random_evidence

from recompra.generate import GeneratorConfig, generate_tables
from recompra.recommend.item_cooccurrence import ItemCooccurrence
from recompra.recommend.purchases import purchase_lines
from recompra.recommend.topk import SparseScores, fallback_orders, rank_evidence, sparse_top


@pytest.mark.parametrize("with_prior", [False, True])
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("k", [4, 12])
def test_one_ranking_serves_every_exclusion_within_the_history(
    with_prior: bool, seed: int, k: int
) -> None:
    rng = np.random.default_rng(seed)
    n, m = 90, 50
    evidence = random_evidence(rng, n, m)
    history = rng.random((n, m)) < rng.uniform(0.0, 0.2, n)[:, None]
    # The three exclusions of the lists: the whole history, part of it, nothing.
    part = history & (rng.random((n, m)) < 0.5)
    popularity = rng.integers(0, 5, m).astype(np.float64)
    tie = 1e-6 * popularity
    prior = popularity / 4.0 if with_prior else None
    mass = rng.integers(0, 3, n).astype(np.float64) if with_prior else None
    scores = SparseScores(evidence, mass, prior)
    orders = fallback_orders(tie, prior)
    ranked = rank_evidence(scores, tie, history.sum(axis=1), k)
    # Both paths are exercised: rows the ranking decides and rows it leaves.
    assert 0 < ranked.resolved.sum() < n
    for excluded in (history, part, np.zeros((n, m), dtype=bool)):
        dense = scores.dense() + tie
        dense[excluded] = -np.inf
        want = plain_sorted_top(dense, k)
        got = sparse_top(scores, tie, sp.csr_matrix(excluded), k, orders, ranked=ranked)
        np.testing.assert_array_equal(got, want)
        positive = np.take_along_axis(scores.dense(), np.maximum(want, 0), axis=1) > 0
        only = sparse_top(
            scores, tie, sp.csr_matrix(excluded), k, orders, evidence_only=True, ranked=ranked
        )
        np.testing.assert_array_equal(only, np.where((want >= 0) & positive, want, -1))


def test_a_ranking_with_too_little_spare_is_not_used() -> None:
    # Ranked for no exclusion, the row's three best items then excluded: the ranking kept
    # only its top 2 (items 0 and 1), so it cannot say what comes after them.
    m, k = 10, 2
    evidence = sp.csr_matrix(np.arange(m, 0, -1.0)[None, :])
    tie = np.zeros(m)
    scores = SparseScores(evidence)
    ranked = rank_evidence(scores, tie, np.zeros(1, dtype=np.int64), k)
    assert ranked.resolved.all()
    excluded = sp.csr_matrix((np.ones(3), ([0, 0, 0], [0, 1, 2])), shape=(1, m))
    assert not ranked.serves(excluded, k)
    got = sparse_top(scores, tie, excluded, k, fallback_orders(tie, None), ranked=ranked)
    np.testing.assert_array_equal(got, [[3, 4]])


def test_evidence_not_marked_summed_has_its_duplicates_summed() -> None:
    # Item 1 holds 2 + 2 = 4 in two entries, above item 0's 3: the sum ranks, not a part.
    m, k = 5, 2
    evidence = sp.csr_matrix((np.array([3.0, 2.0, 2.0]), np.array([0, 1, 1]), [0, 3]), (1, m))
    tie = np.zeros(m)
    got = sparse_top(SparseScores(evidence.copy()), tie, sp.csr_matrix((1, m)), k, [np.arange(m)])
    np.testing.assert_array_equal(got, [[1, 0]])


def test_co_occurrence_evidence_marked_summed_holds_each_item_once() -> None:
    lines = purchase_lines(generate_tables(GeneratorConfig(seed=3, n_orders=800, n_products=60)))
    model = ItemCooccurrence().fit(lines)
    who = model.customers_[:200]
    scores = model._sparse_scores(model.history_rows(who), who)
    assert scores.summed
    assert scores.evidence.nnz > 0
    merged = scores.evidence.copy()
    merged.sum_duplicates()
    assert merged.nnz == scores.evidence.nnz
