"""Run the earning rules of a version over an order (or a review/birthday trigger)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

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


def order_snapshot(session: Session, *, order: Order) -> OrderSnapshot:
    """Read an order, its lines (with product and category) and the customer's history."""
    stmt = (
        select(
            OrderItem.line_number,
            OrderItem.quantity,
            OrderItem.unit_price_minor,
            OrderItem.discount_minor,
            OrderItem.product_id,
            Product.external_id,
            Category.slug,
        )
        .outerjoin(Product, Product.id == OrderItem.product_id)
        .outerjoin(Category, Category.id == Product.category_id)
        .where(OrderItem.order_id == order.id)
        .order_by(OrderItem.line_number)
    )
    lines = tuple(
        OrderLine(
            line_number=row.line_number,
            amount_minor=max(0, row.quantity * row.unit_price_minor - row.discount_minor),
            product_id=row.product_id,
            product_ref=row.external_id,
            category=row.slug,
        )
        for row in session.execute(stmt)
    )
    if not lines:
        # An order imported without items earns on its item total, net of discounts.
        amount = max(0, order.items_total_minor - order.discount_total_minor)
        lines = (OrderLine(line_number=1, amount_minor=amount),)
    previous = session.scalar(
        select(func.count())
        .select_from(Order)
        .where(
            Order.brand_id == order.brand_id,
            Order.customer_id == order.customer_id,
            Order.id != order.id,
            Order.purchased_at < order.purchased_at,
            Order.status.not_in(NON_EARNING_STATUSES),
        )
    )
    return OrderSnapshot(
        order_id=order.id,
        customer_id=order.customer_id,
        purchased_at=order.purchased_at,
        lines=lines,
        previous_orders=int(previous or 0),
    )
