"""A decision batch reads and writes once for all its timers (both backends): the SQL
statements of a batch of "send now" decisions do not grow with its size, and each
decision still writes exactly its own outbox row, run and timer."""

from __future__ import annotations

from automationtest import (
    NOON,
    Store,
    add_order,
    apply,
    context,
    counted_statements,
    make_store,
    thank_you,
)
from sqlalchemy import Engine, func, select

from recompra.automation.worker import decide_due, ingest_triggers
from recompra.db import unit_of_work
from recompra.models.automation import JourneyRun, JourneyTimer, OutboxMessage


def _statements_of_one_batch(engine: Engine, store: Store, customers: list[int]) -> int:
    with unit_of_work(engine) as session:
        for customer in customers:
            add_order(session, store, customer, f"B-{customer}")
    ingest_triggers(engine, now=NOON)
    with counted_statements(engine) as counted:
        assert decide_due(engine, context(), now=NOON, batch=500) == len(customers)
    return counted[0]


def test_a_batch_costs_the_same_statements_whatever_its_size(engine: Engine) -> None:
    store = make_store(engine, customers=15)
    apply(engine, store, thank_you())
    small = _statements_of_one_batch(engine, store, store.customers[:3])
    large = _statements_of_one_batch(engine, store, store.customers[3:])
    assert small == large
    with unit_of_work(engine, write=False) as session:
        outbox = session.execute(
            select(OutboxMessage.run_id, func.count()).group_by(OutboxMessage.run_id)
        ).all()
        runs = session.execute(select(JourneyRun.state, func.count()).group_by(JourneyRun.state))
        timers = session.execute(
            select(JourneyTimer.state, func.count()).group_by(JourneyTimer.state)
        )
        assert dict(runs.all()) == {"completed": 15}
        assert dict(timers.all()) == {"done": 15}
    assert len(outbox) == 15
    assert {count for _, count in outbox} == {1}
