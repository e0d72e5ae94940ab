"""Importer for the public Olist dataset layout (``olist_*_dataset.csv[.gz]``).

Mapping decisions:

* ``customer_unique_id`` is the person; the per-order ``customer_id`` is kept as an
  alias identity (source ``olist_order_customer``) so orders resolve to the person.
* Timestamps are São Paulo local time in the files and are stored in UTC.
* ``canceled`` orders also get a cancellation row (kind ``cancellation``) for their total.
* Reviews: ``review_id`` repeats across orders in the public data, so the natural key is
  ``review_id:order_id``. The partial 10k-review file is accepted as is.
* Stages commit separately and orders commit in chunks of complete orders (with their
  items and payments), so an interrupted import leaves whole orders only and a re-run
  finishes the job; every stage is an idempotent upsert.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pandas as pd
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from recompra.db import unit_of_work
from recompra.hub.aftersale import REVIEWS
from recompra.hub.canonical import (
    CanonicalOrder,
    CanonicalReturn,
    OrderLine,
    OrderPayment,
    OrderStatus,
)
from recompra.hub.catalog import upsert_categories, upsert_products
from recompra.hub.customers import external_identity, lookup_identities, upsert_customers
from recompra.hub.importers.files import find_file, read_table, read_validated
from recompra.hub.orders import Progress, write_orders_in_chunks
from recompra.hub.parsing import ParseOptions
from recompra.hub.rejects import ImportReport, Reject
from recompra.hub.returns import write_returns
from recompra.hub.rules import Problem
from recompra.hub.validate import LINE, Field, first_of_key
from recompra.models import Order

SOURCE = "olist"
ALIAS_SOURCE = "olist_order_customer"
OPTIONS = ParseOptions(timezone="America/Sao_Paulo")
STATUSES = {
    "delivered": "delivered",
    "shipped": "shipped",
    "canceled": "canceled",
    "unavailable": "unavailable",
    "invoiced": "invoiced",
    "processing": "processing",
    "created": "created",
    "approved": "approved",
}

CUSTOMER_FIELDS = [
    Field("customer_id", required=True),
    Field("customer_unique_id", required=True),
    Field("customer_zip_code_prefix"),
    Field("customer_city"),
    Field("customer_state"),
]
PRODUCT_FIELDS = [Field("product_id", required=True), Field("product_category_name")]
ORDER_FIELDS = [
    Field("order_id", required=True),
    Field("customer_id", required=True),
    Field("order_status", required=True, choices=tuple(STATUSES)),
    Field("order_purchase_timestamp", "timestamp", required=True),
    Field("order_approved_at", "timestamp"),
    Field("order_delivered_carrier_date", "timestamp"),
    Field("order_delivered_customer_date", "timestamp"),
    Field("order_estimated_delivery_date", "timestamp"),
]
ITEM_FIELDS = [
    Field("order_id", required=True),
    Field("order_item_id", "int", required=True, minimum=1),
    Field("product_id", required=True),
    Field("seller_id"),
    Field("price", "money", required=True, minimum=0),
    Field("freight_value", "money", minimum=0),
]
PAYMENT_FIELDS = [
    Field("order_id", required=True),
    Field("payment_sequential", "int", required=True, minimum=1),
    Field("payment_type", required=True),
    Field("payment_installments", "int", minimum=0),
    Field("payment_value", "money", required=True, minimum=0),
]
REVIEW_FIELDS = [
    Field("review_id", required=True),
    Field("order_id", required=True),
    Field("review_score", "int", required=True, minimum=1, maximum=5),
    Field("review_comment_title"),
    Field("review_comment_message"),
    Field("review_creation_date", "timestamp", required=True),
    Field("review_answer_timestamp", "timestamp"),
]


@dataclass
class _Files:
    customers: Path
    orders: Path
    items: Path
    products: Path | None
    payments: Path | None
    reviews: Path | None
    translation: Path | None


def _locate(directory: Path) -> _Files:
    def need(stem: str) -> Path:
        path = find_file(directory, stem)
        if path is None:
            raise FileNotFoundError(f"{stem}.csv(.gz) not found in {directory}")
        return path

    return _Files(
        customers=need("olist_customers_dataset"),
        orders=need("olist_orders_dataset"),
        items=need("olist_order_items_dataset"),
        products=find_file(directory, "olist_products_dataset"),
        payments=find_file(directory, "olist_order_payments_dataset"),
        reviews=find_file(directory, "olist_order_reviews_dataset")
        or find_file(directory, "olist_order_reviews_dataset_partial_10k"),
        translation=find_file(directory, "product_category_name_translation"),
    )


def _read(path: Path, fields: list[Field], entity: str, report: ImportReport) -> pd.DataFrame:
    return read_validated(path, fields, entity=entity, options=OPTIONS, report=report)


def _humanize(slug: str) -> str:
    return slug.replace("_", " ").strip().capitalize()


def import_olist(
    engine: Engine, directory: Path, *, brand_id: int, progress: Progress | None = None
) -> ImportReport:
    """Import an Olist directory into ``brand_id``; return the report (not yet written)."""
    files = _locate(Path(directory))
    report = ImportReport()
    tick = progress or (lambda _stage, _done, _total: None)

    with unit_of_work(engine) as session:
        _import_catalog(session, files, brand_id, report)
        tick("products", 1, 1)
    with unit_of_work(engine) as session:
        frame = _read(files.customers, CUSTOMER_FIELDS, "customers", report)
        records = [
            {
                "source": SOURCE,
                "external_id": r.customer_unique_id,
                "aliases": [(ALIAS_SOURCE, r.customer_id)],
                "city": r.customer_city,
                "state": r.customer_state,
                "zip_prefix": r.customer_zip_code_prefix,
            }
            for r in frame.itertuples(index=False)
        ]
        upsert_customers(
            session,
            brand_id=brand_id,
            records=records,
            counts=report.entity("customers"),
            report=report,
        )
        tick("customers", 1, 1)
    _import_orders(engine, files, brand_id, report, tick)
    if files.reviews is not None:
        with unit_of_work(engine) as session:
            _import_reviews(session, files.reviews, brand_id, report)
        tick("reviews", 1, 1)
    return report


def _import_catalog(session: Session, files: _Files, brand_id: int, report: ImportReport) -> None:
    english: dict[str, str] = {}
    if files.translation is not None:
        table = read_table(files.translation, OPTIONS)
        english = dict(
            zip(table["product_category_name"], table["product_category_name_english"], strict=True)
        )
    if files.products is None:
        return
    products = _read(files.products, PRODUCT_FIELDS, "products", report)
    products = first_of_key(products, ["product_id"], "products", files.products.name, report)
    slugs = sorted({s for s in products["product_category_name"] if s})
    report.entity("categories").read += len(slugs)
    category_ids = upsert_categories(
        session,
        brand_id=brand_id,
        rows=[
            {
                "slug": s,
                "name_pt": _humanize(s),
                "name_en": _humanize(english[s]) if s in english else None,
            }
            for s in slugs
        ],
        counts=report.entity("categories"),
    )
    upsert_products(
        session,
        brand_id=brand_id,
        source=SOURCE,
        rows=[
            {"external_id": pid, "category_id": category_ids.get(cat) if cat else None}
            for pid, cat in zip(
                products["product_id"], products["product_category_name"], strict=True
            )
        ],
        counts=report.entity("products"),
    )


def _import_orders(
    engine: Engine, files: _Files, brand_id: int, report: ImportReport, tick: Progress
) -> None:
    orders = _read(files.orders, ORDER_FIELDS, "orders", report)
    orders = first_of_key(orders, ["order_id"], "orders", files.orders.name, report)
    items = _read(files.items, ITEM_FIELDS, "order_items", report)
    items = first_of_key(
        items, ["order_id", "order_item_id"], "order_items", files.items.name, report
    )
    payments = (
        _read(files.payments, PAYMENT_FIELDS, "payments", report)
        if files.payments is not None
        else pd.DataFrame(columns=[f.name for f in PAYMENT_FIELDS] + [LINE])
    )
    if files.payments is not None:
        payments = first_of_key(
            payments, ["order_id", "payment_sequential"], "payments", files.payments.name, report
        )

    with unit_of_work(engine, write=False) as session:
        customer_of = lookup_identities(
            session,
            [external_identity(brand_id, ALIAS_SOURCE, c) for c in orders["customer_id"].unique()],
        )
        product_ids = _product_ids(session, brand_id)

    # Orders whose customer is unknown cannot be stored; their items and payments follow.
    known = orders["customer_id"].map(
        lambda c: customer_of.get(external_identity(brand_id, ALIAS_SOURCE, c))
    )
    orphan = known.isna()
    _reject_rows(
        orders[orphan], "orders", files.orders.name, "customer_id", "unknown customer", report
    )
    orders = orders[~orphan].assign(customer_pk=known[~orphan])
    valid_orders = set(orders["order_id"])
    bad_items = ~items["order_id"].isin(valid_orders)
    _reject_rows(
        items[bad_items],
        "order_items",
        files.items.name,
        "order_id",
        "order not imported (unknown or rejected)",
        report,
    )
    items = items[~bad_items]
    unknown_product = ~items["product_id"].isin(product_ids)
    _reject_rows(
        items[unknown_product],
        "order_items",
        files.items.name,
        "product_id",
        "unknown product",
        report,
    )
    items = items[~unknown_product]
    bad_pay = ~payments["order_id"].isin(valid_orders)
    _reject_rows(
        payments[bad_pay],
        "payments",
        files.payments.name if files.payments else "",
        "order_id",
        "order not imported (unknown or rejected)",
        report,
    )
    payments = payments[~bad_pay]

    canonical = _canonical_orders(orders, items, payments)

    def on_reject(order: CanonicalOrder, problems: list[Problem]) -> None:
        for problem in problems:
            entity, file = (
                ("order_items", files.items) if problem.line else ("orders", files.orders)
            )
            line = problem.line.origin if problem.line else order.origin
            report.reject(
                Reject(entity, file.name, line, problem.field, problem.value, problem.reason)
            )

    write_orders_in_chunks(
        engine,
        brand_id=brand_id,
        source=SOURCE,
        orders=canonical,
        report=report,
        on_reject=on_reject,
        product_ids=product_ids,
        # The published data holds orders without items (mostly unavailable or canceled):
        # they are facts of the store, kept as they are.
        items_required=False,
        progress=tick,
    )
    _record_cancellations(engine, brand_id, canonical, files.orders.name, report)


def _canonical_orders(
    orders: pd.DataFrame, items: pd.DataFrame, payments: pd.DataFrame
) -> list[CanonicalOrder]:
    """Olist's three files as canonical orders (``origin``: the line in each file)."""
    lines: dict[str, list[OrderLine]] = {}
    for order_id, number, product, seller, price, freight, line in zip(
        *(items[c] for c in ("order_id", "order_item_id", "product_id", "seller_id")),
        *(items[c] for c in ("price", "freight_value", LINE)),
        strict=True,
    ):
        lines.setdefault(order_id, []).append(
            OrderLine(
                line_number=number,
                product=str(product),
                quantity=1,
                unit_price_minor=price,
                freight_minor=freight or 0,
                seller_ref=seller,
                origin=int(line),
            )
        )
    pays: dict[str, list[OrderPayment]] = {}
    for order_id, sequence, kind, installments, amount, line in zip(
        *(payments[c] for c in ("order_id", "payment_sequential", "payment_type")),
        *(payments[c] for c in ("payment_installments", "payment_value", LINE)),
        strict=True,
    ):
        pays.setdefault(order_id, []).append(
            OrderPayment(
                sequence=sequence,
                payment_type=kind,
                installments=installments or 1,
                amount_minor=amount,
                origin=int(line),
            )
        )
    return [
        CanonicalOrder(
            external_id=o["order_id"],
            customer=int(o["customer_pk"]),
            status=OrderStatus(STATUSES[o["order_status"]]),
            raw_status=o["order_status"],
            channel="marketplace",
            currency="BRL",
            purchased_at=o["order_purchase_timestamp"],
            approved_at=o["order_approved_at"],
            shipped_at=o["order_delivered_carrier_date"],
            delivered_at=o["order_delivered_customer_date"],
            estimated_delivery_at=o["order_estimated_delivery_date"],
            lines=lines.get(o["order_id"], []),
            payments=pays.get(o["order_id"], []),
            origin=int(o[LINE]),
        )
        for o in cast(list[dict[str, Any]], orders.to_dict("records"))
    ]


