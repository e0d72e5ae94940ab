"""Co-purchase statistics on the hand-made store (values worked out by hand below).

Purchase baskets (order 5 is canceled, order 7 holds A twice):
{A,B} {A,C} {A,B,C} {B} {C,D} {A} -> N = 6 orders,
n_A = 4, n_B = 3, n_C = 3, n_D = 1; n_AB = 2, n_AC = 2, n_BC = 1, n_CD = 1.
"""

from __future__ import annotations

import math
from collections import Counter
from itertools import combinations

import numpy as np
import pyarrow as pa
import pytest
from _recommend_fixtures import CAT_AB, CAT_CD, A, B, C, D, hand_store_tables, snapshot_tables

from recompra.engines.registry import open_engine
from recompra.recommend.cooccurrence import (
    RULES_SCHEMA,
    CoPurchaseSpec,
    cooccurrence,
    cooccurrence_pandas,
    copurchase_views,
    register_sources,
    rules_from_pairs,
    tables_equal,
)
from recompra.recommend.matrices import build_item_index, cooccurrence_matrix
from recompra.recommend.purchases import purchase_lines
from recompra.recommend.sql import BasketKind, Level, pairs_sql, rules_sql


@pytest.fixture
def hand_store() -> dict[str, pa.Table]:
    """The hand-made store of ``_recommend_fixtures.hand_store_tables``."""
    return hand_store_tables()


def _pairs(
    tables: dict[str, pa.Table], spec: CoPurchaseSpec = CoPurchaseSpec()
) -> dict[tuple[int, int], dict[str, float]]:
    result = cooccurrence(tables, spec)
    return {(r["item_a"], r["item_b"]): r for r in result.pairs.to_pylist()}


def test_order_level_pairs_exact(hand_store: dict[str, pa.Table]) -> None:
    pairs = _pairs(hand_store)
    assert set(pairs) == {(A, B), (A, C), (B, C), (C, D)}
    ab = pairs[(A, B)]
    assert (ab["n_ab"], ab["n_a"], ab["n_b"], ab["n_baskets"]) == (2, 4, 3, 6)
    assert ab["support"] == pytest.approx(2 / 6)
    assert ab["confidence_ab"] == pytest.approx(2 / 4)
    assert ab["confidence_ba"] == pytest.approx(2 / 3)
    assert ab["lift"] == pytest.approx(2 * 6 / (4 * 3))
    assert ab["cosine"] == pytest.approx(2 / math.sqrt(12))
    bc = pairs[(B, C)]
    assert bc["support"] == pytest.approx(1 / 6)
    assert bc["confidence_ab"] == pytest.approx(1 / 3)
    assert bc["confidence_ba"] == pytest.approx(1 / 3)
    assert bc["lift"] == pytest.approx(6 / 9)
    assert bc["cosine"] == pytest.approx(1 / 3)
    cd = pairs[(C, D)]
    assert cd["confidence_ab"] == pytest.approx(1 / 3)
    assert cd["confidence_ba"] == pytest.approx(1.0)
    assert cd["lift"] == pytest.approx(2.0)
    assert cd["cosine"] == pytest.approx(1 / math.sqrt(3))


def test_rules_thresholds(hand_store: dict[str, pa.Table]) -> None:
    result = cooccurrence(hand_store, CoPurchaseSpec(min_support=0.2, min_confidence=0.5))
    rules = {(r["antecedent"], r["consequent"]): r for r in result.rules.to_pylist()}
    # Only A-B and A-C have support 1/3 >= 0.2; all four directions have confidence >= 0.5.
    assert set(rules) == {(A, B), (B, A), (A, C), (C, A)}
    assert rules[(B, A)]["confidence"] == pytest.approx(2 / 3)
    assert rules[(B, A)]["reverse_confidence"] == pytest.approx(1 / 2)
    assert rules[(B, A)]["n_antecedent"] == 3
    strict = cooccurrence(hand_store, CoPurchaseSpec(min_support=0.2, min_confidence=0.6))
    assert {(r["antecedent"], r["consequent"]) for r in strict.rules.to_pylist()} == {
        (B, A),
        (C, A),
    }


def test_min_pair_count(hand_store: dict[str, pa.Table]) -> None:
    assert set(_pairs(hand_store, CoPurchaseSpec(min_pair_count=2))) == {(A, B), (A, C)}


def test_customer_level(hand_store: dict[str, pa.Table]) -> None:
    # Customers: 1 {A,B,C}, 2 {A,B,C}, 3 {B} (order 5 canceled), 4 {C,D}: N = 4.
    pairs = _pairs(hand_store, CoPurchaseSpec(basket="customer"))
    bc = pairs[(B, C)]
    assert (bc["n_ab"], bc["n_a"], bc["n_b"], bc["n_baskets"]) == (2, 3, 3, 4)
    assert bc["lift"] == pytest.approx(8 / 9)
    assert pairs[(C, D)]["lift"] == pytest.approx(4 / 3)
    assert pairs[(A, B)]["confidence_ab"] == pytest.approx(1.0)


