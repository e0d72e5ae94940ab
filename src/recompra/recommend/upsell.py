"""Upsell: a pricier or better-rated item of the same category, within a price band.

Quality comes from the reviews (``reviews.score`` of the orders that contained the
product) and from sales (distinct orders). The average score is shrunk towards the
store's mean with ``prior_weight`` pseudo-reviews, so that one 5-star review does not beat
two hundred 4.6-star ones.

A candidate ``c`` is an upsell of the anchor ``a`` when

* both are in the same category,
* ``price_band[0] * price(a) <= price(c) <= price_band[1] * price(a)``,
* ``c`` is not rated worse: ``rating(c) >= rating(a) + min_rating_gain``,
* ``c`` sold in at least ``min_orders`` orders.

Candidates are ranked by ``rating + 0.5 * log10(1 + orders)`` (quality first, then proof
of demand).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from recompra.engines.registry import open_engine

STATS_COLUMNS = (
    "product_id",
    "category_id",
    "price_minor",
    "n_orders",
    "n_customers",
    "n_reviews",
    "avg_score",
    "rating",
)
UPSELL_COLUMNS = (
    "anchor",
    "rank",
    "candidate",
    "price_ratio",
    "rating",
    "n_reviews",
    "n_orders",
    "score",
)


def product_stats(
    lines: pd.DataFrame,
    reviews: pd.DataFrame | None = None,
    products: pd.DataFrame | None = None,
    *,
    prior_weight: float = 5.0,
) -> pd.DataFrame:
    """Return price, sales and review quality per product.

    Parameters
    ----------
    lines
        Purchase lines (:func:`recompra.recommend.purchases.purchase_lines`).
    reviews
        Snapshot ``reviews`` columns ``order_id, score`` (optional). Each review counts for
        every product of its order.
    products
        Catalogue indexed by ``product_id`` with ``list_price_minor`` and ``category_id``
        (optional). The list price wins; products without one use the median price paid.
    prior_weight
        Pseudo-reviews at the store's mean score used to shrink ``avg_score`` into
        ``rating``.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`STATS_COLUMNS`, one row per product sold in ``lines``.
    """
    grouped = lines.groupby("product_id")
    stats = pd.DataFrame(
        {
            "category_id": grouped["category_id"].first(),
            "paid_minor": grouped["unit_price_minor"].median(),
            "n_orders": grouped["order_id"].nunique(),
            "n_customers": grouped["customer_id"].nunique(),
        }
    )
    price = stats["paid_minor"]
    if products is not None and len(products):
        listed = products["list_price_minor"].reindex(stats.index)
        price = listed.where(listed.notna() & (listed > 0), price)
        category = products["category_id"].reindex(stats.index)
        stats["category_id"] = category.where(category.notna(), stats["category_id"])
    stats["price_minor"] = price.fillna(0).round().astype("int64")
    stats["category_id"] = stats["category_id"].fillna(-1).astype("int64")
    if reviews is not None and len(reviews):
        scored = lines[["order_id", "product_id"]].drop_duplicates()
        scored = scored.merge(reviews[["order_id", "score"]], on="order_id", how="inner")
        by_product = scored.groupby("product_id")["score"].agg(["count", "sum"])
        n_reviews = by_product["count"].reindex(stats.index).fillna(0)
        total = by_product["sum"].reindex(stats.index).fillna(0.0)
        mean_score = float(scored["score"].mean())
    else:
        n_reviews = pd.Series(0.0, index=stats.index)
        total = pd.Series(0.0, index=stats.index)
        mean_score = 0.0
    stats["n_reviews"] = n_reviews.astype("int64")
    with np.errstate(invalid="ignore", divide="ignore"):
        stats["avg_score"] = (total / n_reviews).where(n_reviews > 0, np.nan)
    stats["rating"] = (total + prior_weight * mean_score) / (n_reviews + prior_weight)
    out = stats.reset_index()
    return out[list(STATS_COLUMNS)].astype(
        {"product_id": "int64", "n_orders": "int64", "n_customers": "int64"}
    )


_UPSELL_SQL = """
SELECT a.product_id AS anchor, c.product_id AS candidate,
       CAST(c.price_minor AS DOUBLE) / a.price_minor AS price_ratio,
       c.rating, c.n_reviews, c.n_orders,
       c.rating + 0.5 * LOG10(1 + c.n_orders) AS score
FROM stats a
JOIN stats c
  ON c.category_id = a.category_id
 AND c.product_id <> a.product_id
 AND c.price_minor >= {low} * a.price_minor
 AND c.price_minor <= {high} * a.price_minor
WHERE a.price_minor > 0
  AND c.n_orders >= {min_orders}
  AND c.rating >= a.rating + {min_gain}
QUALIFY ROW_NUMBER() OVER (PARTITION BY a.product_id ORDER BY score DESC, c.product_id) <= {k}
"""


def upsell_candidates(
    stats: pd.DataFrame,
    *,
    price_band: tuple[float, float] = (1.1, 2.0),
    min_orders: int = 3,
    min_rating_gain: float = 0.0,
    k: int = 10,
) -> pd.DataFrame:
    """Return the top-``k`` upsell candidates of every product (see the module docstring).

    Parameters
    ----------
    stats
        Output of :func:`product_stats`.
    price_band
        ``(low, high)`` multiples of the anchor's price, e.g. ``(1.1, 2.0)``.
    min_orders
        Minimum orders of a candidate.
    min_rating_gain
        How much better-rated than the anchor a candidate must be (0: not worse).
    k
        Candidates kept per anchor.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`UPSELL_COLUMNS` sorted by ``anchor, rank``.
    """
    low, high = (float(price_band[0]), float(price_band[1]))
    if not 0 < low <= high:
        raise ValueError(f"price_band must satisfy 0 < low <= high, got {price_band}")
    rated = stats.assign(rating=stats["rating"].fillna(0.0))
    query = _UPSELL_SQL.format(
        low=repr(low),
        high=repr(high),
        min_orders=int(min_orders),
        min_gain=repr(float(min_rating_gain)),
        k=int(k),
    )
    with open_engine("duckdb") as engine:
        engine.register_tables({"stats": pa.Table.from_pandas(rated, preserve_index=False)})
        result = engine.query(query).to_pandas()
    result = result.sort_values(["anchor", "score", "candidate"], ascending=[True, False, True])
    result["rank"] = result.groupby("anchor").cumcount() + 1
    result = result.astype({"anchor": "int64", "candidate": "int64", "rank": "int64"})
    out: pd.DataFrame = result[list(UPSELL_COLUMNS)].reset_index(drop=True)
    return out
