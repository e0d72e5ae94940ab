"""Arrow schemas of the analytics snapshot (one Parquet file or directory per table).

This is the contract between the data hub (which exports it), the synthetic generator
(which writes it directly at benchmark sizes) and the analytics, prediction and
recommendation code (which read it). Conventions:

* ids are int64 surrogate keys (the database ids when exported from the hub);
* money is int64 minor units (centavos) with the currency in ``currency``;
* timestamps are ``timestamp[us, tz=UTC]``;
* ``status`` is the normalised order status (see ``ORDER_STATUSES``).

A snapshot directory holds ``<table>.parquet`` (a file, or a directory of part files at
benchmark sizes) for each table in ``SCHEMAS`` plus ``manifest.json``.
"""

from __future__ import annotations

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")

#: Normalised order statuses. ``canceled`` orders never count as purchases in analytics;
#: ``returned`` orders count as purchases whose value is reduced by their returns.
ORDER_STATUSES = (
    "created",
    "approved",
    "invoiced",
    "processing",
    "shipped",
    "delivered",
    "canceled",
    "unavailable",
    "returned",
)

#: Statuses that are not a real purchase (excluded from RFM, CLV, cohorts, KPIs).
NON_PURCHASE_STATUSES = ("canceled", "unavailable")

#: Per-customer scores an analytics run computes from a snapshot (besides ``customer_id``
#: and ``as_of``). Named here, below both, because analytics produces them and the hub
#: stores them in ``customer_scores``, and neither may import the other.
ANALYTICS_SCORE_COLUMNS = (
    "recency_days",
    "frequency",
    "monetary_minor",
    "r_score",
    "f_score",
    "m_score",
    "segment",
    "cluster",
)

CUSTOMERS = pa.schema(
    [
        ("customer_id", pa.int64()),
        ("brand_id", pa.int64()),
        ("first_seen_at", TS),
        ("city", pa.string()),
        ("state", pa.string()),
        ("birth_date", pa.date32()),
    ]
)

CATEGORIES = pa.schema(
    [
        ("category_id", pa.int64()),
        ("brand_id", pa.int64()),
        ("slug", pa.string()),
        ("name_pt", pa.string()),
        ("name_en", pa.string()),
    ]
)

PRODUCTS = pa.schema(
    [
        ("product_id", pa.int64()),
        ("brand_id", pa.int64()),
        ("external_id", pa.string()),
        ("name", pa.string()),
        ("category_id", pa.int64()),
        ("list_price_minor", pa.int64()),
        # Postage, fees, vouchers (the hub's ``products.is_merchandise`` negated): they
        # count in order totals but are never offered (recommend filters them out).
        ("non_merchandise", pa.bool_()),
    ]
)

ORDERS = pa.schema(
    [
        ("order_id", pa.int64()),
        ("brand_id", pa.int64()),
        ("customer_id", pa.int64()),
        ("status", pa.string()),
        ("channel", pa.string()),
        ("currency", pa.string()),
        ("purchased_at", TS),
        ("approved_at", TS),
        ("delivered_at", TS),
        ("items_total_minor", pa.int64()),
        ("freight_total_minor", pa.int64()),
        ("discount_total_minor", pa.int64()),
        ("total_minor", pa.int64()),
    ]
)

ORDER_ITEMS = pa.schema(
    [
        ("order_id", pa.int64()),
        ("line_number", pa.int32()),
        ("product_id", pa.int64()),
        ("category_id", pa.int64()),
        ("quantity", pa.int32()),
        ("unit_price_minor", pa.int64()),
        ("total_minor", pa.int64()),
    ]
)

PAYMENTS = pa.schema(
    [
        ("order_id", pa.int64()),
        ("sequence", pa.int32()),
        ("payment_type", pa.string()),
        ("installments", pa.int32()),
        ("amount_minor", pa.int64()),
    ]
)

#: ``kind`` is ``return`` or ``cancellation``; ``amount_minor`` is the refunded value.
RETURNS = pa.schema(
    [
        ("return_id", pa.int64()),
        ("order_id", pa.int64()),
        ("customer_id", pa.int64()),
        ("kind", pa.string()),
        ("created_at", TS),
        ("amount_minor", pa.int64()),
    ]
)

REVIEWS = pa.schema(
    [
        ("review_id", pa.int64()),
        ("order_id", pa.int64()),
        ("customer_id", pa.int64()),
        ("score", pa.int8()),
        ("has_comment", pa.bool_()),
        ("created_at", TS),
    ]
)

SCHEMAS: dict[str, pa.Schema] = {
    "customers": CUSTOMERS,
    "categories": CATEGORIES,
    "products": PRODUCTS,
    "orders": ORDERS,
    "order_items": ORDER_ITEMS,
    "payments": PAYMENTS,
    "returns": RETURNS,
    "reviews": REVIEWS,
}

#: Columns a snapshot written before they existed (or by another producer) may lack, and
#: the value they take then: reading such a snapshot stays possible and means "no flag".
OPTIONAL_COLUMNS: dict[str, dict[str, object]] = {"products": {"non_merchandise": False}}
