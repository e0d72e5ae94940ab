"""Load a generated store (snapshot-shaped Arrow tables) into the operational database.

The generator's integer ids become external ids of source ``generated``; everything goes
through the same upserts as any other import, so loading twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pyarrow as pa
from sqlalchemy import Engine

from recompra.config import get_settings
from recompra.db import unit_of_work
from recompra.hub.aftersale import upsert_returns, upsert_reviews
from recompra.hub.catalog import upsert_categories, upsert_products
from recompra.hub.customers import upsert_customers
from recompra.hub.orders import upsert_orders
from recompra.hub.rejects import ImportReport

SOURCE = "generated"

Progress = Callable[[str, int, int], None]


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows


def load_generated(
    engine: Engine,
    tables: Mapping[str, pa.Table],
    *,
    brand_id: int,
    progress: Progress | None = None,
) -> ImportReport:
    """Upsert a generated store into ``brand_id``; return the import report."""
    report = ImportReport()
    tick = progress or (lambda _stage, _done, _total: None)
    with unit_of_work(engine) as session:
        categories = _rows(tables["categories"])
        report.entity("categories").read += len(categories)
        category_ids = upsert_categories(
            session, brand_id=brand_id, rows=categories, counts=report.entity("categories")
        )
        by_generated = {c["category_id"]: category_ids[c["slug"]] for c in categories}
        products = _rows(tables["products"])
        report.entity("products").read += len(products)
        product_ids = upsert_products(
            session,
            brand_id=brand_id,
            source=SOURCE,
            rows=[
                {
                    "external_id": str(p["product_id"]),
                    "name": p["name"],
                    "category_id": by_generated.get(p["category_id"]),
                    "list_price_minor": p["list_price_minor"],
                }
                for p in products
            ],
            counts=report.entity("products"),
        )
        tick("products", 1, 1)
    with unit_of_work(engine) as session:
        customers = _rows(tables["customers"])
        report.entity("customers").read += len(customers)
        identity_map = upsert_customers(
            session,
            brand_id=brand_id,
            records=[
                {
                    "source": SOURCE,
                    "external_id": str(c["customer_id"]),
                    "city": c["city"],
                    "state": c["state"],
                    "birth_date": c["birth_date"],
                }
                for c in customers
            ],
            counts=report.entity("customers"),
        )
        customer_ids = {int(value): cid for (_k, _s, value), cid in identity_map.items()}
        tick("customers", 1, 1)

    orders = _rows(tables["orders"])
    items_by_order: dict[int, list[dict[str, Any]]] = {}
    for item in _rows(tables["order_items"]):
        items_by_order.setdefault(item["order_id"], []).append(item)
    pays_by_order: dict[int, list[dict[str, Any]]] = {}
    for pay in _rows(tables["payments"]):
        pays_by_order.setdefault(pay["order_id"], []).append(pay)
    order_ids: dict[str, int] = {}
    chunk_size = get_settings().import_chunk_orders
    for start in range(0, len(orders), chunk_size):
        chunk = orders[start : start + chunk_size]
        items = [i for o in chunk for i in items_by_order.get(o["order_id"], [])]
        pays = [p for o in chunk for p in pays_by_order.get(o["order_id"], [])]
        report.entity("orders").read += len(chunk)
        report.entity("order_items").read += len(items)
        report.entity("payments").read += len(pays)
        with unit_of_work(engine) as session:
            order_ids.update(
                upsert_orders(
                    session,
                    brand_id=brand_id,
                    source=SOURCE,
                    orders=[
                        {
                            "external_id": str(o["order_id"]),
                            "customer_id": customer_ids[o["customer_id"]],
                            "status": o["status"],
                            "raw_status": o["status"],
                            "channel": o["channel"],
                            "currency": o["currency"],
                            "purchased_at": o["purchased_at"],
                            "approved_at": o["approved_at"],
                            "delivered_at": o["delivered_at"],
                            "freight_total_minor": o["freight_total_minor"],
                            "order_discount_minor": o["discount_total_minor"],
                        }
                        for o in chunk
                    ],
                    items=[
                        {
                            "order_external_id": str(i["order_id"]),
                            "line_number": i["line_number"],
                            "product_id": product_ids[str(i["product_id"])],
                            "quantity": i["quantity"],
                            "unit_price_minor": i["unit_price_minor"],
                            "discount_minor": i["quantity"] * i["unit_price_minor"]
                            - i["total_minor"],
                        }
                        for i in items
                    ],
                    payments=[
                        {
                            "order_external_id": str(p["order_id"]),
                            "sequence": p["sequence"],
                            "payment_type": p["payment_type"],
                            "installments": p["installments"],
                            "amount_minor": p["amount_minor"],
                        }
                        for p in pays
                    ],
                    report=report,
                )
            )
        tick("orders", min(start + chunk_size, len(orders)), len(orders))
    with unit_of_work(engine) as session:
        returns = _rows(tables["returns"])
        report.entity("returns").read += len(returns)
        upsert_returns(
            session,
            brand_id=brand_id,
            source=SOURCE,
            rows=[
                {
                    "external_id": str(r["return_id"]),
                    "order_id": order_ids[str(r["order_id"])],
                    "kind": r["kind"],
                    "amount_minor": r["amount_minor"],
                    "currency": "BRL",
                    "created_at": r["created_at"],
                }
                for r in returns
            ],
            counts=report.entity("returns"),
        )
        reviews = _rows(tables["reviews"])
        report.entity("reviews").read += len(reviews)
        upsert_reviews(
            session,
            brand_id=brand_id,
            source=SOURCE,
            rows=[
                {
                    "external_id": str(r["review_id"]),
                    "order_id": order_ids[str(r["order_id"])],
                    "customer_id": customer_ids[r["customer_id"]],
                    "score": r["score"],
                    "comment": "comentário" if r["has_comment"] else None,
                    "created_at": r["created_at"],
                }
                for r in reviews
            ],
            counts=report.entity("reviews"),
        )
        tick("reviews", 1, 1)
    return report
