"""Olist CSVs -> snapshot-shaped Arrow tables (test helper; reads the raw files directly)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from recompra.snapshot.io import write_snapshot


def _read(olist_dir: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(olist_dir / f"{name}.csv.gz", encoding="utf-8-sig")


def _utc(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series).dt.tz_localize("UTC")


def _minor(series: pd.Series) -> pd.Series:
    return (series * 100).round().astype("int64")


def olist_frames(olist_dir: Path) -> dict[str, pd.DataFrame]:
    """Return snapshot tables (as pandas) built from the raw Olist files.

    Customers are Olist's ``customer_unique_id`` (the person); ids are dense integers in
    sorted order of the original hex ids.
    """
    customers = _read(olist_dir, "olist_customers_dataset")
    orders = _read(olist_dir, "olist_orders_dataset")
    items = _read(olist_dir, "olist_order_items_dataset")
    products = _read(olist_dir, "olist_products_dataset")
    names = _read(olist_dir, "product_category_name_translation")
    reviews = _read(olist_dir, "olist_order_reviews_dataset_partial_10k")

    person_ids = {u: i + 1 for i, u in enumerate(sorted(customers.customer_unique_id.unique()))}
    person_of = dict(zip(customers.customer_id, customers.customer_unique_id, strict=True))
    order_ids = {o: i + 1 for i, o in enumerate(sorted(orders.order_id.unique()))}
    product_ids = {p: i + 1 for i, p in enumerate(sorted(products.product_id.unique()))}
    slugs = sorted(products.product_category_name.dropna().unique())
    category_ids = {s: i + 1 for i, s in enumerate(slugs)}
    english = dict(
        zip(names.product_category_name, names.product_category_name_english, strict=True)
    )

    first_seen = (
        orders.assign(person=orders.customer_id.map(person_of))
        .groupby("person")
        .order_purchase_timestamp.min()
    )
    snap_customers = pd.DataFrame(
        {
            "customer_id": [person_ids[p] for p in first_seen.index],
            "brand_id": 1,
            "first_seen_at": _utc(first_seen.reset_index(drop=True)),
            "city": None,
            "state": None,
            "birth_date": None,
        }
    )
    snap_categories = pd.DataFrame(
        {
            "category_id": [category_ids[s] for s in slugs],
            "brand_id": 1,
            "slug": slugs,
            "name_pt": [s.replace("_", " ") for s in slugs],
            "name_en": [english.get(s, s).replace("_", " ") for s in slugs],
        }
    )
    product_category = dict(zip(products.product_id, products.product_category_name, strict=True))
    snap_products = pd.DataFrame(
        {
            "product_id": [product_ids[p] for p in products.product_id],
            "brand_id": 1,
            "external_id": products.product_id,
            "name": products.product_id,
            "category_id": [
                category_ids.get(c) if isinstance(c, str) else None
                for c in products.product_category_name
            ],
            "list_price_minor": None,
        }
    ).astype({"category_id": "Int64"})

    item_price = _minor(items.price)
    item_freight = _minor(items.freight_value)
    snap_items = pd.DataFrame(
        {
            "order_id": items.order_id.map(order_ids),
            "line_number": items.order_item_id.astype("int32"),
            "product_id": items.product_id.map(product_ids),
            "category_id": [
                category_ids.get(c) if isinstance(c, str) else None
                for c in items.product_id.map(product_category)
            ],
            "quantity": np.int32(1),
            "unit_price_minor": item_price,
            "total_minor": item_price,
        }
    ).astype({"category_id": "Int64"})
    totals = (
        pd.DataFrame({"order_id": items.order_id, "items": item_price, "freight": item_freight})
        .groupby("order_id")
        .sum()
    )
    order_items_total = orders.order_id.map(totals["items"]).fillna(0).astype("int64")
    order_freight = orders.order_id.map(totals["freight"]).fillna(0).astype("int64")
    snap_orders = pd.DataFrame(
        {
            "order_id": orders.order_id.map(order_ids),
            "brand_id": 1,
            "customer_id": orders.customer_id.map(person_of).map(person_ids),
            "status": orders.order_status,
            "channel": "web",
            "currency": "BRL",
            "purchased_at": _utc(orders.order_purchase_timestamp),
            "approved_at": _utc(orders.order_approved_at),
            "delivered_at": _utc(orders.order_delivered_customer_date),
            "items_total_minor": order_items_total,
            "freight_total_minor": order_freight,
            "discount_total_minor": 0,
            "total_minor": order_items_total + order_freight,
        }
    )
    order_person = dict(zip(snap_orders.order_id, snap_orders.customer_id, strict=True))
    review_orders = reviews.order_id.map(order_ids)
    snap_reviews = pd.DataFrame(
        {
            "review_id": np.arange(1, len(reviews) + 1),
            "order_id": review_orders,
            "customer_id": review_orders.map(order_person),
            "score": reviews.review_score.astype("int8"),
            "has_comment": reviews.review_comment_message.notna(),
            "created_at": _utc(reviews.review_creation_date),
        }
    )
    return {
        "customers": snap_customers,
        "categories": snap_categories,
        "products": snap_products,
        "orders": snap_orders,
        "order_items": snap_items,
        "reviews": snap_reviews,
    }


def write_olist_snapshot(olist_dir: Path, out: Path) -> dict[str, pd.DataFrame]:
    """Write the Olist snapshot to ``out`` and return the frames."""
    frames = olist_frames(olist_dir)
    tables = {name: pa.Table.from_pandas(f, preserve_index=False) for name, f in frames.items()}
    write_snapshot(out, tables)
    return frames
