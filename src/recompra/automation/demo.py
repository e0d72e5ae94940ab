"""The automation part of ``recompra demo``: apply the ready-made journeys, then place a
few new orders for existing customers so that the journeys have something to act on.

Journeys react to what happens after they are applied (the feeds' cursors start at the
end), so the generated store's past orders start nothing; the demo's orders do. Their
ids are fixed (``demo-1`` ...), so running the demo again places no new order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

import yaml
from sqlalchemy import Engine, func, select

from recompra.automation.definition import parse_journey
from recompra.automation.service import ApplyResult, apply_journey
from recompra.db import unit_of_work
from recompra.hub.ingest.orders import ingest_orders
from recompra.models import Customer, Order, OrderItem, Product

#: The source the demo's orders are ingested under (their ids are ``demo-<n>``).
DEMO_SOURCE = "demo"


@dataclass(frozen=True)
class DemoOrders:
    """How many demo orders were placed now (0 when a previous run placed them)."""

    placed: int
    customers: int


def ready_made_documents() -> list[dict[str, Any]]:
    """The shipped journey definitions (``recompra/automation/journeys/*.yaml``)."""
    folder = resources.files("recompra.automation") / "journeys"
    documents: list[dict[str, Any]] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            documents.extend(d for d in yaml.safe_load_all(entry.read_text(encoding="utf-8")) if d)
    return documents


def apply_ready_made(engine: Engine, *, brand_id: int) -> list[ApplyResult]:
    """Apply every ready-made journey to the brand (unchanged ones stay as they are)."""
    definitions = [parse_journey(d) for d in ready_made_documents()]
    with unit_of_work(engine) as session:
        return [apply_journey(session, brand_id=brand_id, definition=d) for d in definitions]


def place_demo_orders(
    engine: Engine, *, brand_id: int, currency: str, count: int, now: datetime
) -> DemoOrders:
    """One new order (``demo-<n>``) for each of the ``count`` most recent buyers with an
    e-mail, repeating a product of their last order; through the hub's ingest path."""
    with unit_of_work(engine) as session:
        done = session.scalar(
            select(func.count())
            .select_from(Order)
            .where(Order.brand_id == brand_id, Order.source == DEMO_SOURCE)
        )
        if done:
            return DemoOrders(placed=0, customers=int(done))
        last = (
            select(Order.customer_id, func.max(Order.id).label("order_id"))
            .where(Order.brand_id == brand_id)
            .group_by(Order.customer_id)
            .subquery()
        )
        buyers = session.execute(
            select(Customer.email, Customer.name, Product.external_id, Product.name, OrderItem)
            .join(last, last.c.customer_id == Customer.id)
            .join(OrderItem, OrderItem.order_id == last.c.order_id)
            .join(Product, Product.id == OrderItem.product_id)
            .where(Customer.email.is_not(None))
            .order_by(last.c.order_id.desc(), OrderItem.id)
        ).all()
        orders: list[dict[str, Any]] = []
        seen: set[str] = set()
        for email, name, product_id, product_name, item in buyers:
            if email is None or email in seen or len(orders) == count:
                continue
            seen.add(email)
            orders.append(
                {
                    "order_id": f"demo-{len(orders) + 1}",
                    "purchased_at": now.isoformat(),
                    "status": "approved",
                    "customer": {"email": email, "name": name},
                    "items": [
                        {
                            "product_id": product_id,
                            "product_name": product_name,
                            "unit_price_minor": item.unit_price_minor,
                        }
                    ],
                }
            )
        ingest_orders(
            session, brand_id=brand_id, source=DEMO_SOURCE, orders=orders, currency=currency
        )
    return DemoOrders(placed=len(orders), customers=len(orders))