def test_category_level(hand_store: dict[str, pa.Table]) -> None:
    # Order baskets of categories: {10} {10,20} {10,20} {10} {20} {10}: n10 = 5, n20 = 3.
    pairs = _pairs(hand_store, CoPurchaseSpec(level="category"))
    assert set(pairs) == {(CAT_AB, CAT_CD)}
    p = pairs[(CAT_AB, CAT_CD)]
    assert (p["n_ab"], p["n_a"], p["n_b"], p["n_baskets"]) == (2, 5, 3, 6)
    assert p["confidence_ab"] == pytest.approx(2 / 5)
    assert p["lift"] == pytest.approx(12 / 15)
    assert p["cosine"] == pytest.approx(2 / math.sqrt(15))


def test_pandas_reference_matches_duckdb(hand_store: dict[str, pa.Table]) -> None:
    orders = hand_store["orders"].to_pandas()
    items = hand_store["order_items"].to_pandas()
    levels: tuple[Level, ...] = ("product", "category")
    baskets: tuple[BasketKind, ...] = ("order", "customer")
    for level in levels:
        for basket in baskets:
            spec = CoPurchaseSpec(level=level, basket=basket)
            duck = cooccurrence(hand_store, spec)
            pand = cooccurrence_pandas(orders, items, spec)
            assert tables_equal(duck.pairs, pand.pairs)
            assert tables_equal(duck.rules, pand.rules)


def test_sparse_matrix_agrees_with_sql(hand_store: dict[str, pa.Table]) -> None:
    lines = purchase_lines(hand_store)
    index = build_item_index(lines, "product")
    cooc = cooccurrence_matrix(lines, index, "product", "order")
    pairs = _pairs(hand_store)
    assert cooc.n_baskets == 6
    assert cooc.item_counts.tolist() == [4, 3, 3, 1]
    for (a, b), row in pairs.items():
        i, j = index.positions(np.array([a, b]))
        assert cooc.counts[i, j] == row["n_ab"]
        assert cooc.cosine[i, j] == pytest.approx(row["cosine"])
        assert cooc.lift(i, j) == pytest.approx(row["lift"])


def test_sql_rejects_bad_thresholds() -> None:
    with pytest.raises(ValueError, match="min_pair_count"):
        pairs_sql(0)
    with pytest.raises(ValueError, match="min_support"):
        rules_sql(min_support=1.5)


def _random_store(seed: int = 3) -> dict[str, pa.Table]:
    """400 random orders over 30 products, some canceled or unavailable, some lines repeated."""
    rng = np.random.default_rng(seed)
    statuses = rng.choice(["delivered", "canceled", "unavailable"], 400, p=[0.8, 0.1, 0.1])
    orders = [(o, int(o % 97), str(s), 0) for o, s in enumerate(statuses, start=1)]
    lines = [
        (o, product, product % 3, 100)
        for o, _, _, _ in orders
        for product in rng.integers(1, 31, rng.integers(1, 6)).tolist()
    ]
    return snapshot_tables(orders, lines)


def test_random_baskets_match_an_independent_count() -> None:
    # Counted here with sets and itertools, apart from both the SQL and the pandas code.
    tables = _random_store()
    dropped = {
        o
        for o, s in zip(
            tables["orders"]["order_id"].to_pylist(),
            tables["orders"]["status"].to_pylist(),
            strict=True,
        )
        if s in ("canceled", "unavailable")
    }
    baskets: dict[int, set[int]] = {}
    for o, p in zip(
        tables["order_items"]["order_id"].to_pylist(),
        tables["order_items"]["product_id"].to_pylist(),
        strict=True,
    ):
        if o not in dropped:
            baskets.setdefault(o, set()).add(p)
    n_pair = Counter(pair for items in baskets.values() for pair in combinations(sorted(items), 2))
    n_item = Counter(p for items in baskets.values() for p in items)

    result = cooccurrence(tables)
    got = {(r["item_a"], r["item_b"]): r for r in result.pairs.to_pylist()}
    assert {k: r["n_ab"] for k, r in got.items()} == dict(n_pair)
    assert all(r["n_baskets"] == len(baskets) for r in got.values())
    assert all((r["n_a"], r["n_b"]) == (n_item[a], n_item[b]) for (a, b), r in got.items())
    rules = {(r["antecedent"], r["consequent"]): r for r in result.rules.to_pylist()}
    assert set(rules) == set(n_pair) | {(b, a) for a, b in n_pair}
    for (a, b), rule in rules.items():
        assert rule["n_ab"] == n_pair[(min(a, b), max(a, b))]
        assert rule["confidence"] == pytest.approx(rule["n_ab"] / n_item[a])
        assert rule["reverse_confidence"] == pytest.approx(rule["n_ab"] / n_item[b])


def test_rules_from_pairs_equal_the_rules_sql() -> None:
    # The Parquet writers at scale run RULES_SQL on the engine; the collected path derives
    # the rules from the pairs in Arrow: both must give the same rows.
    tables = _random_store(seed=5)
    sizes = []
    for min_support, min_confidence in ((0.0, 0.0), (0.01, 0.1)):
        with open_engine("duckdb") as engine:
            register_sources(engine, tables)
            copurchase_views(engine)
            pairs = engine.query("SELECT * FROM pairs")
            by_sql = engine.query(rules_sql(min_support, min_confidence)).cast(RULES_SCHEMA)
        derived = rules_from_pairs(pairs, min_support, min_confidence)
        assert tables_equal(derived, by_sql)
        sizes.append(derived.num_rows)
    assert sizes[0] > sizes[1] > 0  # the thresholds did drop some rules, not all
