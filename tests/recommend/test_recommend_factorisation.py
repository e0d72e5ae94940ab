"""The implicit-feedback ALS candidate learns customer tastes no co-purchase pair shows."""

from __future__ import annotations

import numpy as np
from _recommend_fixtures import snapshot_tables

from recompra.recommend.factorisation import ImplicitAls
from recompra.recommend.purchases import purchase_lines

KITCHEN = (1, 2, 3, 4, 5)
GARDEN = (6, 7, 8, 9, 10)


def _two_taste_store() -> tuple[np.ndarray, np.ndarray]:
    """40 kitchen and 40 garden customers, three single-item orders each, from their taste.

    Customer ``c`` buys items ``c, c+1, c+2`` (mod 5) of their group's five, one per order,
    so no two items ever share an order; garden items sell to more customers (the first
    ten garden customers buy two extra rounds) so popularity alone would offer garden.
    Returns the lines and the kitchen customers.
    """
    orders, lines = [], []
    oid = 0
    for c in range(80):
        group = KITCHEN if c < 40 else GARDEN
        rounds = 3 + (4 if 40 <= c < 50 else 0)
        for r in range(rounds):
            oid += 1
            item = group[(c + r) % 5]
            orders.append((oid, c + 1, "delivered", r))
            lines.append((oid, item, 1 if group is KITCHEN else 2, 1000))
    return purchase_lines(snapshot_tables(orders, lines)), np.arange(1, 41)


def test_als_offers_a_new_item_of_the_customers_own_taste() -> None:
    lines, kitchen = _two_taste_store()
    model = ImplicitAls("product", factors=2, iterations=20).fit(lines)
    # By construction each kitchen customer misses exactly two kitchen items; the best
    # two new items must be those, although every garden item has more buyers.
    top = model.top_k(kitchen, 2, exclude="all")
    for customer, row in zip(kitchen, top.tolist(), strict=True):
        c = customer - 1
        bought = {KITCHEN[(c + r) % 5] for r in range(3)}
        assert set(row) == set(KITCHEN) - bought, (customer, row)
    # A customer the model never saw gets the best sellers (garden first).
    unknown = model.top_k(np.array([999]), 5, exclude="none")[0]
    assert set(unknown.tolist()) == set(GARDEN)
