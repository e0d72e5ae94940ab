"""Read the Olist CSVs into snapshot-shaped Arrow tables (test and benchmark helper).

Olist ids are hex strings; they become dense int64 ids. A person is
``customer_unique_id`` (Olist's ``customer_id`` is one per order). Olist has no list
prices, so ``list_price_minor`` is left null and the recommenders use the median paid
price. Timestamps are taken as UTC.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from recompra.snapshot.io import conform


def _ids(values: pd.Series, codes: pd.Index) -> np.ndarray:
    return np.asarray(codes.get_indexer(values), dtype=np.int64) + 1


def _ts(values: pd.Series) -> pa.Array:
    parsed = pd.to_datetime(values, errors="coerce").dt.tz_localize("UTC")
    return pa.array(parsed, type=pa.timestamp("us", tz="UTC"))


def olist_tables(directory: Path) -> dict[str, pa.Table]:
    """Return ``orders, order_items, products, categories, customers, reviews`` tables."""
    d = Path(directory)
    customers = pd.read_csv(d / "olist_customers_dataset.csv.gz")
    orders = pd.read_csv(d / "olist_orders_dataset.csv.gz")
    items = pd.read_csv(d / "olist_order_items_dataset.csv.gz")
    products = pd.read_csv(d / "olist_products_dataset.csv.gz")
    names = pd.read_csv(d / "product_category_name_translation.csv.gz", encoding="utf-8-sig")
    reviews = pd.read_csv(d / "olist_order_reviews_dataset_partial_10k.csv.gz")

    person = customers.set_index("customer_id")["customer_unique_id"]
    person_codes = pd.Index(customers["customer_unique_id"].unique())
    order_codes = pd.Index(orders["order_id"].unique())
    product_codes = pd.Index(products["product_id"].unique())
    cat_names = products["product_category_name"].fillna("sem_categoria")
    cat_codes = pd.Index(sorted(cat_names.unique()))
    translation = names.set_index("product_category_name")["product_category_name_english"]

    product_cat = pd.Series(_ids(cat_names, cat_codes), index=products["product_id"])
    orders_t = pa.table(
        {
            "order_id": _ids(orders["order_id"], order_codes),
            "brand_id": np.ones(len(orders), dtype=np.int64),
            "customer_id": _ids(orders["customer_id"].map(person), person_codes),
            "status": orders["order_status"].astype(str),
            "channel": ["web"] * len(orders),
            "currency": ["BRL"] * len(orders),
            "purchased_at": _ts(orders["order_purchase_timestamp"]),
            "approved_at": _ts(orders["order_approved_at"]),
            "delivered_at": _ts(orders["order_delivered_customer_date"]),
            "items_total_minor": pa.nulls(len(orders), pa.int64()),
            "freight_total_minor": pa.nulls(len(orders), pa.int64()),
            "discount_total_minor": pa.nulls(len(orders), pa.int64()),
            "total_minor": pa.nulls(len(orders), pa.int64()),
        }
    )
    price = np.round(items["price"].to_numpy() * 100).astype(np.int64)
    items_t = pa.table(
        {
            "order_id": _ids(items["order_id"], order_codes),
            "line_number": items["order_item_id"].astype("int32"),
            "product_id": _ids(items["product_id"], product_codes),
            "category_id": product_cat.reindex(items["product_id"]).to_numpy(dtype=np.int64),
            "quantity": np.ones(len(items), dtype=np.int32),
            "unit_price_minor": price,
            "total_minor": price,
        }
    )
    cat_en = [str(translation.get(c, c)) for c in cat_names]
    products_t = pa.table(
        {
            "product_id": _ids(products["product_id"], product_codes),
            "brand_id": np.ones(len(products), dtype=np.int64),
            "external_id": products["product_id"].astype(str),
            "name": [f"{c} {p[:6]}" for c, p in zip(cat_en, products["product_id"], strict=True)],
            "category_id": product_cat.to_numpy(dtype=np.int64),
            "list_price_minor": pa.nulls(len(products), pa.int64()),
        }
    )
    categories_t = pa.table(
        {
            "category_id": np.arange(1, len(cat_codes) + 1, dtype=np.int64),
            "brand_id": np.ones(len(cat_codes), dtype=np.int64),
            "slug": list(cat_codes),
            "name_pt": [c.replace("_", " ") for c in cat_codes],
            "name_en": [str(translation.get(c, c)).replace("_", " ") for c in cat_codes],
        }
    )
    review_order = _ids(reviews["order_id"], order_codes)
    known = review_order > 0
    reviews = reviews.loc[known]
    order_customer = pd.Series(
        orders_t.column("customer_id").to_numpy(), index=orders_t.column("order_id").to_numpy()
    )
    reviews_t = pa.table(
        {
            "review_id": np.arange(1, len(reviews) + 1, dtype=np.int64),
            "order_id": review_order[known],
            "customer_id": order_customer.reindex(review_order[known]).to_numpy(dtype=np.int64),
            "score": reviews["review_score"].astype("int8"),
            "has_comment": reviews["review_comment_message"].notna(),
            "created_at": _ts(reviews["review_creation_date"]),
        }
    )
    tables = {
        "orders": orders_t,
        "order_items": items_t,
        "products": products_t,
        "categories": categories_t,
        "reviews": reviews_t,
    }
    return {name: conform(table, name) for name, table in tables.items()}
