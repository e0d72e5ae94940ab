"""The SQL definitions of the co-purchase statistics, run unchanged on DuckDB and Spark.

The statements only use what both dialects share (CTEs, ``COUNT``, ``CAST(... AS
DOUBLE)``, ``SQRT``, inner joins, ``UNION ALL``), so the two engines compute the very
same numbers from the same definition; the runners in
:mod:`recompra.recommend.cooccurrence` only register the input relations and fill the
``{placeholders}`` below with literals. On DuckDB the product counts the pairs of the
basket lines with :mod:`recompra.recommend.pairs` (same values, half the CPU); there
:data:`PAIRS_SQL` is the reference the tests compare it with.

Relations the statements expect
-------------------------------
``orders``
    ``order_id``, ``customer_id``, ``status`` (snapshot ``orders``).
``order_items``
    ``order_id``, ``product_id``, ``category_id`` (snapshot ``order_items``).
``baskets``
    ``basket_id``, ``item_id``: one row per distinct item of a basket (the output of
    :data:`BASKETS_SQL`).
``pairs``
    The output of :data:`PAIRS_SQL`.
"""

from __future__ import annotations

from typing import Literal

from recompra.snapshot.schema import NON_PURCHASE_STATUSES

#: What an "item" is: a product or a category (``order_items.category_id``).
Level = Literal["product", "category"]
#: What a "basket" is: one order, or the whole purchase history of one customer.
BasketKind = Literal["order", "customer"]

LEVEL_COLUMNS: dict[str, str] = {"product": "product_id", "category": "category_id"}
BASKET_COLUMNS: dict[str, str] = {"order": "o.order_id", "customer": "o.customer_id"}

#: (basket, item) rows of real purchases: canceled/unavailable orders excluded; distinct
#: unless ``{distinct}`` is empty (:func:`baskets_sql`).
#: Customer baskets need the customer of each order (an inner join with ``orders``).
BASKETS_SQL = """
SELECT {distinct}{basket_column} AS basket_id, i.{item_column} AS item_id
FROM order_items i
JOIN orders o ON o.order_id = i.order_id
WHERE o.status NOT IN ({excluded_statuses})
  AND i.{item_column} IS NOT NULL
  AND {basket_column} IS NOT NULL
"""

#: Order baskets only need to drop the lines of non-purchase orders: an anti-join with the
#: few canceled/unavailable orders is much cheaper than joining every order (the snapshot
#: guarantees that every line's order is in ``orders``). The subquery is uncorrelated on
#: purpose: a correlated ``NOT EXISTS`` made DuckDB group every line's order id first (a
#: "delim join" over all 10M orders at benchmark scale), while ``NOT IN`` probes one small
#: hash table of excluded ids. ``o.order_id IS NOT NULL`` keeps ``NOT IN``'s NULL rule (one
#: NULL in the list would reject every line) from ever applying.
ORDER_BASKETS_SQL = """
SELECT {distinct}i.order_id AS basket_id, i.{item_column} AS item_id
FROM order_items i
WHERE i.{item_column} IS NOT NULL
  AND i.order_id IS NOT NULL
  AND i.order_id NOT IN (
      SELECT o.order_id FROM orders o
      WHERE o.status IN ({excluded_statuses}) AND o.order_id IS NOT NULL
  )
"""

#: Undirected item pairs (``item_a < item_b``) seen together in at least
#: ``{min_pair_count}`` baskets, with support, confidence in both directions, lift and
#: cosine. ``n_baskets`` counts every basket, single-item ones included, so that support
#: and lift are relative to all purchases, not only to multi-item ones. The self-join
#: reads every basket row: a single-item basket has no ``x.item_id < y.item_id`` partner,
#: so it yields no pair anyway, and pre-filtering the multi-item baskets (a join with
#: the per-basket sizes, kept in a CTE read twice) cost more at 10M orders (12.6 s of CPU)
#: than the larger self-join it saved (9.6 s without it; docs/recommend.md).
PAIRS_SQL = """
WITH baskets_seen AS (
    SELECT basket_id FROM baskets GROUP BY basket_id
),
totals AS (
    SELECT COUNT(*) AS n_baskets FROM baskets_seen
),
item_counts AS (
    SELECT item_id, COUNT(*) AS n_item
    FROM baskets
    GROUP BY item_id
),
pair_counts AS (
    SELECT x.item_id AS item_a, y.item_id AS item_b, COUNT(*) AS n_ab
    FROM baskets x
    JOIN baskets y ON x.basket_id = y.basket_id AND x.item_id < y.item_id
    GROUP BY x.item_id, y.item_id
    HAVING COUNT(*) >= {min_pair_count}
)
SELECT
    p.item_a,
    p.item_b,
    p.n_ab,
    ca.n_item AS n_a,
    cb.n_item AS n_b,
    t.n_baskets,
    CAST(p.n_ab AS DOUBLE) / t.n_baskets AS support,
    CAST(p.n_ab AS DOUBLE) / ca.n_item AS confidence_ab,
    CAST(p.n_ab AS DOUBLE) / cb.n_item AS confidence_ba,
    (CAST(p.n_ab AS DOUBLE) * t.n_baskets) / (CAST(ca.n_item AS DOUBLE) * cb.n_item) AS lift,
    CAST(p.n_ab AS DOUBLE) / SQRT(CAST(ca.n_item AS DOUBLE) * cb.n_item) AS cosine
FROM pair_counts p
JOIN item_counts ca ON ca.item_id = p.item_a
JOIN item_counts cb ON cb.item_id = p.item_b
CROSS JOIN totals t
"""

