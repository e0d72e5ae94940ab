"""Helpers shared by the voice-of-the-customer tests (a unique module name): the Olist
import, and a small shop with its links."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import Engine

from recompra.automation.steps import DecisionContext
from recompra.db import unit_of_work
from recompra.models import Brand, BrandCustomer, Customer, Order, Review

SECRET = "voc-test-secret"
LINKS = DecisionContext(secret=SECRET, public_url="https://loja.test")
SP = timezone(timedelta(hours=-3))
#: Wednesday 17 June 2026, 10:00 in São Paulo: a business day with no holiday near.
WEDNESDAY_10H = datetime(2026, 6, 17, 10, 0, tzinfo=SP).astimezone(UTC)


@dataclass
class Shop:
    """Ids of a brand with customers (with e-mails) and one order per customer."""

    brand_id: int
    customers: list[int] = field(default_factory=list)
    orders: list[int] = field(default_factory=list)


def make_shop(engine: Engine, *, customers: int = 2) -> Shop:
    """A brand with ``customers`` customers, each with one delivered order."""
    with unit_of_work(engine) as session:
        brand = Brand(slug="loja", name="Loja Exemplo")
        session.add(brand)
        session.flush()
        shop = Shop(brand.id)
        for i in range(customers):
            customer = Customer(name=f"Cliente{i} Silva", email=f"c{i}@example.com")
            session.add(customer)
            session.flush()
            session.add(BrandCustomer(brand_id=brand.id, customer_id=customer.id))
            order = Order(
                brand_id=brand.id,
                source="test",
                external_id=f"P-{i}",
                customer_id=customer.id,
                status="delivered",
                purchased_at=WEDNESDAY_10H - timedelta(days=10),
                total_minor=10000,
                items_total_minor=10000,
                created_at=WEDNESDAY_10H - timedelta(days=10),
            )
            session.add(order)
            session.flush()
            shop.customers.append(customer.id)
            shop.orders.append(order.id)
    return shop


def add_review(
    engine: Engine, shop: Shop, index: int, score: int, *, at: datetime = WEDNESDAY_10H
) -> int:
    """A review of customer ``index``'s order; returns its id."""
    with unit_of_work(engine) as session:
        review = Review(
            brand_id=shop.brand_id,
            source="test",
            external_id=f"R-{index}-{score}-{at.timestamp()}",
            order_id=shop.orders[index],
            customer_id=shop.customers[index],
            score=score,
            comment="entrega atrasou" if score <= 2 else "ok",
            created_at=at,
        )
        session.add(review)
        session.flush()
        return review.id


@dataclass(frozen=True)
class ImportedOlist:
    """A SQLite database holding the whole Olist import, and its brand."""

    url: str
    engine: Engine
    brand_id: int
    slug: str