def _record_cancellations(
    engine: Engine, brand_id: int, orders: list[CanonicalOrder], file: str, report: ImportReport
) -> None:
    """A cancellation row for the total of each canceled order."""
    canceled = [o for o in orders if o.status is OrderStatus.CANCELED]
    counts = report.entity("cancellations")
    counts.read += len(canceled)

    def on_reject(item: CanonicalReturn, column: str, value: str, reason: str) -> None:
        report.reject(Reject("cancellations", file, item.origin, column, value, reason))

    with unit_of_work(engine) as session:
        write_returns(
            session,
            brand_id=brand_id,
            source=SOURCE,
            returns=[
                CanonicalReturn(
                    external_id=f"cancel:{o.external_id}",
                    order=o.external_id,
                    kind="cancellation",
                    reason="order canceled (status in the source)",
                    amount_minor=o.total_minor,
                    currency="BRL",
                    created_at=o.approved_at or o.purchased_at,
                    origin=o.origin,
                )
                for o in canceled
            ],
            counts=counts,
            on_reject=on_reject,
        )


def _reject_rows(
    frame: pd.DataFrame, entity: str, file: str, column: str, reason: str, report: ImportReport
) -> None:
    for line, value in zip(frame[LINE], frame[column], strict=True):
        report.reject(Reject(entity, file, int(line), column, str(value), reason))
    report.entity(entity).rejected += len(frame)


