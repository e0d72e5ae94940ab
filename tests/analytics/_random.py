"""A small seeded random snapshot with ties, same-second orders, returns and reviews."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from recompra.snapshot.io import write_snapshot


def write_random_snapshot(directory: Path, *, customers: int = 120, seed: int = 7) -> Path:
    """Write a random snapshot of about ``3 * customers`` orders."""
    rng = np.random.default_rng(seed)
    n_orders = customers * 3
    start = pd.Timestamp("2022-01-01", tz="UTC")
    # Skewed customers (many one-time buyers), days over two years, some identical stamps.
    customer = rng.zipf(1.6, n_orders) % customers + 1
    seconds = rng.integers(0, 730 * 86_400, n_orders)
    seconds[::17] = seconds[1::17][: len(seconds[::17])]  # exact duplicate timestamps
    status = rng.choice(
        ["delivered", "shipped", "canceled", "returned", "unavailable"],
        size=n_orders,
        p=[0.75, 0.1, 0.07, 0.05, 0.03],
    )
    order_id = np.arange(1, n_orders + 1)
    n_lines = rng.integers(1, 4, n_orders)
    item_order = np.repeat(order_id, n_lines)
    category = rng.integers(1, 6, len(item_order))
    quantity = rng.integers(1, 3, len(item_order)).astype("int32")
    price = (rng.integers(10, 200, len(item_order)) * 100).astype("int64")
    items = pd.DataFrame(
        {
            "order_id": item_order,
            "line_number": np.concatenate([np.arange(1, k + 1) for k in n_lines]).astype("int32"),
            "product_id": category * 1000 + price // 100,
            "category_id": category,
            "quantity": quantity,
            "unit_price_minor": price,
            "total_minor": price * quantity,
        }
    )
    totals = items.groupby("order_id").total_minor.sum().reindex(order_id).to_numpy()
    purchased = start + pd.to_timedelta(seconds, unit="s")
    orders = pd.DataFrame(
        {
            "order_id": order_id,
            "brand_id": 1,
            "customer_id": customer,
            "status": status,
            "channel": "web",
            "currency": "BRL",
            "purchased_at": purchased,
            "approved_at": purchased,
            "delivered_at": purchased,
            "items_total_minor": totals,
            "freight_total_minor": 990,
            "discount_total_minor": 0,
            "total_minor": totals + 990,
        }
    )
    returned = orders[(orders.status == "returned") | (rng.random(n_orders) < 0.03)]
    returns = pd.DataFrame(
        {
            "return_id": np.arange(1, len(returned) + 1),
            "order_id": returned.order_id.to_numpy(),
            "customer_id": returned.customer_id.to_numpy(),
            "kind": "return",
            "created_at": returned.purchased_at + pd.Timedelta(days=10),
            "amount_minor": returned.total_minor.to_numpy() // 2,
        }
    )
    reviewed = orders.sample(frac=0.5, random_state=seed)
    reviews = pd.DataFrame(
        {
            "review_id": np.arange(1, len(reviewed) + 1),
            "order_id": reviewed.order_id.to_numpy(),
            "customer_id": reviewed.customer_id.to_numpy(),
            "score": rng.integers(1, 6, len(reviewed)).astype("int8"),
            "has_comment": False,
            "created_at": reviewed.purchased_at + pd.Timedelta(days=7),
        }
    )
    categories = pd.DataFrame(
        {
            "category_id": [1, 2, 3, 4, 5],
            "brand_id": 1,
            "slug": ["electronics", "books", "toys", "garden", "beauty"],
            "name_pt": ["eletrônicos", "livros", "brinquedos", "jardim", "beleza"],
            "name_en": ["electronics", "books", "toys", "garden", "beauty"],
        }
    )
    frames = {
        "orders": orders,
        "order_items": items,
        "returns": returns,
        "reviews": reviews,
        "categories": categories,
    }
    tables = {name: pa.Table.from_pandas(f, preserve_index=False) for name, f in frames.items()}
    return write_snapshot(directory, tables)
