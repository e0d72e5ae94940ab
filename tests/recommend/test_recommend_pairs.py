"""The sorted-key pair counts (DuckDB's path) equal the pairs statement row by row.

The pairs statement of ``recommend/sql.py`` (still Spark's path) is the independent
computation: on DuckDB, :func:`copurchase_sql_on` runs it and :func:`copurchase_on`
counts with :mod:`recompra.recommend.pairs`; every column, floats included, must be
the same value (the measures are the same IEEE operations), so tables are compared
exactly, not to a tolerance.
"""

from __future__ import annotations

from collections import Counter
from itertools import combinations, product

import numpy as np
import pyarrow as pa
import pytest
from _recommend_fixtures import snapshot_tables

from recompra.engines.registry import open_engine
from recompra.generate import GeneratorConfig, generate_tables
from recompra.recommend.cooccurrence import (
    CoPurchase,
    CoPurchaseSpec,
    copurchase_on,
    copurchase_sql_on,
    register_sources,
)
from recompra.recommend.pairs import count_pairs
from recompra.recommend.sql import BasketKind, Level

POSTAGE = 99  # a non-merchandise line: an item like any other to the counts
LEVELS: tuple[Level, ...] = ("product", "category")
BASKETS: tuple[BasketKind, ...] = ("order", "customer")


def _sorted(table: pa.Table) -> pa.Table:
    return table.sort_by([(name, "ascending") for name in table.column_names[:2]])


def _both(tables: dict[str, pa.Table], spec: CoPurchaseSpec) -> tuple[CoPurchase, CoPurchase]:
    results = []
    for run in (copurchase_on, copurchase_sql_on):
        with open_engine("duckdb") as engine:
            register_sources(engine, tables)
            results.append(run(engine, spec))
    return results[0], results[1]


def _assert_identical(tables: dict[str, pa.Table], spec: CoPurchaseSpec) -> CoPurchase:
    counted, by_sql = _both(tables, spec)
    assert counted.pairs.schema == by_sql.pairs.schema
    assert _sorted(counted.pairs).equals(_sorted(by_sql.pairs))
    assert _sorted(counted.rules).equals(_sorted(by_sql.rules))
    return counted


def _hand_tables() -> dict[str, pa.Table]:
    """Orders (customer, status): lines as (product, category); category None is unknown.

    1 (c1): A A B (A twice in one basket) + postage    4 (c2): C alone (single item)
    2 (c1): A B                                         5 (c3): B C, canceled (excluded)
    3 (c2): B C + postage, C's category unknown         6 (c3): D alone, unavailable
    """
    customers = {1: 1, 2: 1, 3: 2, 4: 2, 5: 3, 6: 3}
    statuses = {3: "shipped", 5: "canceled", 6: "unavailable"}
    orders = [(o, c, statuses.get(o, "delivered"), o) for o, c in customers.items()]
    lines = [
        (1, 1, 10, 100),
        (1, 1, 10, 100),
        (1, 2, 10, 200),
        (1, POSTAGE, 90, 10),
        (2, 1, 10, 100),
        (2, 2, 10, 200),
        (3, 2, 10, 200),
        (3, 3, -1, 300),
        (3, POSTAGE, 90, 10),
        (4, 3, 20, 300),
        (5, 2, 10, 200),
        (5, 3, 20, 300),
        (6, 4, 20, 400),
    ]
    tables = snapshot_tables(orders, lines)
    items = tables["order_items"]
    category = items.column("category_id").to_pylist()
    unknown = pa.array(
        [None if c == -1 else c for c in category], items.schema.field("category_id").type
    )
    index = items.schema.get_field_index("category_id")
    tables["order_items"] = items.set_column(index, items.schema.field(index), unknown)
    return tables


