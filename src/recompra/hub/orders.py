"""The order writer: canonical orders in, orders, items and payments upserted.

Every way in (API ingest, Olist, mapped files, the generator's loader) hands
:func:`write_orders` a list of :class:`~recompra.hub.canonical.CanonicalOrder`: the rules
of :mod:`recompra.hub.rules` are applied here, so no way in can skip them, and the
customers and products the orders name are resolved in the same transaction.
:func:`write_orders_in_chunks` is the importers' entry: whole orders per chunk, one unit
of work each, so an interrupted import leaves whole orders and a re-run finishes it.
Order totals are derived from the items.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Table
from sqlalchemy.orm import Session

from recompra.config import get_settings
from recompra.db import unit_of_work
from recompra.errors import NotFound
from recompra.hub.canonical import CanonicalOrder, OrderLine
from recompra.hub.catalog import slugify, upsert_categories, upsert_products
from recompra.hub.customers import identities_of, upsert_customers
from recompra.hub.rejects import ImportReport
from recompra.hub.rules import Problem, order_problems
from recompra.hub.upsert import upsert_rows
from recompra.models import Brand, Order, OrderItem, Payment
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
    "payment_fingerprint",
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

#: Called with each order that breaks a rule and its problems (the order is not written).
OnReject = Callable[[CanonicalOrder, list[Problem]], None]
#: Called with a stage name, the work done and the total (the importers' progress bars).
Progress = Callable[[str, int, int], None]


def write_orders(
    session: Session,
    *,
    brand_id: int,
    source: str,
    orders: Sequence[CanonicalOrder],
    report: ImportReport,
    on_reject: OnReject,
    product_ids: Mapping[str, int] | None = None,
    products: Mapping[str, OrderLine] | None = None,
    items_required: bool = True,
) -> dict[str, int]:
    """Check and upsert ``orders`` in ``session``; return order ids by external id.

    Orders that break a rule go to ``on_reject`` and are counted as rejected (with their
    items and payments); the caller has counted what it read. Customers given as records
    are resolved (identity resolution); products come from ``product_ids`` when the
    source has a catalogue, else they are described by ``products`` (see
    :func:`describe_products`, computed from ``orders`` when not given).
    """
    valid: list[CanonicalOrder] = []
    brand = session.get(Brand, brand_id)
    if brand is None:
        raise NotFound(f"brand {brand_id} not found", field="brand")
    for order in orders:
        problems = order_problems(
            order, brand_currency=brand.default_currency, items_required=items_required
        )
        if problems:
            on_reject(order, problems)
            report.entity("orders").rejected += 1
            report.entity("order_items").rejected += len(order.lines)
            report.entity("payments").rejected += len(order.payments)
        else:
            valid.append(order)
    customer_of = _resolve_customers(session, brand_id, source, valid, report)
    if product_ids is None:
        described = products if products is not None else describe_products(valid)
        used = {li.product for order in valid for li in order.lines}
        product_ids = _upsert_products(
            session, brand_id, source, [described[p] for p in described if p in used], report
        )
    return _upsert(session, brand_id, source, valid, customer_of, product_ids, report)


def write_orders_in_chunks(
    engine: Engine,
    *,
    brand_id: int,
    source: str,
    orders: Sequence[CanonicalOrder],
    report: ImportReport,
    on_reject: OnReject,
    product_ids: Mapping[str, int] | None = None,
    items_required: bool = True,
    progress: Progress | None = None,
) -> dict[str, int]:
    """:func:`write_orders` in chunks of whole orders, each chunk in its own transaction."""
    tick = progress or (lambda _stage, _done, _total: None)
    chunk_size = get_settings().import_chunk_orders
    # Described once for the whole import, so every chunk writes the same name.
    products = None if product_ids is not None else describe_products(orders)
    ids: dict[str, int] = {}
    for start in range(0, len(orders), chunk_size):
        with unit_of_work(engine) as session:
            ids.update(
                write_orders(
                    session,
                    brand_id=brand_id,
                    source=source,
                    orders=orders[start : start + chunk_size],
                    report=report,
                    on_reject=on_reject,
                    product_ids=product_ids,
                    products=products,
                    items_required=items_required,
                )
            )
        tick("orders", min(start + chunk_size, len(orders)), len(orders))
    return ids


def _resolve_customers(
    session: Session,
    brand_id: int,
    source: str,
    orders: Sequence[CanonicalOrder],
    report: ImportReport,
) -> dict[str, int]:
    """Customer id of each order (records are upserted once per person key)."""
    people: dict[tuple[str, str], dict[str, Any]] = {}
    for order in orders:
        if isinstance(order.customer, dict):
            record = {**order.customer, "source": order.customer.get("source") or source}
            first = identities_of(record, brand_id)[0]
            people.setdefault((first[0], first[2]), record)
    identity_map: dict[Any, int] = {}
    if people:
        counts = report.entity("customers")
        counts.read += len(people)
        identity_map = upsert_customers(
            session,
            brand_id=brand_id,
            records=list(people.values()),
            counts=counts,
            report=report,
        )
    out: dict[str, int] = {}
    for order in orders:
        if isinstance(order.customer, dict):
            record = {**order.customer, "source": order.customer.get("source") or source}
            out[order.external_id] = identity_map[identities_of(record, brand_id)[0]]
        else:
            out[order.external_id] = order.customer
    return out


def describe_products(orders: Sequence[CanonicalOrder]) -> dict[str, OrderLine]:
    """The line that describes each product: the most recent one (then the last read).

    A store's export may name a product differently over time; one deterministic rule
    keeps a re-import from flipping the name back and forth.
    """
    best: dict[str, tuple[datetime, int, OrderLine]] = {}
    for order in orders:
        for line in order.lines:
            seen = best.get(line.product)
            if seen is None or (order.purchased_at, line.origin) >= seen[:2]:
                best[line.product] = (order.purchased_at, line.origin, line)
    return {product: line for product, (_, _, line) in best.items()}


def _upsert_products(
    session: Session,
    brand_id: int,
    source: str,
    lines: Sequence[OrderLine],
    report: ImportReport,
) -> dict[str, int]:
    """Create or update the products (and categories) the lines describe.

    Line prices are not list prices (discounts, price changes): products get names,
    categories and the merchandise flag only, so re-reading old orders does not rewrite
    the catalogue.
    """
    names = {slugify(li.category): li.category for li in lines if li.category}
    counts = report.entity("categories")
    counts.read += len(names)
    category_ids = upsert_categories(
        session,
        brand_id=brand_id,
        rows=[{"slug": slug, "name_pt": name} for slug, name in names.items()],
        counts=counts,
    )
    report.entity("products").read += len(lines)
    return upsert_products(
        session,
        brand_id=brand_id,
        source=source,
        rows=[
            {
                "external_id": li.product,
                "name": li.product_name,
                "category_id": category_ids.get(slugify(li.category)) if li.category else None,
                "is_merchandise": li.merchandise,
            }
            for li in lines
        ],
        counts=report.entity("products"),
    )


def _upsert(
    session: Session,
    brand_id: int,
    source: str,
    orders: Sequence[CanonicalOrder],
    customer_of: Mapping[str, int],
    product_ids: Mapping[str, int],
    report: ImportReport,
) -> dict[str, int]:
    now = utcnow()
    order_rows: list[dict[str, Any]] = []
    for o in orders:
        gross = sum(li.quantity * li.unit_price_minor for li in o.lines)
        line_discount = sum(li.discount_minor for li in o.lines)
        # Order-level freight replaces the lines' freight when the source gives it;
        # an order-level discount (coupon on the whole basket) adds to line discounts.
        freight = (
            sum(li.freight_minor for li in o.lines)
            if o.freight_total_minor is None
            else o.freight_total_minor
        )
        order_rows.append(
            {
                "brand_id": brand_id,
                "source": source,
                "external_id": o.external_id,
                "customer_id": customer_of[o.external_id],
                "status": str(o.status),
                "raw_status": o.raw_status,
                "channel": o.channel,
                "currency": o.currency,
                "purchased_at": o.purchased_at,
                "approved_at": o.approved_at,
                "shipped_at": o.shipped_at,
                "delivered_at": o.delivered_at,
                "estimated_delivery_at": o.estimated_delivery_at,
                "items_total_minor": gross - line_discount,
                "freight_total_minor": freight,
                "discount_total_minor": line_discount + o.order_discount_minor,
                "total_minor": gross - line_discount - o.order_discount_minor + freight,
                "payment_fingerprint": o.payment_fingerprint,
                "created_at": now,
                "updated_at": now,
            }
        )
    result = upsert_rows(
        session,
        _ORDERS,
        order_rows,
        key=("brand_id", "source", "external_id"),
        compare=ORDER_COMPARE,
        counts=report.entity("orders"),
    )
    order_ids = {key[2]: oid for key, oid in result.ids.items()}
    item_rows = [
        {
            "order_id": order_ids[o.external_id],
            "line_number": li.line_number,
            "product_id": product_ids[li.product],
            "seller_ref": li.seller_ref,
            "quantity": li.quantity,
            "unit_price_minor": li.unit_price_minor,
            "freight_minor": li.freight_minor,
            "discount_minor": li.discount_minor,
            "total_minor": li.quantity * li.unit_price_minor - li.discount_minor,
        }
        for o in orders
        for li in o.lines
    ]
    upsert_rows(
        session,
        _ITEMS,
        item_rows,
        key=("order_id", "line_number"),
        compare=ITEM_COMPARE,
        counts=report.entity("order_items"),
    )
    totals = {row["external_id"]: row["total_minor"] for row in order_rows}
    pay_rows = [
        {
            "order_id": order_ids[o.external_id],
            "sequence": p.sequence,
            "payment_type": p.payment_type,
            "installments": p.installments,
            "amount_minor": totals[o.external_id] if p.amount_minor is None else p.amount_minor,
            "created_at": now,
        }
        for o in orders
        for p in o.payments
    ]
    if pay_rows:
        upsert_rows(
            session,
            _PAYMENTS,
            pay_rows,
            key=("order_id", "sequence"),
            compare=PAYMENT_COMPARE,
            counts=report.entity("payments"),
        )
    return order_ids
