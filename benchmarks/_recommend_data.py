"""The "consumables" scenario of the recommend benchmark: a quick vectorised generator.

``recompra.generate`` is the benchmark's main data (co-occurrence at 10M orders, serving,
evaluation). Its customers rarely re-buy the same product, so this second store adds what
``recompra.generate`` lacks, consumables re-bought by the same customers, to evaluate the
repeat-purchase handling of next-best-offer. Its structure:

* products in categories, popularity Zipf-distributed inside each category;
* each customer has two favourite categories and, in each, a "staple" product;
* some categories are consumables: a customer buying there mostly re-buys the staple;
* every product has a complement in another category, often bought in the same order or
  in a later one;
* multi-item baskets (1 + Poisson(0.7) distinct items).
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

START = datetime(2023, 1, 1, tzinfo=UTC)
SPAN_DAYS = 730


def generate(
    n_orders: int,
    *,
    n_products: int = 20_000,
    n_categories: int = 40,
    orders_per_customer: float = 3.0,
    seed: int = 7,
) -> dict[str, pa.Table]:
    """Return ``orders``, ``order_items``, ``products``, ``categories``, ``reviews`` tables."""
    rng = np.random.default_rng(seed)
    n_customers = max(1, int(n_orders / orders_per_customer))
    repeat_categories = np.arange(n_categories) < n_categories // 5  # first 20% consumables

    # Products: category, within-category popularity rank, price.
    product_cat = rng.integers(0, n_categories, n_products)
    cat_sizes = np.bincount(product_cat, minlength=n_categories)
    cat_start = np.concatenate([[0], np.cumsum(cat_sizes)[:-1]])
    by_cat = np.lexsort((rng.random(n_products), product_cat))  # products grouped by category
    base_price = np.exp(rng.normal(8.0, 0.6, n_categories))
    price = (base_price[product_cat] * np.exp(rng.normal(0, 0.5, n_products))).astype(np.int64)
    complement_cat = (np.arange(n_categories) + 1 + rng.integers(0, 3, n_categories)) % n_categories

    def zipf_in_category(cats: np.ndarray) -> np.ndarray:
        size = cat_sizes[cats]
        # Zipf-like rank: floor(size ** u) - 1 with u ~ U(0,1) gives a heavy head.
        r = np.floor(np.power(size.astype(np.float64), rng.random(len(cats)) ** 1.6)).astype(
            np.int64
        )
        r = np.clip(r - 1, 0, np.maximum(size - 1, 0))
        return by_cat[cat_start[cats] + r]

    complement = zipf_in_category(complement_cat[product_cat])

    # Customers: favourite categories and staple products.
    fav = rng.integers(0, n_categories, (n_customers, 2))
    staple = np.stack([zipf_in_category(fav[:, 0]), zipf_in_category(fav[:, 1])], axis=1)

    # Orders: customers with heavy-tailed activity, uniform timestamps.
    weights = rng.pareto(1.5, n_customers) + 1.0
    customer = rng.choice(n_customers, n_orders, p=weights / weights.sum())
    seconds = rng.integers(0, SPAN_DAYS * 86_400, n_orders)
    status = np.where(rng.random(n_orders) < 0.03, "canceled", "delivered")

    size = 1 + np.minimum(rng.poisson(0.7, n_orders), 7)
    order_idx = np.repeat(np.arange(n_orders), size)
    position = np.arange(len(order_idx)) - np.repeat(np.cumsum(size) - size, size)
    cust = customer[order_idx]
    which = rng.integers(0, 2, len(order_idx))
    cat = fav[cust, which]
    u = rng.random(len(order_idx))
    from_fav = zipf_in_category(cat)
    staple_pick = staple[cust, which]
    repeat_pick = repeat_categories[cat] & (rng.random(len(order_idx)) < 0.7)
    chosen = np.where(repeat_pick, staple_pick, from_fav)
    glob = zipf_in_category(rng.integers(0, n_categories, len(order_idx)))
    chosen = np.where(u < 0.65, chosen, glob)
    # Second and later lines: often the complement of the first line.
    first = np.repeat(chosen[np.cumsum(size) - size], size)
    use_complement = (position > 0) & (rng.random(len(order_idx)) < 0.5)
    chosen = np.where(use_complement, complement[first], chosen)
    # Customers also come back for the complement of their staple in a later order.
    later_complement = (position == 0) & (rng.random(len(order_idx)) < 0.15)
    chosen = np.where(later_complement, complement[staple_pick], chosen)

    order_ids = np.arange(1, n_orders + 1, dtype=np.int64)
    purchased = np.datetime64(START.replace(tzinfo=None), "us") + (seconds * 1_000_000).astype(
        "m8[us]"
    )
    items_price = price[chosen]
    items_total = np.bincount(order_idx, weights=items_price, minlength=n_orders).astype(np.int64)
    ts = pa.timestamp("us", tz="UTC")
    orders = pa.table(
        {
            "order_id": order_ids,
            "brand_id": np.ones(n_orders, dtype=np.int64),
            "customer_id": customer.astype(np.int64) + 1,
            "status": status,
            "channel": np.full(n_orders, "web"),
            "currency": np.full(n_orders, "BRL"),
            "purchased_at": pa.array(purchased, type=ts),
            "approved_at": pa.array(purchased, type=ts),
            "delivered_at": pa.nulls(n_orders, type=ts),
            "items_total_minor": items_total,
            "freight_total_minor": np.zeros(n_orders, dtype=np.int64),
            "discount_total_minor": np.zeros(n_orders, dtype=np.int64),
            "total_minor": items_total,
        }
    )
    order_items = pa.table(
        {
            "order_id": order_ids[order_idx],
            "line_number": (position + 1).astype(np.int32),
            "product_id": chosen.astype(np.int64) + 1,
            "category_id": product_cat[chosen].astype(np.int64) + 1,
            "quantity": np.ones(len(order_idx), dtype=np.int32),
            "unit_price_minor": items_price,
            "total_minor": items_price,
        }
    )
    products = pa.table(
        {
            "product_id": np.arange(1, n_products + 1, dtype=np.int64),
            "brand_id": np.ones(n_products, dtype=np.int64),
            "external_id": [f"P{i}" for i in range(1, n_products + 1)],
            "name": [f"Product {i}" for i in range(1, n_products + 1)],
            "category_id": product_cat.astype(np.int64) + 1,
            "list_price_minor": price,
        }
    )
    categories = pa.table(
        {
            "category_id": np.arange(1, n_categories + 1, dtype=np.int64),
            "brand_id": np.ones(n_categories, dtype=np.int64),
            "slug": [f"cat-{i}" for i in range(1, n_categories + 1)],
            "name_pt": [f"Categoria {i}" for i in range(1, n_categories + 1)],
            "name_en": [f"Category {i}" for i in range(1, n_categories + 1)],
        }
    )
    # Reviews on 30% of orders; product quality drives the score.
    quality = rng.normal(0.0, 0.8, n_products)
    reviewed = np.flatnonzero(rng.random(n_orders) < 0.3)
    first_product = chosen[np.cumsum(size) - size][reviewed]
    score = np.clip(
        np.round(4.1 + quality[first_product] + rng.normal(0, 0.8, len(reviewed))), 1, 5
    )
    reviews = pa.table(
        {
            "review_id": np.arange(1, len(reviewed) + 1, dtype=np.int64),
            "order_id": order_ids[reviewed],
            "customer_id": customer[reviewed].astype(np.int64) + 1,
            "score": score.astype(np.int8),
            "has_comment": np.zeros(len(reviewed), dtype=bool),
            "created_at": pa.array(purchased[reviewed] + np.timedelta64(10, "D"), type=ts),
        }
    )
    return {
        "orders": orders,
        "order_items": order_items,
        "products": products,
        "categories": categories,
        "reviews": reviews,
    }