def test_hand_store_identical_to_the_statement() -> None:
    tables = _hand_tables()
    for level, basket in product(LEVELS, BASKETS):
        _assert_identical(tables, CoPurchaseSpec(level=level, basket=basket))
    counted = _assert_identical(tables, CoPurchaseSpec())
    # Worked by hand: baskets {A,B,P} {A,B} {B,C,P} {C}; order 5 (B,C) canceled and
    # order 6 unavailable count nowhere.
    got = {
        (r["item_a"], r["item_b"]): (r["n_ab"], r["n_a"], r["n_b"], r["n_baskets"])
        for r in counted.pairs.to_pylist()
    }
    assert got == {
        (1, 2): (2, 2, 3, 4),
        (1, POSTAGE): (1, 2, 2, 4),
        (2, POSTAGE): (2, 3, 2, 4),
        (2, 3): (1, 3, 2, 4),
        (3, POSTAGE): (1, 2, 2, 4),
    }


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("basket", BASKETS)
def test_generated_store_identical_to_the_statement(level: Level, basket: BasketKind) -> None:
    tables = generate_tables(GeneratorConfig(seed=5, n_orders=3_000, n_products=300))
    for spec in (
        CoPurchaseSpec(level=level, basket=basket),
        CoPurchaseSpec(
            level=level, basket=basket, min_pair_count=2, min_support=0.001, min_confidence=0.05
        ),
    ):
        counted = _assert_identical(tables, spec)
        assert counted.pairs.num_rows > 0


def _reference(
    baskets: np.ndarray, items: np.ndarray
) -> tuple[Counter[tuple[int, int]], Counter[int], int]:
    """Pair and item counts with sets and itertools, apart from both implementations."""
    sets: dict[int, set[int]] = {}
    for b, i in zip(baskets.tolist(), items.tolist(), strict=True):
        sets.setdefault(b, set()).add(i)
    pairs = Counter(p for s in sets.values() for p in combinations(sorted(s), 2))
    singles = Counter(i for s in sets.values() for i in s)
    return pairs, singles, len(sets)


@pytest.mark.parametrize(
    ("basket_scale", "item_scale", "buffer"),
    [
        (1, 1, 1 << 25),  # dense ids: used as codes
        (10**15, 10**12, 1 << 25),  # sparse ids: ranked first, keys still fit 62 bits
        (-1, -7, 5),  # negative ids, pair keys reduced in many small chunks
    ],
)
def test_count_pairs_against_a_set_count(basket_scale: int, item_scale: int, buffer: int) -> None:
    rng = np.random.default_rng(11)
    sizes = rng.integers(1, 12, 300)  # up to 11 lines, repeats included
    baskets = np.repeat(np.arange(300), sizes) * basket_scale
    items = rng.integers(0, 40, int(sizes.sum())) * item_scale
    shuffle = rng.permutation(len(items))
    baskets, items = baskets[shuffle], items[shuffle]
    pairs, singles, n_baskets = _reference(baskets, items)
    for min_pair_count in (1, 3):
        counts = count_pairs(baskets, items, min_pair_count, buffer=buffer)
        got = {
            (a, b): (n, na, nb)
            for a, b, n, na, nb in zip(
                counts.item_a.tolist(),
                counts.item_b.tolist(),
                counts.n_ab.tolist(),
                counts.n_a.tolist(),
                counts.n_b.tolist(),
                strict=True,
            )
        }
        want = {
            (a, b): (n, singles[a], singles[b])
            for (a, b), n in pairs.items()
            if n >= min_pair_count
        }
        assert got == want
        assert counts.n_baskets == n_baskets


def test_count_pairs_edge_cases() -> None:
    empty = count_pairs(np.array([], dtype=np.int64), np.array([], dtype=np.int64))
    assert (len(empty.item_a), empty.n_baskets) == (0, 0)
    alone = count_pairs(np.array([1, 1, 2]), np.array([5, 5, 6]))
    assert (len(alone.item_a), alone.n_baskets) == (0, 2)  # single-item baskets only
    with pytest.raises(ValueError, match="min_pair_count"):
        count_pairs(np.array([1]), np.array([1]), 0)


def test_store_without_purchases_gives_empty_tables() -> None:
    tables = snapshot_tables([(1, 1, "canceled", 0)], [(1, 2, 3, 100), (1, 4, 3, 100)])
    for basket in BASKETS:
        counted = _assert_identical(tables, CoPurchaseSpec(basket=basket))
        assert (counted.pairs.num_rows, counted.rules.num_rows) == (0, 0)
