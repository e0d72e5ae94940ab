"""Row counts of the hub tables (``recompra stats``)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recompra.models import Customer, Order, OrderItem, Payment, Product, Return, Review

COUNTED = {
    "customers": Customer,
    "orders": Order,
    "order_items": OrderItem,
    "products": Product,
    "reviews": Review,
    "returns": Return,
    "payments": Payment,
}


def table_counts(session: Session) -> dict[str, int]:
    """Rows per hub table; merged customers are not counted (they are one person now)."""
    counts: dict[str, int] = {}
    for name, model in COUNTED.items():
        statement = select(func.count()).select_from(model)
        if model is Customer:
            statement = statement.where(Customer.merged_into_id.is_(None))
        counts[name] = int(session.scalar(statement) or 0)
    return counts
