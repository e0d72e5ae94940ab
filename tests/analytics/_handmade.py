"""A small hand-made snapshot whose analytics results are worked out by hand.

Six customers, as-of 2024-06-30, churn window 60 days (see the comments in the tests for
the arithmetic). Categories: 1 = "A" (electronics), 2 = "B" (books).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa

from recompra.snapshot.io import write_snapshot


def _ts(value: str) -> pd.Timestamp:
    return pd.Timestamp(value, tz="UTC")


# order_id, customer_id, status, purchased_at, total_minor
ORDERS = [
    (1, 1, "delivered", "2024-01-10 12:00", 1000),
    (2, 1, "delivered", "2024-03-05 08:30", 3000),
    (3, 1, "delivered", "2024-06-20 23:59", 2000),
    (4, 2, "delivered", "2024-02-15 10:00", 5000),
    (5, 2, "canceled", "2024-02-20 10:00", 9999),
    (6, 3, "shipped", "2024-06-29 00:00", 1500),
    (7, 4, "returned", "2024-04-01 09:00", 8000),
    (8, 5, "delivered", "2024-05-10 10:00", 400),
    (9, 5, "delivered", "2024-05-25 10:00", 600),
    (10, 6, "delivered", "2024-07-05 10:00", 700),
    (11, 6, "unavailable", "2024-01-01 10:00", 300),
]
# order_id, line, category_id, quantity, unit_price_minor
ITEMS = [
    (1, 1, 1, 1, 1000),
    (2, 1, 1, 2, 1500),
    (3, 1, 2, 4, 500),
    (4, 1, 1, 1, 5000),
    (5, 1, 2, 1, 9999),
    (6, 1, 2, 1, 1500),
    (7, 1, 1, 2, 4000),
    (8, 1, 2, 1, 400),
    (9, 1, 2, 1, 600),
    (10, 1, 1, 1, 700),
    (11, 1, 1, 1, 300),
]
# review_id, order_id, customer_id, score, created_at
REVIEWS = [
    (1, 1, 1, 5, "2024-01-20 10:00"),
    (2, 4, 2, 2, "2024-02-25 10:00"),
    (3, 7, 4, 4, "2024-04-10 10:00"),
    (4, 5, 2, 1, "2024-02-22 10:00"),
    (5, 10, 6, 5, "2024-07-10 10:00"),
]
# return_id, order_id, customer_id, kind, created_at, amount_minor
RETURNS = [
    (1, 7, 4, "return", "2024-04-15 10:00", 3000),
    (2, 6, 3, "return", "2024-07-02 10:00", 500),
]


def handmade_tables() -> dict[str, pa.Table]:
    """The snapshot tables."""
    orders = pd.DataFrame(
        {
            "order_id": [o[0] for o in ORDERS],
            "brand_id": 1,
            "customer_id": [o[1] for o in ORDERS],
            "status": [o[2] for o in ORDERS],
            "channel": "web",
            "currency": "BRL",
            "purchased_at": [_ts(o[3]) for o in ORDERS],
            "approved_at": [_ts(o[3]) for o in ORDERS],
            "delivered_at": [_ts(o[3]) for o in ORDERS],
            "items_total_minor": [o[4] for o in ORDERS],
            "freight_total_minor": 0,
            "discount_total_minor": 0,
            "total_minor": [o[4] for o in ORDERS],
        }
    )
    items = pd.DataFrame(
        {
            "order_id": [i[0] for i in ITEMS],
            "line_number": [i[1] for i in ITEMS],
            "product_id": [i[2] * 100 + i[4] // 100 for i in ITEMS],
            "category_id": [i[2] for i in ITEMS],
            "quantity": [i[3] for i in ITEMS],
            "unit_price_minor": [i[4] for i in ITEMS],
            "total_minor": [i[3] * i[4] for i in ITEMS],
        }
    )
    reviews = pd.DataFrame(
        {
            "review_id": [r[0] for r in REVIEWS],
            "order_id": [r[1] for r in REVIEWS],
            "customer_id": [r[2] for r in REVIEWS],
            "score": [r[3] for r in REVIEWS],
            "has_comment": False,
            "created_at": [_ts(r[4]) for r in REVIEWS],
        }
    )
    returns = pd.DataFrame(
        {
            "return_id": [r[0] for r in RETURNS],
            "order_id": [r[1] for r in RETURNS],
            "customer_id": [r[2] for r in RETURNS],
            "kind": [r[3] for r in RETURNS],
            "created_at": [_ts(r[4]) for r in RETURNS],
            "amount_minor": [r[5] for r in RETURNS],
        }
    )
    categories = pd.DataFrame(
        {
            "category_id": [1, 2],
            "brand_id": 1,
            "slug": ["electronics", "books"],
            "name_pt": ["eletrônicos", "livros"],
            "name_en": ["electronics", "books"],
        }
    )
    customers = pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 4, 5, 6],
            "brand_id": 1,
            "first_seen_at": _ts("2024-01-01"),
            "city": None,
            "state": None,
            "birth_date": None,
        }
    )
    frames = {
        "orders": orders,
        "order_items": items,
        "reviews": reviews,
        "returns": returns,
        "categories": categories,
        "customers": customers,
    }
    return {name: pa.Table.from_pandas(f, preserve_index=False) for name, f in frames.items()}


def write_handmade(directory: Path) -> Path:
    """Write the hand-made snapshot into ``directory``."""
    return write_snapshot(directory, handmade_tables())
