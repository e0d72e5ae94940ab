"""Run the earning rules of a version over an order (or a review/birthday trigger)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session, aliased

from recompra.loyalty.prepared import Prepared, run
from recompra.loyalty.rules.calculation import (
    Calculation,
    EarnContext,
    LineCalculation,
    OrderLine,
    OrderSnapshot,
)
from recompra.loyalty.rules.strategies import Rule
from recompra.models.catalog import Category, Product
from recompra.models.order import Order, OrderItem

#: Orders in these statuses never count (as an earning order or as a previous order).
NON_EARNING_STATUSES = ("canceled", "unavailable")


def calculate(
    rules: list[Rule],
    *,
    order: OrderSnapshot | None,
    ctx: EarnContext,
    rule_version: int | None = None,
) -> Calculation:
    """Apply ``rules`` (already sorted by priority) for ``ctx.trigger``."""
    lines = [
        LineCalculation(line=line, eligible_minor=line.amount_minor)
        for line in (order.lines if order is not None else ())
    ]
    calc = Calculation(lines=lines, rule_version=rule_version)
    for rule in rules:
        if ctx.trigger in rule.triggers:
            rule.apply(order, ctx, calc)
    return calc


LINES = Prepared(
    select(
        OrderItem.line_number,
        OrderItem.quantity,
        OrderItem.unit_price_minor,
        OrderItem.discount_minor,
        OrderItem.product_id,
        Product.external_id,
        Category.slug,
        Product.created_at.label("launched_at"),
    )
    .outerjoin(Product, Product.id == OrderItem.product_id)
    .outerjoin(Category, Category.id == Product.category_id)
    .where(OrderItem.order_id == bindparam("order_id"))
    .order_by(OrderItem.line_number),
    server_prepared=True,
)


def previous_orders_count(order: Any) -> Any:
    """Earlier earning orders of the same customer at the same brand.

    ``order`` is an order's columns (a correlated subquery) or a loaded ``Order``.
    """
    earlier = aliased(Order)
    return (
        select(func.count())
        .select_from(earlier)
        .where(
            earlier.brand_id == order.brand_id,
            earlier.customer_id == order.customer_id,
            earlier.id != order.id,
            earlier.purchased_at < order.purchased_at,
            earlier.status.not_in(NON_EARNING_STATUSES),
        )
        .scalar_subquery()
    )


def snapshot_from(
    session: Session,
    *,
    order_id: int,
    customer_id: int,
    purchased_at: datetime,
    items_total_minor: int,
    discount_total_minor: int,
    previous_orders: int,
) -> OrderSnapshot:
    """An order snapshot from the order's columns (its lines are read here)."""
    lines = tuple(
        OrderLine(
            line_number=row.line_number,
            amount_minor=max(0, row.quantity * row.unit_price_minor - row.discount_minor),
            product_id=row.product_id,
            product_ref=row.external_id,
            category=row.slug,
            launched_at=row.launched_at,
        )
        for row in run(session, LINES, {"order_id": order_id}).all()
    )
    if not lines:
        # An order imported without items earns on its item total, net of discounts.
        amount = max(0, items_total_minor - discount_total_minor)
        lines = (OrderLine(line_number=1, amount_minor=amount),)
    return OrderSnapshot(
        order_id=order_id,
        customer_id=customer_id,
        purchased_at=purchased_at,
        lines=lines,
        previous_orders=previous_orders,
    )


def order_snapshot(session: Session, *, order: Order) -> OrderSnapshot:
    """Read an order, its lines (with product and category) and the customer's history."""
    previous = session.scalar(select(previous_orders_count(order)))
    return snapshot_from(
        session,
        order_id=order.id,
        customer_id=order.customer_id,
        purchased_at=order.purchased_at,
        items_total_minor=order.items_total_minor,
        discount_total_minor=order.discount_total_minor,
        previous_orders=int(previous or 0),
    )
