"""Ingest orders: JSON orders parsed into canonical orders and written by the order writer.

Money is integer minor units (``unit_price_minor: 5890`` is R$ 58,90), timestamps
ISO-8601 (naive ones are UTC). An order with one bad item is rejected whole, so no order
is stored with missing items. Everything is written in the caller's session: a request
is one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, cast

from sqlalchemy.orm import Session

from recompra.hub.canonical import CanonicalOrder, OrderStatus, order_from_rows
from recompra.hub.ingest.batch import (
    CUSTOMER_KEYS,
    Batch,
    IngestResult,
    customer_row,
    parse_options,
    text,
)
from recompra.hub.orders import write_orders
from recompra.hub.rejects import ImportReport
from recompra.hub.rules import LINE_FIELDS, NO_ITEMS, UNKNOWN_STATUS, Problem, status_of
from recompra.hub.validate import LINE, Field

#: API order fields that are canonical line fields under the same name.
ORDER_KEYS = (
    "order_id",
    "purchased_at",
    "status",
    "channel",
    "currency",
    "payment_type",
    "installments",
    "approved_at",
    "delivered_at",
    "payment_fingerprint",
)
#: API item field -> canonical line field.
ITEM_KEYS = {
    "line_number": "line_number",
    "product_id": "product_id",
    "product_name": "product_name",
    "category": "category",
    "quantity": "quantity",
    "unit_price_minor": "unit_price",
    "freight_minor": "freight",
    "discount_minor": "discount",
}


def _whole_minor_units(spec: Field) -> Field:
    # The API sends integer minor units: money fields are whole numbers, not decimals.
    return replace(spec, kind="int") if spec.kind == "money" else spec


API_LINE_FIELDS = [_whole_minor_units(f) for f in LINE_FIELDS if f.name != "original_order_id"]


def _order_rows(batch: Batch, orders: Sequence[dict[str, Any]]) -> None:
    seen: dict[str, int] = {}
    item_api = {canonical: key for key, canonical in ITEM_KEYS.items()}
    customer_api = {canonical: f"customer.{key}" for key, canonical in CUSTOMER_KEYS.items()}
    for index, order in enumerate(orders):
        order_id = text(order.get("order_id")).strip()
        if order_id and order_id in seen:
            batch.problem(
                index, "order_id", order_id, f"repeats the order at index {seen[order_id]}"
            )
        seen.setdefault(order_id, index)
        items = order.get("items") or []
        if not items:
            # No row to validate: the order's header alone cannot become an order.
            batch.problem(index, "items", "", NO_ITEMS)
        header = {key: text(order.get(key)) for key in ORDER_KEYS}
        header.update(customer_row(order.get("customer") or {}))
        for position, item in enumerate(items):
            row = dict(header)
            row.update({canonical: text(item.get(key)) for key, canonical in ITEM_KEYS.items()})

            def name(column: str, position: int = position) -> str:
                if column in item_api:
                    return f"items[{position}].{item_api[column]}"
                return customer_api.get(column, column)

            batch.add(index, row, name)


def ingest_orders(
    session: Session,
    *,
    brand_id: int,
    source: str,
    orders: Sequence[dict[str, Any]],
    currency: str = "BRL",
) -> IngestResult:
    """Create or update orders with their items, customer, products and payment."""
    report = ImportReport()
    batch = Batch("order_items", report)
    _order_rows(batch, orders)
    valid = batch.validate(API_LINE_FIELDS, parse_options(currency))
    lines = cast(list[dict[str, Any]], valid.to_dict("records"))
    status: dict[int, OrderStatus] = {}
    for line in lines:
        index = batch.origin[int(line[LINE])][0]
        word = str(line.get("status") or "")
        known = status_of(word)
        if known is None:
            batch.row_problem(int(line[LINE]), "status", word, UNKNOWN_STATUS)
        else:
            status[index] = known
    # One bad line (or a header problem found before validation) rejects the whole order.
    bad = batch.bad_indexes()
    by_order: dict[int, list[dict[str, Any]]] = {}
    dropped = 0
    for line in lines:
        index = batch.origin[int(line[LINE])][0]
        if index in bad:
            dropped += 1
        else:
            by_order.setdefault(index, []).append(line)
    report.entity("order_items").rejected += dropped
    canonical = [
        order_from_rows(
            rows,
            source=source,
            currency=currency,
            status=status[index],
            origins=[int(row[LINE]) for row in rows],
        )
        for index, rows in by_order.items()
    ]
    report.entity("orders").read += len(canonical)

    def on_reject(order: CanonicalOrder, problems: list[Problem]) -> None:
        for problem in problems:
            line = problem.line.origin if problem.line else order.origin
            batch.row_problem(line, problem.field, problem.value, problem.reason)

    stored = write_orders(
        session,
        brand_id=brand_id,
        source=source,
        orders=canonical,
        report=report,
        on_reject=on_reject,
    )
    ids: list[int | None] = [None] * len(orders)
    for index, rows in by_order.items():
        ids[index] = stored.get(str(rows[0]["order_id"]))
    return batch.result(len(orders), ids)
