"""Helpers of the recommend tests: snapshot tables from tuples, the hand-made store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa

from recompra.snapshot.io import conform

A, B, C, D = 1, 2, 3, 4
CAT_AB, CAT_CD = 10, 20
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def snapshot_tables(
    orders: list[tuple[int, int, str, int]],
    lines: list[tuple[int, int, int, int]],
    *,
    products: list[tuple[int, int, int]] | None = None,
    reviews: list[tuple[int, int]] | None = None,
) -> dict[str, pa.Table]:
    """Build snapshot tables from ``(order, customer, status, day)`` and
    ``(order, product, category, unit price)`` tuples (plus optional products
    ``(product, category, list price)`` and reviews ``(order, score)``)."""
    ts = pa.timestamp("us", tz="UTC")
    when = [T0 + timedelta(days=day) for _, _, _, day in orders]
    n = len(orders)
    order_table = pa.table(
        {
            "order_id": [o for o, _, _, _ in orders],
            "brand_id": [1] * n,
            "customer_id": [c for _, c, _, _ in orders],
            "status": [s for _, _, s, _ in orders],
            "channel": ["web"] * n,
            "currency": ["BRL"] * n,
            "purchased_at": pa.array(when, type=ts),
            "approved_at": pa.array(when, type=ts),
            "delivered_at": pa.nulls(n, ts),
            "items_total_minor": [0] * n,
            "freight_total_minor": [0] * n,
            "discount_total_minor": [0] * n,
            "total_minor": [0] * n,
        }
    )
    m = len(lines)
    item_table = pa.table(
        {
            "order_id": [o for o, _, _, _ in lines],
            "line_number": list(range(1, m + 1)),
            "product_id": [p for _, p, _, _ in lines],
            "category_id": [c for _, _, c, _ in lines],
            "quantity": [1] * m,
            "unit_price_minor": [u for _, _, _, u in lines],
            "total_minor": [u for _, _, _, u in lines],
        }
    )
    tables = {
        "orders": conform(order_table, "orders"),
        "order_items": conform(item_table, "order_items"),
    }
    if products is not None:
        tables["products"] = conform(
            pa.table(
                {
                    "product_id": [p for p, _, _ in products],
                    "brand_id": [1] * len(products),
                    "external_id": [f"P{p}" for p, _, _ in products],
                    "name": [f"Produto {p}" for p, _, _ in products],
                    "category_id": [c for _, c, _ in products],
                    "list_price_minor": [price for _, _, price in products],
                }
            ),
            "products",
        )
    if reviews is not None:
        order_customer = {o: c for o, c, _, _ in orders}
        tables["reviews"] = conform(
            pa.table(
                {
                    "review_id": list(range(1, len(reviews) + 1)),
                    "order_id": [o for o, _ in reviews],
                    "customer_id": [order_customer[o] for o, _ in reviews],
                    "score": pa.array([s for _, s in reviews], pa.int8()),
                    "has_comment": [False] * len(reviews),
                    "created_at": pa.array([T0] * len(reviews), type=ts),
                }
            ),
            "reviews",
        )
    return tables


def hand_store_tables() -> dict[str, pa.Table]:
    """Six purchase orders plus one canceled one; see ``test_recommend_cooccurrence``.

    ====  ========  =========  ======================
    order customer  status     products
    ====  ========  =========  ======================
    1     1         delivered  A, B
    2     1         delivered  A, C
    3     2         delivered  A, B, C
    4     3         shipped    B
    5     3         canceled   A, B   (not a purchase)
    6     4         delivered  C, D
    7     2         delivered  A, A   (one basket item)
    ====  ========  =========  ======================

    A and B are in category 10, C and D in category 20.
    """
    orders = [
        (1, 1, "delivered", 0),
        (2, 1, "delivered", 1),
        (3, 2, "delivered", 2),
        (4, 3, "shipped", 3),
        (5, 3, "canceled", 4),
        (6, 4, "delivered", 5),
        (7, 2, "delivered", 6),
    ]
    cat = {A: CAT_AB, B: CAT_AB, C: CAT_CD, D: CAT_CD}
    baskets = {1: [A, B], 2: [A, C], 3: [A, B, C], 4: [B], 5: [A, B], 6: [C, D], 7: [A, A]}
    lines = [(o, p, cat[p], 1000 * p) for o, items in baskets.items() for p in items]
    return snapshot_tables(orders, lines)