def _product_ids(session: Session, brand_id: int) -> dict[str, int]:
    from recompra.models import Product

    rows = session.execute(
        select(Product.external_id, Product.id).where(
            Product.brand_id == brand_id, Product.source == SOURCE
        )
    )
    return {external: pid for external, pid in rows}


def _import_reviews(session: Session, path: Path, brand_id: int, report: ImportReport) -> None:
    reviews = _read(path, REVIEW_FIELDS, "reviews", report)
    reviews = first_of_key(reviews, ["review_id", "order_id"], "reviews", path.name, report)
    rows = session.execute(
        select(Order.external_id, Order.id, Order.customer_id).where(
            Order.brand_id == brand_id, Order.source == SOURCE
        )
    )
    orders = {external: (oid, cid) for external, oid, cid in rows}
    missing = ~reviews["order_id"].isin(orders)
    _reject_rows(reviews[missing], "reviews", path.name, "order_id", "order not imported", report)
    reviews = reviews[~missing]
    REVIEWS.upsert(
        session,
        brand_id=brand_id,
        source=SOURCE,
        rows=[
            {
                "external_id": f"{r.review_id}:{r.order_id}",
                "order_id": orders[str(r.order_id)][0],
                "customer_id": orders[str(r.order_id)][1],
                "score": r.review_score,
                "title": r.review_comment_title,
                "comment": r.review_comment_message,
                "created_at": r.review_creation_date,
                "answered_at": r.review_answer_timestamp,
            }
            for r in reviews.itertuples(index=False)
        ],
        counts=report.entity("reviews"),
    )
