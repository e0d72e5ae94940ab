"""The blend's validation scoring against a per-customer computation written here; the
history-then-new list; the paired bootstrap of served minus a baseline."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from recompra.recommend.blend import HistoryThenNew, ValidationLists, cross_fitted_metrics
from recompra.recommend.metrics import Relevant, paired_difference
from recompra.recommend.popularity import Popularity
from recompra.recommend.replenishment import OwnHistory


def _random_lists(seed: int) -> tuple[dict[str, np.ndarray], Relevant, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_customers, n_items, depth = 60, 25, 6
    ranked = {}
    for name in ("popularity", "cooccurrence", "own_history"):
        rows = [rng.permutation(n_items)[:depth] for _ in range(n_customers)]
        positions = np.array(rows, dtype=np.int64)
        positions[rng.random(positions.shape) < 0.3] = -1  # members know fewer items
        ranked[name] = positions
    ids = np.arange(n_items, dtype=np.int64) * 10 + 3
    bought = pd.DataFrame(
        {
            "customer_id": rng.integers(0, n_customers, 90) + 1000,
            "item_id": ids[rng.integers(0, n_items, 90)],
        }
    )
    return ranked, Relevant.build(np.arange(n_customers) + 1000, bought), ids


def _by_hand(
    ranked: dict[str, np.ndarray],
    bought: dict[int, set[int]],
    ids: np.ndarray,
    weights: dict[str, float],
    k: int,
) -> tuple[float, float]:
    """Hit-rate and NDCG of the reciprocal-rank fusion, one customer at a time."""
    weights = {**weights, "popularity": max(weights.get("popularity", 0.0), 1e-6)}
    hits, ndcgs = [], []
    n = next(iter(ranked.values())).shape[0]
    for row in range(n):
        score: dict[int, float] = {}
        for name, positions in ranked.items():
            for rank, position in enumerate(positions[row], start=1):
                if position >= 0 and weights.get(name, 0.0) > 0:
                    score[position] = score.get(position, 0.0) + weights[name] / (5.0 + rank)
        top = sorted(score, key=lambda p: (-score[p], p))[:k]
        relevant = bought.get(row, set())
        gains = [1 / math.log2(i + 2) for i, p in enumerate(top) if int(ids[p]) in relevant]
        ideal = sum(1 / math.log2(i + 2) for i in range(min(len(relevant), k)))
        hits.append(bool(gains))
        ndcgs.append(sum(gains) / ideal if relevant else 0.0)
    return float(np.mean(hits)), float(np.mean(ndcgs))


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(
    "weights",
    [{"cooccurrence": 1.0}, {"popularity": 0.5, "cooccurrence": 2.0, "own_history": 0.1}],
)
def test_validation_lists_score_the_fusion_computed_by_hand(
    seed: int, weights: dict[str, float]
) -> None:
    ranked, relevant, ids = _random_lists(seed)
    bought: dict[int, set[int]] = {}
    for key in relevant.keys:
        bought.setdefault(int(key // relevant.stride), set()).add(int(key % relevant.stride))
    metrics = ValidationLists.build(ranked, relevant, ids).metrics(weights, k=4)
    hit_rate, ndcg = _by_hand(ranked, bought, ids, weights, k=4)
    assert metrics["hit_rate"] == pytest.approx(hit_rate)
    assert metrics["ndcg"] == pytest.approx(ndcg)


def test_stacked_windows_score_each_window_as_computed_by_hand() -> None:
    # Two validation windows (different lists, customers and purchases) pooled row-wise:
    # the pooled hit-rate is the customer-weighted mean of each window's own fusion.
    weights = {"popularity": 0.5, "cooccurrence": 2.0, "own_history": 0.1}
    parts, by_hand = [], []
    for seed in (5, 6):
        ranked, relevant, ids = _random_lists(seed)
        bought: dict[int, set[int]] = {}
        for key in relevant.keys:
            bought.setdefault(int(key // relevant.stride), set()).add(int(key % relevant.stride))
        parts.append(ValidationLists.build(ranked, relevant, ids))
        by_hand.append(_by_hand(ranked, bought, ids, weights, k=4))
    pooled = ValidationLists.stack(parts).metrics(weights, k=4)
    assert pooled["hit_rate"] == pytest.approx(np.mean([hit for hit, _ in by_hand]))
    assert pooled["ndcg"] == pytest.approx(np.mean([ndcg for _, ndcg in by_hand]))


def test_cross_fitted_blend_finds_the_member_that_knows_on_both_halves() -> None:
    ranked, relevant, ids = _random_lists(4)
    first = np.full(len(relevant.customers), -1, dtype=np.int64)
    position_of = {int(item): pos for pos, item in enumerate(ids)}
    for key in relevant.keys:  # the member lists one item each customer really bought
        first[key // relevant.stride] = position_of[int(key % relevant.stride)]
    knows = np.full_like(ranked["cooccurrence"], -1)
    knows[:, 0] = first
    metrics = cross_fitted_metrics({**ranked, "knows": knows}, relevant, ids, k=1)
    assert metrics["hit_rate"] == pytest.approx(float(np.mean(relevant.counts > 0)))


def test_paired_difference_interval_matches_the_normal_approximation() -> None:
    rng = np.random.default_rng(7)
    n = 4000
    first = rng.random(n) < 0.35
    second = np.where(rng.random(n) < 0.8, first, rng.random(n) < 0.3)
    diff = paired_difference(first, second)
    d = first.astype(float) - second.astype(float)
    assert diff.difference == pytest.approx(d.mean())
    # For a mean over 4,000 customers the bootstrap interval is close to mean +- 1.96 SE.
    half = 1.96 * d.std(ddof=1) / math.sqrt(n)
    assert diff.low == pytest.approx(d.mean() - half, abs=0.15 * half)
    assert diff.high == pytest.approx(d.mean() + half, abs=0.15 * half)
    same = paired_difference(first, first)
    assert (same.difference, same.low, same.high) == (0.0, 0.0, 0.0)


def test_history_then_new_pads_the_history_with_the_discovery_list() -> None:
    # Customer 1 bought item 5 twice and item 6 once; item 7 is the best seller.
    orders = pd.DataFrame(
        {
            "customer_id": [1, 1, 1, 2, 3, 4, 2, 3],
            "product_id": [5, 5, 6, 7, 7, 7, 8, 8],
            "day": [1, 3, 2, 1, 1, 1, 2, 2],
        }
    )
    lines = pd.DataFrame(
        {
            "order_id": np.arange(len(orders)) + 1,
            "customer_id": orders["customer_id"],
            "purchased_at": pd.Timestamp("2024-01-01", tz="UTC")
            + pd.to_timedelta(orders["day"], unit="D"),
            "product_id": orders["product_id"],
            "category_id": 1,
            "quantity": 1,
            "unit_price_minor": 1000,
        }
    )
    history = OwnHistory("product").fit(lines)
    discovery = Popularity("product").fit(lines)
    model = HistoryThenNew(history, discovery, level="product").fit(lines)
    # The history by times bought, then the best sellers the customer has not bought.
    assert model.top_k(np.array([1]), 4).tolist() == [[5, 6, 7, 8]]
    # Without history (an unknown customer): the discovery list alone.
    assert model.top_k(np.array([99]), 2).tolist() == [[7, 8]]
