"""The reviews of a brand with what the scores are cut by, read from the hub.

One row per review: stars, comment, creation time, and its order's status, channel and
delivery dates, the customer's state and latest segment. An order's product categories
and sellers can be several, so they come as separate (order, value) tables; a review
then counts once in each of its order's categories or sellers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import String, func, select, type_coerce
from sqlalchemy.orm import Session

from recompra.models import Category, Customer, CustomerScore, Order, OrderItem, Product, Review

REVIEW_COLUMNS = (
    "review_id",
    "order_id",
    "customer_id",
    "score",
    "comment",
    "created_at",
    "order_status",
    "channel",
    "purchased_at",
    "delivered_at",
    "estimated_delivery_at",
    "state",
    "segment",
)


@dataclass(frozen=True)
class ReviewData:
    """A brand's reviews (``REVIEW_COLUMNS``) and their orders' categories and sellers."""

    reviews: pd.DataFrame
    categories: pd.DataFrame
    sellers: pd.DataFrame


def _frame(session: Session, statement: Any, columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(session.execute(statement).all(), columns=columns)


def _utc(column: pd.Series) -> pd.Series:
    return pd.to_datetime(column, utc=True, format="ISO8601")


def _raw(column: Any) -> Any:
    """A timestamp column as the driver returns it (SQLite: naive UTC text; PostgreSQL: an
    aware datetime): pandas parses the whole column at once in :func:`_utc`, where the ORM
    type would build and convert one Python datetime per value first."""
    return type_coerce(column, String)


def load_reviews(session: Session, *, brand_id: int) -> ReviewData:
    """Read the brand's reviews and their order, customer and segment attributes."""
    latest = (
        select(func.max(CustomerScore.as_of))
        .where(CustomerScore.brand_id == brand_id)
        .scalar_subquery()
    )
    segment = (
        select(CustomerScore.customer_id, CustomerScore.segment)
        .where(CustomerScore.brand_id == brand_id, CustomerScore.as_of == latest)
        .subquery()
    )
    statement = (
        select(
            Review.id,
            Review.order_id,
            func.coalesce(Order.customer_id, Review.customer_id),
            Review.score,
            Review.comment,
            _raw(Review.created_at),
            Order.status,
            Order.channel,
            _raw(Order.purchased_at),
            _raw(Order.delivered_at),
            _raw(Order.estimated_delivery_at),
            Customer.state,
            segment.c.segment,
        )
        .outerjoin(Order, Order.id == Review.order_id)
        .outerjoin(Customer, Customer.id == func.coalesce(Order.customer_id, Review.customer_id))
        .outerjoin(segment, segment.c.customer_id == Customer.id)
        .where(Review.brand_id == brand_id)
        .order_by(Review.id)
    )
    reviews = _frame(session, statement, list(REVIEW_COLUMNS))
    for column in ("created_at", "purchased_at", "delivered_at", "estimated_delivery_at"):
        reviews[column] = _utc(reviews[column])
    reviewed = select(Review.order_id).where(Review.brand_id == brand_id)
    categories = _frame(
        session,
        select(OrderItem.order_id, Category.slug)
        .join(Product, Product.id == OrderItem.product_id)
        .join(Category, Category.id == Product.category_id)
        .where(OrderItem.order_id.in_(reviewed))
        .distinct(),
        ["order_id", "category"],
    )
    sellers = _frame(
        session,
        select(OrderItem.order_id, OrderItem.seller_ref)
        .where(OrderItem.order_id.in_(reviewed), OrderItem.seller_ref.is_not(None))
        .distinct(),
        ["order_id", "seller"],
    )
    return ReviewData(reviews, categories, sellers)
