"""Popularity conditioned on the customer's categories (``category_popularity``)."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pandas as pd
import pytest

from recompra.recommend.category_popularity import CategoryPopularity
from recompra.recommend.selection import MEMBERS, candidates, members

# (customer, product, category): products 1-3 in category 10, 4-6 in category 20,
# 7 in category 30. Product 7 is the overall best seller.
_BOUGHT = [
    (1, 1, 10),
    (1, 4, 20),
    (1, 5, 20),
    (2, 2, 10),
    (2, 2, 10),
    (3, 2, 10),
    (4, 6, 20),
    (5, 6, 20),
    (6, 6, 20),
    (2, 7, 30),
    (3, 7, 30),
    (4, 7, 30),
    (5, 7, 30),
    (6, 7, 30),
    (7, 3, 10),
]


def _lines() -> pd.DataFrame:
    frame = pd.DataFrame(_BOUGHT, columns=["customer_id", "product_id", "category_id"])
    return frame.assign(
        order_id=np.arange(len(frame)) + 1,
        purchased_at=pd.Timestamp("2024-01-01", tz="UTC")
        + pd.to_timedelta(np.arange(len(frame)), unit="D"),
        quantity=1,
        unit_price_minor=1000,
    )


def _by_hand(customer: int) -> dict[int, float]:
    """P(c(j) | u) * P(j | c(j)) from the purchase list, in plain Python."""
    buyers: dict[int, set[int]] = defaultdict(set)
    category: dict[int, int] = {}
    for who, product, cat in _BOUGHT:
        buyers[product].add(who)
        category[product] = cat
    category_buyers = Counter[int]()
    for product, who in buyers.items():
        category_buyers[category[product]] += len(who)
    mine = {product for who, product, _ in _BOUGHT if who == customer}
    share = Counter(category[p] for p in mine)
    return {
        product: share[category[product]]
        / len(mine)
        * len(who)
        / category_buyers[category[product]]
        for product, who in buyers.items()
    }


def test_scores_are_the_category_mixture_computed_by_hand() -> None:
    model = CategoryPopularity("product").fit(_lines())
    for customer in (1, 2, 7):
        expected = _by_hand(customer)
        rows = model.history_rows(np.array([customer]))
        scores = model._scores(rows, np.array([customer]))[0]
        got = dict(zip(model.index_.ids.tolist(), scores.tolist(), strict=True))
        assert got == pytest.approx({p: expected[p] for p in got}, rel=1e-12)
    # Customer 1: two thirds of their products in category 20, one third in 10. Product 6
    # (3 of category 20's 5 buyers: 2/3 * 3/5) leads, then product 2 (2 of category 10's
    # 4 buyers: 1/3 * 2/4), then 4 and 5 (2/3 * 1/5), then 1 and 3 (1/3 * 1/4); the best
    # seller 7, of a category they never bought, comes only after them as padding.
    ranked = model.top_k(np.array([1]), 7, exclude="none")[0].tolist()
    assert ranked[:2] == [6, 2]
    assert set(ranked[2:4]) == {4, 5}
    assert set(ranked[4:6]) == {1, 3}
    assert ranked[6] == 7
    # New items only: the history is excluded, category 20's best seller still first.
    assert model.top_k(np.array([1]), 2, exclude="all")[0].tolist() == [6, 2]
    # Evidence only: nothing outside the customer's categories.
    _, positions = model._top_k_positions(np.array([1]), 7, "none", evidence_only=True)
    assert model.index_.ids[positions[0][positions[0] >= 0]].tolist() == ranked[:6]


def test_a_customer_without_history_gets_the_best_sellers() -> None:
    model = CategoryPopularity("product").fit(_lines())
    assert model.top_k(np.array([99]), 2)[0].tolist() == [7, 6]


def test_it_is_a_product_level_candidate_only() -> None:
    assert "category_popularity" in candidates("product")
    assert "category_popularity" not in candidates("category")
    assert "category_popularity" in MEMBERS["new"]
    assert "category_popularity" not in members("new", candidates("category"))
    assert members("any", candidates("category")) == tuple(
        name for name in MEMBERS["any"] if name != "category_popularity"
    )
