"""Export the operational database into an analytics snapshot (Parquet, fixed schemas).

Analytics, predictions and recommendations never query the operational database: they
read this snapshot, so the same job runs on DuckDB here and on Spark over the same files.
Rows of merged customers are already re-pointed to the survivor by the merge itself.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
from sqlalchemy import Engine, and_, func, not_, select

from recompra.models import (
    BrandCustomer,
    Category,
    Customer,
    Order,
    OrderItem,
    Payment,
    Product,
    Return,
    Review,
)
from recompra.snapshot.io import conform, write_snapshot
from recompra.snapshot.schema import SCHEMAS


def _frame(engine: Engine, statement: Any) -> pd.DataFrame:
    with engine.connect() as connection:
        rows = connection.execute(statement)
        return pd.DataFrame(rows.fetchall(), columns=list(rows.keys()))


def _arrow(frame: pd.DataFrame, name: str) -> pa.Table:
    schema = SCHEMAS[name]
    arrays = []
    for field in schema:
        column = frame[field.name] if field.name in frame else pd.Series([None] * len(frame))
        if pa.types.is_timestamp(field.type):
            column = pd.to_datetime(column, utc=True)
        arrays.append(pa.array(column, type=field.type, from_pandas=True))
    return conform(pa.Table.from_arrays(arrays, schema=schema), name)


def snapshot_tables(engine: Engine, *, brand_id: int | None = None) -> dict[str, pa.Table]:
    """Read the hub tables (optionally of one brand) into snapshot-shaped Arrow tables."""

    def scoped(statement: Any, column: Any) -> Any:
        return statement if brand_id is None else statement.where(column == brand_id)

    orders = _frame(
        engine,
        scoped(
            select(
                Order.id.label("order_id"),
                Order.brand_id,
                Order.customer_id,
                Order.status,
                Order.channel,
                Order.currency,
                Order.purchased_at,
                Order.approved_at,
                Order.delivered_at,
                Order.items_total_minor,
                Order.freight_total_minor,
                Order.discount_total_minor,
                Order.total_minor,
            ),
            Order.brand_id,
        ),
    )
    first_order = select(Order.customer_id, func.min(Order.purchased_at).label("first_seen_at"))
    first_order = scoped(first_order, Order.brand_id).group_by(Order.customer_id).subquery()
    customers = _frame(
        engine,
        scoped(
            select(
                Customer.id.label("customer_id"),
                BrandCustomer.brand_id,
                func.coalesce(first_order.c.first_seen_at, BrandCustomer.first_seen_at).label(
                    "first_seen_at"
                ),
                Customer.city,
                Customer.state,
                Customer.birth_date,
            )
            .join(BrandCustomer, BrandCustomer.customer_id == Customer.id)
            .outerjoin(first_order, first_order.c.customer_id == Customer.id)
            .where(Customer.merged_into_id.is_(None)),
            BrandCustomer.brand_id,
        ),
    )
    categories = _frame(
        engine,
        scoped(
            select(
                Category.id.label("category_id"),
                Category.brand_id,
                Category.slug,
                Category.name_pt,
                Category.name_en,
            ),
            Category.brand_id,
        ),
    )
    products = _frame(
        engine,
        scoped(
            select(
                Product.id.label("product_id"),
                Product.brand_id,
                Product.external_id,
                Product.name,
                Product.category_id,
                Product.list_price_minor,
                not_(Product.is_merchandise).label("non_merchandise"),
            ),
            Product.brand_id,
        ),
    )
    items = _frame(
        engine,
        scoped(
            select(
                OrderItem.order_id,
                OrderItem.line_number,
                OrderItem.product_id,
                Product.category_id,
                OrderItem.quantity,
                OrderItem.unit_price_minor,
                OrderItem.total_minor,
            )
            .join(Order, Order.id == OrderItem.order_id)
            .outerjoin(Product, Product.id == OrderItem.product_id),
            Order.brand_id,
        ),
    )
    payments = _frame(
        engine,
        scoped(
            select(
                Payment.order_id,
                Payment.sequence,
                Payment.payment_type,
                Payment.installments,
                Payment.amount_minor,
            ).join(Order, Order.id == Payment.order_id),
            Order.brand_id,
        ),
    )
    returns = _frame(
        engine,
        scoped(
            select(
                Return.id.label("return_id"),
                Return.order_id,
                Order.customer_id,
                Return.kind,
                Return.created_at,
                Return.amount_minor,
            ).join(Order, Order.id == Return.order_id),
            Return.brand_id,
        ),
    )
    reviews = _frame(
        engine,
        scoped(
            select(
                Review.id.label("review_id"),
                Review.order_id,
                Review.customer_id,
                Review.score,
                and_(Review.comment.is_not(None), Review.comment != "").label("has_comment"),
                Review.created_at,
            ),
            Review.brand_id,
        ),
    )
    frames = {
        "customers": customers,
        "categories": categories,
        "products": products,
        "orders": orders,
        "order_items": items,
        "payments": payments,
        "returns": returns,
        "reviews": reviews,
    }
    return {name: _arrow(frame, name) for name, frame in frames.items()}


def export_snapshot(
    engine: Engine, directory: Path, *, brand_id: int | None = None, as_of: datetime | None = None
) -> dict[str, pa.Table]:
    """Write the snapshot of the database (optionally one brand) into ``directory``."""
    tables = snapshot_tables(engine, brand_id=brand_id)
    write_snapshot(directory, tables, as_of=as_of)
    return tables