#: Directed association rules ``antecedent -> consequent`` from the undirected pairs,
#: kept when support >= ``{min_support}`` and confidence >= ``{min_confidence}``.
RULES_SQL = """
WITH directed AS (
    SELECT item_a AS antecedent, item_b AS consequent, n_ab, n_a AS n_antecedent,
           n_b AS n_consequent, n_baskets, support, confidence_ab AS confidence,
           confidence_ba AS reverse_confidence, lift, cosine
    FROM pairs
    UNION ALL
    SELECT item_b AS antecedent, item_a AS consequent, n_ab, n_b AS n_antecedent,
           n_a AS n_consequent, n_baskets, support, confidence_ba AS confidence,
           confidence_ab AS reverse_confidence, lift, cosine
    FROM pairs
)
SELECT *
FROM directed
WHERE support >= {min_support} AND confidence >= {min_confidence}
"""

PAIR_COLUMNS = (
    "item_a",
    "item_b",
    "n_ab",
    "n_a",
    "n_b",
    "n_baskets",
    "support",
    "confidence_ab",
    "confidence_ba",
    "lift",
    "cosine",
)
RULE_COLUMNS = (
    "antecedent",
    "consequent",
    "n_ab",
    "n_antecedent",
    "n_consequent",
    "n_baskets",
    "support",
    "confidence",
    "reverse_confidence",
    "lift",
    "cosine",
)


def baskets_sql(level: Level, basket: BasketKind = "order", *, distinct: bool = True) -> str:
    """Return :data:`BASKETS_SQL` for an item level and a basket kind.

    Parameters
    ----------
    level
        ``"product"`` or ``"category"``.
    basket
        ``"order"`` (items bought in the same order) or ``"customer"`` (items bought by
        the same customer, across orders).
    distinct
        ``False`` keeps a basket's repeated items (one row per line): for
        :func:`recompra.recommend.pairs.count_pairs`, which drops them while it sorts.

    Returns
    -------
    str
        The statement, ready for either engine.
    """
    if level not in LEVEL_COLUMNS:
        raise ValueError(f"unknown level {level!r}; expected one of {sorted(LEVEL_COLUMNS)}")
    if basket not in BASKET_COLUMNS:
        raise ValueError(f"unknown basket {basket!r}; expected one of {sorted(BASKET_COLUMNS)}")
    excluded = ", ".join(f"'{s}'" for s in NON_PURCHASE_STATUSES)
    keyword = "DISTINCT " if distinct else ""
    if basket == "order":
        return ORDER_BASKETS_SQL.format(
            distinct=keyword, item_column=LEVEL_COLUMNS[level], excluded_statuses=excluded
        )
    return BASKETS_SQL.format(
        distinct=keyword,
        basket_column=BASKET_COLUMNS[basket],
        item_column=LEVEL_COLUMNS[level],
        excluded_statuses=excluded,
    )


def pairs_sql(min_pair_count: int = 1) -> str:
    """Return :data:`PAIRS_SQL` keeping pairs seen in at least ``min_pair_count`` baskets."""
    if min_pair_count < 1:
        raise ValueError("min_pair_count must be >= 1")
    return PAIRS_SQL.format(min_pair_count=int(min_pair_count))


def rules_sql(min_support: float = 0.0, min_confidence: float = 0.0) -> str:
    """Return :data:`RULES_SQL` with the support and confidence thresholds as literals."""
    check_rule_thresholds(min_support, min_confidence)
    return RULES_SQL.format(
        min_support=repr(float(min_support)), min_confidence=repr(float(min_confidence))
    )


def check_rule_thresholds(min_support: float, min_confidence: float) -> None:
    """Raise ``ValueError`` unless both rule thresholds lie in [0, 1]."""
    if not (0.0 <= min_support <= 1.0 and 0.0 <= min_confidence <= 1.0):
        raise ValueError("min_support and min_confidence must lie in [0, 1]")
