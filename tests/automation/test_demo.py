"""The demo's automation setup on both backends: the ready-made journeys applied, one new
order for each of the most recent buyers (the same customers, found by e-mail through the
hub's ingest path), runs started for them; running it again changes nothing."""

from __future__ import annotations

from datetime import timedelta

from automationtest import NOON, make_store
from sqlalchemy import Engine, func, select

from recompra.automation.demo import (
    DEMO_SOURCE,
    apply_ready_made,
    place_demo_orders,
    ready_made_documents,
)
from recompra.automation.worker import ingest_triggers
from recompra.db import unit_of_work
from recompra.hub.ingest.orders import ingest_orders
from recompra.models import Customer, Order
from recompra.models.automation import JourneyRun
from recompra.models.base import utcnow

BUYERS = 6


def test_the_demo_setup_starts_runs_for_its_orders_once(engine: Engine) -> None:
    store = make_store(engine, customers=0, points=0)
    past = [
        {
            "order_id": f"past-{n}",
            "purchased_at": (NOON - timedelta(days=30 - n)).isoformat(),
            "customer": {"email": f"buyer{n}@example.com", "name": f"Comprador {n}"},
            "items": [{"product_id": f"p{n % 2}", "unit_price_minor": 5000 + n}],
        }
        for n in range(BUYERS)
    ]
    with unit_of_work(engine) as session:
        assert (
            ingest_orders(session, brand_id=store.brand_id, source="shop", orders=past).rejects
            == []
        )
    results = apply_ready_made(engine, brand_id=store.brand_id)
    assert sorted((r.key, r.outcome) for r in results) == sorted(
        (d["key"], "created") for d in ready_made_documents()
    )
    placed = place_demo_orders(engine, brand_id=store.brand_id, currency="BRL", count=3, now=NOON)
    assert placed.placed == 3
    with unit_of_work(engine, write=False) as session:
        buyers = session.scalars(
            select(Customer.email)
            .join(Order, Order.customer_id == Customer.id)
            .where(Order.source == DEMO_SOURCE)
            .order_by(Customer.email)
        ).all()
        customers = session.scalar(select(func.count()).select_from(Customer))
    # The three most recent buyers (past orders 3, 4 and 5), no new customer.
    assert buyers == [f"buyer{n}@example.com" for n in (3, 4, 5)]
    assert customers == BUYERS
    # The order feed reads orders by when they were stored (now), not purchased.
    ingest_triggers(engine, now=utcnow() + timedelta(seconds=5))
    with unit_of_work(engine, write=False) as session:
        runs = session.scalar(select(func.count()).select_from(JourneyRun))
    # Two ready-made journeys start on an order: the thank-you and the review request.
    assert runs == 6
    again = place_demo_orders(engine, brand_id=store.brand_id, currency="BRL", count=3, now=NOON)
    assert again.placed == 0
    assert {r.outcome for r in apply_ready_made(engine, brand_id=store.brand_id)} == {"unchanged"}
