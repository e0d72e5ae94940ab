"""Holdout members receive no delivery, through the real worker on the database.

Issue 16 asks for 0 deliveries over 1M simulated entries. The arm is decided by the pure
``in_holdout`` (checked over 1M entries in test_simulations.py); the database path
(the batch entry, the worker's decisions, the delivery claim) runs here over 2,000
entries, and over 1M in ``benchmarks/bench_holdout.py`` (about a millisecond of CPU
per entry: too slow for the suite)."""

from __future__ import annotations

import pytest
from automationtest import NOON, apply, context, make_store, thank_you
from sqlalchemy import Engine, insert, select

from recompra.automation.delivery import claim
from recompra.automation.runs import Entrant, active_journeys, start_runs
from recompra.automation.schedule import in_holdout
from recompra.automation.worker import decide_due
from recompra.db import unit_of_work
from recompra.models import BrandCustomer, Customer
from recompra.models.automation import JourneyRun, OutboxMessage

ENTRIES = 2_000


def test_holdout_members_get_no_delivery(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("once is enough: the report test checks both backends at 120 entries")
    store = make_store(engine, customers=0, points=0)
    journey = thank_you(start="hold")
    journey["nodes"]["hold"] = {"type": "holdout", "percent": 10, "next": "send"}
    apply(engine, store, journey)
    with unit_of_work(engine) as session:
        session.execute(
            insert(Customer),
            [{"name": f"Cliente {i}", "email": f"c{i}@example.com"} for i in range(ENTRIES)],
        )
        customers = list(session.scalars(select(Customer.id).order_by(Customer.id)))
        session.execute(
            insert(BrandCustomer),
            [{"brand_id": store.brand_id, "customer_id": c} for c in customers],
        )
        (active,) = active_journeys(session)
        started = start_runs(session, active, [Entrant(c, "sim", NOON) for c in customers])
    assert None not in started
    while decide_due(engine, context(), now=NOON, batch=500):
        pass
    claimed = claim(engine, now=NOON, limit=2 * ENTRIES)
    with unit_of_work(engine, write=False) as session:
        held = set(session.scalars(select(JourneyRun.customer_id).where(JourneyRun.holdout)))
        rows = dict(session.execute(select(OutboxMessage.id, OutboxMessage.customer_id)).all())
    expected = {c for c in customers if in_holdout("thanks", c, 10)}
    assert held == expected
    assert len(held) > 0.08 * ENTRIES
    # Every entrant has a decided row; the claim (what gets delivered) has no holdout member.
    assert len(rows) == ENTRIES
    delivered = {rows[c.id] for c in claimed}
    assert delivered == set(customers) - held
    assert not delivered & held
