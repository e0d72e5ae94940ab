"""Load a generated store (snapshot-shaped Arrow tables) into the operational database.

The generator's integer ids become external ids of source ``generated``; everything goes
through the same upserts as any other import, so loading twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa
from sqlalchemy import Engine

from recompra.db import unit_of_work
from recompra.generate.identity import generated_identities
from recompra.hub.aftersale import REVIEWS
from recompra.hub.canonical import (
    CanonicalOrder,
    CanonicalReturn,
    OrderLine,
    OrderPayment,
    OrderStatus,
)
from recompra.hub.catalog import upsert_categories, upsert_products
from recompra.hub.customers import upsert_customers
from recompra.hub.orders import Progress, write_orders_in_chunks
from recompra.hub.rejects import ImportReport
from recompra.hub.returns import write_returns
from recompra.hub.rules import Problem

SOURCE = "generated"


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
        people = generated_identities(
            brand_id, [c["customer_id"] for c in customers], [c["state"] for c in customers]
        )
        identity_map = upsert_customers(
            session,
            brand_id=brand_id,
            records=[
                {
                    "source": SOURCE,
                    "external_id": str(c["customer_id"]),
                    "name": person.name,
                    "email": person.email,
                    "phone": person.phone,
                    "document": f"cpf:{person.cpf}",
                    "city": c["city"],
                    "state": c["state"],
                    "birth_date": c["birth_date"],
                }
                for c, person in zip(customers, people, strict=True)
            ],
            counts=report.entity("customers"),
            report=report,
        )
        # The map also holds the e-mail, CPF and phone identities; orders use the ids.
        customer_ids = {
            int(value): cid
            for (kind, _source, value), cid in identity_map.items()
            if kind == "external"
        }
        tick("customers", 1, 1)

    orders = _orders(tables, customer_ids)
    report.entity("orders").read += len(orders)
    report.entity("order_items").read += sum(len(o.lines) for o in orders)
    report.entity("payments").read += sum(len(o.payments) for o in orders)
    order_ids = write_orders_in_chunks(
        engine,
        brand_id=brand_id,
        source=SOURCE,
        orders=orders,
        report=report,
        on_reject=_refuse,
        product_ids=product_ids,
        progress=tick,
    )
    with unit_of_work(engine) as session:
        returns = _returns(tables)
        report.entity("returns").read += len(returns)
        write_returns(
            session,
            brand_id=brand_id,
            source=SOURCE,
            returns=returns,
            counts=report.entity("returns"),
            on_reject=_refuse_return,
        )
        reviews = _rows(tables["reviews"])
        report.entity("reviews").read += len(reviews)
        REVIEWS.upsert(
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


def _returns(tables: Mapping[str, pa.Table]) -> list[CanonicalReturn]:
    """The generated returns and cancellations as canonical returns."""
    return [
        CanonicalReturn(
            external_id=str(r["return_id"]),
            order=str(r["order_id"]),
            kind=r["kind"],
            amount_minor=r["amount_minor"],
            created_at=r["created_at"],
        )
        for r in _rows(tables["returns"])
    ]


def _orders(tables: Mapping[str, pa.Table], customer_ids: dict[int, int]) -> list[CanonicalOrder]:
    """The generated orders, items and payments as canonical orders."""
    lines: dict[int, list[OrderLine]] = {}
    for i in _rows(tables["order_items"]):
        lines.setdefault(i["order_id"], []).append(
            OrderLine(
                line_number=i["line_number"],
                product=str(i["product_id"]),
                quantity=i["quantity"],
                unit_price_minor=i["unit_price_minor"],
                discount_minor=i["quantity"] * i["unit_price_minor"] - i["total_minor"],
            )
        )
    payments: dict[int, list[OrderPayment]] = {}
    for p in _rows(tables["payments"]):
        payments.setdefault(p["order_id"], []).append(
            OrderPayment(
                sequence=p["sequence"],
                payment_type=p["payment_type"],
                installments=p["installments"],
                amount_minor=p["amount_minor"],
            )
        )
    return [
        CanonicalOrder(
            external_id=str(o["order_id"]),
            customer=customer_ids[o["customer_id"]],
            status=OrderStatus(o["status"]),
            raw_status=o["status"],
            channel=o["channel"],
            currency=o["currency"],
            purchased_at=o["purchased_at"],
            approved_at=o["approved_at"],
            delivered_at=o["delivered_at"],
            freight_total_minor=o["freight_total_minor"],
            order_discount_minor=o["discount_total_minor"],
            lines=lines.get(o["order_id"], []),
            payments=payments.get(o["order_id"], []),
            origin=n,
        )
        for n, o in enumerate(_rows(tables["orders"]))
    ]


def _refuse(order: CanonicalOrder, problems: list[Problem]) -> None:
    # The generator builds valid stores: a broken rule is a generator bug, not bad input.
    raise ValueError(f"generated order {order.external_id} breaks {problems}")


def _refuse_return(item: CanonicalReturn, column: str, value: str, reason: str) -> None:
    raise ValueError(f"generated return {item.external_id}: {column} {value!r}: {reason}")
