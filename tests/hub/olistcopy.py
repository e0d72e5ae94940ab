"""Small copies of the Olist files (first N orders and everything they reference).

Written to a temporary directory for a test run only: the Olist licence forbids keeping
copies in the repository.
"""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

FILES = {
    "orders": "olist_orders_dataset.csv.gz",
    "items": "olist_order_items_dataset.csv.gz",
    "customers": "olist_customers_dataset.csv.gz",
    "products": "olist_products_dataset.csv.gz",
    "payments": "olist_order_payments_dataset.csv.gz",
    "reviews": "olist_order_reviews_dataset_partial_10k.csv.gz",
    "translation": "product_category_name_translation.csv.gz",
}


def _read(path: Path) -> tuple[list[str], list[list[str]]]:
    with gzip.open(path, "rt", encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def small_olist(
    source: Path, target: Path, n_orders: int
) -> dict[str, tuple[list[str], list[list[str]]]]:
    """Write plain-CSV copies restricted to the first ``n_orders`` orders; return them."""
    target.mkdir(parents=True, exist_ok=True)
    header, orders = _read(source / FILES["orders"])
    orders = orders[:n_orders]
    order_ids = {r[0] for r in orders}
    customer_ids = {r[1] for r in orders}
    out: dict[str, tuple[list[str], list[list[str]]]] = {"orders": (header, orders)}
    for name, key_index, keys in (
        ("items", 0, order_ids),
        ("customers", 0, customer_ids),
        ("payments", 0, order_ids),
        ("reviews", 1, order_ids),
    ):
        h, rows = _read(source / FILES[name])
        out[name] = (h, [r for r in rows if r[key_index] in keys])
    product_ids = {r[2] for r in out["items"][1]}
    h, rows = _read(source / FILES["products"])
    out["products"] = (h, [r for r in rows if r[0] in product_ids])
    out["translation"] = _read(source / FILES["translation"])
    for name, (h, rows) in out.items():
        _write(target / FILES[name].removesuffix(".gz"), h, rows)
    return out
