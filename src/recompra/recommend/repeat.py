"""Detect repeat-purchase categories (consumables) from the purchase history.

Next-best-offer does not offer what a customer already bought, except in categories where
people buy the same thing again (coffee, cosmetics, pet food). Which categories those are
is read from the data, not configured:

For each category ``c``, the *eligible* customers are those who bought in ``c`` and placed
at least two purchase orders in total (a one-order customer cannot show repetition).

* ``product_repeat_rate``: share of eligible customers who bought the *same product* of
  ``c`` in two or more distinct orders;
* ``category_repeat_rate``: share who bought *anything* in ``c`` in two or more orders.

A category is repeat-purchase

* at product level when ``product_repeat_rate >= product_min_rate`` (10%) *and* at least
  ``relative`` (1.5) times the store's median product repeat rate: re-buying the same
  product must be both common and unusual for the store (on the Olist data the median is
  about 5%, on a store of consumables the staples stand out at 16-18% against 10%);
* at category level when ``category_repeat_rate >= category_min_rate`` (20%);

in both cases only with at least ``min_customers`` eligible customers (otherwise the rate
is noise; the median is taken over those categories too).
"""

from __future__ import annotations

import pandas as pd

REPEAT_COLUMNS = (
    "category_id",
    "eligible_customers",
    "product_repeat_rate",
    "category_repeat_rate",
    "repeat_product",
    "repeat_category",
)


def repeat_purchase_categories(
    lines: pd.DataFrame,
    *,
    product_min_rate: float = 0.1,
    relative: float = 1.5,
    category_min_rate: float = 0.2,
    min_customers: int = 10,
) -> pd.DataFrame:
    """Return repeat-purchase rates and flags per category (see the module docstring).

    Parameters
    ----------
    lines
        Purchase lines (training period only, when evaluating).
    product_min_rate, relative
        Absolute and relative (to the median) product repeat rate thresholds.
    category_min_rate
        Category repeat rate threshold.
    min_customers
        Minimum eligible customers for a category to be flagged at all.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`REPEAT_COLUMNS`, one row per category with eligible customers.
    """
    orders_per_customer = lines.groupby("customer_id")["order_id"].nunique()
    multi = orders_per_customer.index[orders_per_customer >= 2]
    eligible = lines.loc[lines["customer_id"].isin(multi)]
    if eligible.empty:
        return pd.DataFrame(
            {
                c: pd.Series(dtype="bool" if c.startswith("repeat") else "float64")
                for c in REPEAT_COLUMNS
            }
        ).astype({"category_id": "int64", "eligible_customers": "int64"})
    per_product = eligible.groupby(["category_id", "customer_id", "product_id"])[
        "order_id"
    ].nunique()
    product_repeaters = (
        (per_product >= 2)
        .groupby(level=["category_id", "customer_id"])
        .any()
        .groupby(level=0)
        .sum()
    )
    per_category = eligible.groupby(["category_id", "customer_id"])["order_id"].nunique()
    customers = per_category.groupby(level=0).size()
    category_repeaters = (per_category >= 2).groupby(level=0).sum()
    out = pd.DataFrame(
        {
            "eligible_customers": customers,
            "product_repeat_rate": product_repeaters.reindex(customers.index).fillna(0) / customers,
            "category_repeat_rate": category_repeaters.reindex(customers.index).fillna(0)
            / customers,
        }
    )
    enough = out["eligible_customers"] >= min_customers
    median = float(out.loc[enough, "product_repeat_rate"].median()) if enough.any() else 0.0
    product_bar = max(product_min_rate, relative * median)
    out["repeat_product"] = enough & (out["product_repeat_rate"] >= product_bar)
    out["repeat_category"] = enough & (out["category_repeat_rate"] >= category_min_rate)
    out = out.reset_index().astype({"category_id": "int64", "eligible_customers": "int64"})
    return out[list(REPEAT_COLUMNS)]
