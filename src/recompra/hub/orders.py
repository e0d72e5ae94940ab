"""Order, item and payment upserts. Order totals are derived from the items."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session

from recompra.hub.rejects import ImportReport
from recompra.hub.upsert import upsert_rows
from recompra.models import Order, OrderItem, Payment
from recompra.models.base import utcnow

_ORDERS: Table = Order.__table__  # type: ignore[assignment]
_ITEMS: Table = OrderItem.__table__  # type: ignore[assignment]
_PAYMENTS: Table = Payment.__table__  # type: ignore[assignment]

ORDER_COMPARE = (
    "customer_id",
    "status",
    "raw_status",
    "channel",
    "currency",
    "purchased_at",
    "approved_at",
    "shipped_at",
    "delivered_at",
    "estimated_delivery_at",
    "items_total_minor",
    "freight_total_minor",
    "discount_total_minor",
    "total_minor",
)
ITEM_COMPARE = (
    "product_id",
    "seller_ref",
    "quantity",
    "unit_price_minor",
    "freight_minor",
    "discount_minor",
    "total_minor",
)
PAYMENT_COMPARE = ("payment_type", "installments", "amount_minor")
_ORDER_FIELDS = ("external_id", "customer_id", "status", *ORDER_COMPARE[2:10])


def upsert_orders(
    session: Session,
    *,
    brand_id: int,
    source: str,
    orders: Sequence[dict[str, Any]],
    items: Sequence[dict[str, Any]],
    payments: Sequence[dict[str, Any]] = (),
    report: ImportReport,
) -> dict[str, int]:
    """Upsert orders with their items and payments; return order ids by external id.

    ``items`` and ``payments`` reference their order by ``order_external_id``. Item
    totals are ``quantity * unit_price_minor - discount_minor``. The order total is the
    sum of item totals, less an optional order-level ``order_discount_minor``, plus
    freight (the order's ``freight_total_minor`` if given, else the items' freight).
    """
    now = utcnow()
    # Per order: gross (quantity x price), item discounts, item freight.
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    item_rows: list[dict[str, Any]] = []
    for item in items:
        quantity = int(item.get("quantity") or 1)
        discount = int(item.get("discount_minor") or 0)
        freight = int(item.get("freight_minor") or 0)
        gross = quantity * int(item["unit_price_minor"])
        acc = sums[item["order_external_id"]]
        acc[0] += gross
        acc[1] += discount
        acc[2] += freight
        item_rows.append(
            {
                **item,
                "quantity": quantity,
                "discount_minor": discount,
                "freight_minor": freight,
                "total_minor": gross - discount,
            }
        )
    order_rows = []
    for order in orders:
        gross, item_discount, item_freight = sums.get(order["external_id"], (0, 0, 0))
        # Order-level freight replaces the items' freight when the source gives it;
        # an order-level discount (coupon on the whole basket) adds to item discounts.
        given_freight = order.get("freight_total_minor")
        freight = item_freight if given_freight is None else int(given_freight)
        extra_discount = int(order.get("order_discount_minor") or 0)
        row = {k: order.get(k) for k in _ORDER_FIELDS}
        row.update(
            brand_id=brand_id,
            source=source,
            currency=order.get("currency") or "BRL",
            items_total_minor=gross - item_discount,
            freight_total_minor=freight,
            discount_total_minor=item_discount + extra_discount,
            total_minor=gross - item_discount - extra_discount + freight,
            created_at=now,
            updated_at=now,
        )
        order_rows.append(row)
    result = upsert_rows(
        session,
        _ORDERS,
        order_rows,
        key=("brand_id", "source", "external_id"),
        compare=ORDER_COMPARE,
        counts=report.entity("orders"),
    )
    order_ids = {key[2]: oid for key, oid in result.ids.items()}

    rows = [
        {
            "order_id": order_ids[i["order_external_id"]],
            "line_number": int(i["line_number"]),
            **{c: i.get(c) for c in ITEM_COMPARE},
        }
        for i in item_rows
    ]
    upsert_rows(
        session,
        _ITEMS,
        rows,
        key=("order_id", "line_number"),
        compare=ITEM_COMPARE,
        counts=report.entity("order_items"),
    )
    if payments:
        pay_rows = [
            {
                "order_id": order_ids[p["order_external_id"]],
                "sequence": int(p["sequence"]),
                "payment_type": p["payment_type"],
                "installments": int(p.get("installments") or 1),
                "amount_minor": int(p["amount_minor"]),
                "created_at": now,
            }
            for p in payments
        ]
        upsert_rows(
            session,
            _PAYMENTS,
            pay_rows,
            key=("order_id", "sequence"),
            compare=PAYMENT_COMPARE,
            counts=report.entity("payments"),
        )
    return order_ids
