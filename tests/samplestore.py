"""A small deterministic two-brand store for the API and browser tests and the benchmarks.

Rows are inserted with the ORM (not the hub importers) so that the API can be tested
on its own. Brand ``loja-a`` has ``customers`` customers with orders over several
months, returns, reviews, events and two scoring dates; brand ``loja-b`` has a few
customers of its own plus one person shared with ``loja-a``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from recompra.analytics import segment_of
from recompra.db import unit_of_work
from recompra.models import (
    Brand,
    BrandCustomer,
    Customer,
    CustomerScore,
    Event,
    Order,
    OrderItem,
    Product,
    Return,
    Review,
)

FIRST_NAMES = ("Ana", "Bruno", "Carla", "Diego", "Elisa", "Fábio", "Gabriela", "Heitor")
LAST_NAMES = ("Silva", "Souza", "Oliveira", "Santos", "Lima", "Pereira", "Costa")


@dataclass
class SampleStore:
    """Ids of what :func:`seed_sample` created."""

    brand_a: int
    brand_b: int
    customers_a: list[int] = field(default_factory=list)
    customers_b: list[int] = field(default_factory=list)
    shared_customer: int = 0
    products_a: list[int] = field(default_factory=list)
    products_b: list[int] = field(default_factory=list)
    orders_b: list[int] = field(default_factory=list)
    as_of: date = date(2024, 6, 30)


def _brand(session: Session, slug: str, name: str, n_products: int) -> tuple[Brand, list[int]]:
    brand = Brand(slug=slug, name=name)
    session.add(brand)
    session.flush()
    products = [
        Product(
            brand_id=brand.id,
            source="sample",
            external_id=f"{slug}-p{i}",
            name=f"Produto {i}",
            list_price_minor=1990 + 1000 * i,
        )
        for i in range(n_products)
    ]
    session.add_all(products)
    session.flush()
    return brand, [p.id for p in products]


def _customer(session: Session, brand_id: int, index: int, rng: random.Random) -> Customer:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    customer = Customer(
        name=f"{first} {last} {index}",
        email=f"{first.lower()}.{last.lower()}{index}@example.com".replace("á", "a"),
        city=rng.choice(("São Paulo", "Rio de Janeiro", "Belo Horizonte", "Curitiba")),
        state=rng.choice(("SP", "RJ", "MG", "PR")),
    )
    session.add(customer)
    session.flush()
    session.add(BrandCustomer(brand_id=brand_id, customer_id=customer.id))
    return customer


def _orders(
    session: Session,
    *,
    brand: Brand,
    customer: Customer,
    products: list[int],
    rng: random.Random,
    start: datetime,
    count: int,
) -> list[Order]:
    orders = []
    when = start
    for n in range(count):
        when = when + timedelta(days=rng.randint(12, 70), hours=rng.randint(0, 23))
        quantity = rng.randint(1, 3)
        price = rng.choice((2990, 4990, 8990, 12990, 19990))
        status = "canceled" if rng.random() < 0.05 else "delivered"
        order = Order(
            brand_id=brand.id,
            source="sample",
            external_id=f"{brand.slug}-{customer.id}-{n}",
            customer_id=customer.id,
            status=status,
            purchased_at=when,
            items_total_minor=quantity * price,
            freight_total_minor=990,
            total_minor=quantity * price + 990,
        )
        session.add(order)
        session.flush()
        session.add(
            OrderItem(
                order_id=order.id,
                line_number=1,
                product_id=rng.choice(products),
                quantity=quantity,
                unit_price_minor=price,
                total_minor=quantity * price,
            )
        )
        orders.append(order)
    return orders


def _scores(
    session: Session, *, brand_id: int, customer_id: int, rng: random.Random, as_ofs: list[date]
) -> None:
    for k, as_of in enumerate(as_ofs):
        r, f, m = rng.randint(1, 5), rng.randint(1, 5), rng.randint(1, 5)
        churn = round(rng.random(), 3)
        session.add(
            CustomerScore(
                brand_id=brand_id,
                customer_id=customer_id,
                as_of=as_of,
                recency_days=rng.randint(1, 400),
                frequency=f,
                monetary_minor=m * 10_000 + k,
                r_score=r,
                f_score=f,
                m_score=m,
                # The analytics' own map: seeded scores carry only keys analytics emits.
                segment=segment_of(r, f, m),
                p_alive=round(1 - churn, 3),
                expected_purchases=round(rng.random() * 3, 3),
                clv_minor=rng.randint(1_000, 250_000),
                churn_risk=churn,
                model="bgnbd+gg",
                explanations={
                    "r_score": f"último pedido há {rng.randint(1, 400)} dias",
                    "segment": f"R={r}, F={f}",
                },
            )
        )


def seed_sample(session: Session, *, customers: int = 24, seed: int = 7) -> SampleStore:
    """Insert the sample store (flushes; the caller's unit of work commits)."""
    rng = random.Random(seed)
    brand_a, products_a = _brand(session, "loja-a", "Loja A", 6)
    brand_b, products_b = _brand(session, "loja-b", "Loja B", 3)
    store = SampleStore(
        brand_a=brand_a.id, brand_b=brand_b.id, products_a=products_a, products_b=products_b
    )
    as_ofs = [date(2024, 3, 31), store.as_of]
    start = datetime(2023, 7, 1, tzinfo=UTC)
    for i in range(customers):
        customer = _customer(session, brand_a.id, i, rng)
        store.customers_a.append(customer.id)
        orders = _orders(
            session,
            brand=brand_a,
            customer=customer,
            products=products_a,
            rng=rng,
            start=start + timedelta(days=rng.randint(0, 150)),
            count=rng.randint(1, 5),
        )
        if i % 5 == 0:
            session.add(
                Return(
                    brand_id=brand_a.id,
                    source="sample",
                    external_id=f"ret-{orders[0].id}",
                    order_id=orders[0].id,
                    kind="return",
                    reason="tamanho errado",
                    amount_minor=orders[0].total_minor // 2,
                    created_at=orders[0].purchased_at + timedelta(days=10),
                )
            )
        if i % 2 == 0:
            session.add(
                Review(
                    brand_id=brand_a.id,
                    source="sample",
                    external_id=f"rev-{orders[-1].id}",
                    order_id=orders[-1].id,
                    customer_id=customer.id,
                    score=rng.randint(1, 5),
                    title="Avaliação",
                    comment="Chegou no prazo.",
                    created_at=orders[-1].purchased_at + timedelta(days=8),
                )
            )
        session.add(
            Event(
                brand_id=brand_a.id,
                customer_id=customer.id,
                type="page_view",
                occurred_at=orders[-1].purchased_at - timedelta(hours=2),
                payload={"path": "/produtos"},
            )
        )
        _scores(session, brand_id=brand_a.id, customer_id=customer.id, rng=rng, as_ofs=as_ofs)

    for i in range(3):
        customer = _customer(session, brand_b.id, 100 + i, rng)
        store.customers_b.append(customer.id)
        orders = _orders(
            session,
            brand=brand_b,
            customer=customer,
            products=products_b,
            rng=rng,
            start=start,
            count=2,
        )
        store.orders_b.extend(o.id for o in orders)
        _scores(session, brand_id=brand_b.id, customer_id=customer.id, rng=rng, as_ofs=as_ofs)

    # One person who buys from both brands: each brand sees only its own orders.
    shared = session.get(Customer, store.customers_a[0])
    assert shared is not None
    session.add(BrandCustomer(brand_id=brand_b.id, customer_id=shared.id))
    shared_orders = _orders(
        session, brand=brand_b, customer=shared, products=products_b, rng=rng, start=start, count=1
    )
    for order in shared_orders:
        order.status = "delivered"
    store.orders_b.extend(o.id for o in shared_orders)
    store.shared_customer = shared.id
    session.flush()
    return store


def analyse_sample(engine: Engine, home: Path, *, brand_id: int) -> Path:
    """Run the real analytics on one brand and write its outputs where the reads find them.

    What ``recompra analyze --brand <slug>`` writes (``<home>/analytics/<slug>/``), so the
    KPI reads have outputs to serve; returns that directory.
    """
    from recompra.analytics import run_analytics
    from recompra.analytics.outputs import write_outputs
    from recompra.analytics.ranges import PERIOD_INPUTS_DIR
    from recompra.snapshot.export import export_snapshot

    with unit_of_work(engine, write=False) as session:
        slug = session.scalar(select(Brand.slug).where(Brand.id == brand_id))
    assert slug
    snapshot = home / "snapshots" / slug
    export_snapshot(engine, snapshot, brand_id=brand_id)
    target = home / "analytics" / slug
    result = run_analytics(snapshot, "duckdb", period_inputs_dir=target / PERIOD_INPUTS_DIR)
    write_outputs(result, target, report=False)
    return target
