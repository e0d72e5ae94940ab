"""A decision batch reads and writes once for all its timers (both backends): the SQL
statements of a batch of "send now" decisions do not grow with its size, each decision
still writes exactly its own outbox row, run and timer, and a batch's new rows (one
statement) skip those already written."""

from __future__ import annotations

from datetime import timedelta

import pytest
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
from sqlalchemy.exc import StatementError

from recompra.automation.bulk import insert_rows
from recompra.automation.runs import StartedRun, timer_row
from recompra.automation.worker import decide_due, ingest_triggers
from recompra.db import unit_of_work
from recompra.models.automation import TIMERS, JourneyRun, JourneyTimer, OutboxMessage


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


def test_a_batch_write_skips_the_rows_already_there_and_keeps_each_value(engine: Engine) -> None:
    store = make_store(engine, customers=1)
    apply(engine, store, thank_you())
    with unit_of_work(engine) as session:
        add_order(session, store, store.customers[0], "W-1")
    ingest_triggers(engine, now=NOON)
    later = NOON + timedelta(hours=3)
    with unit_of_work(engine) as session:
        row = session.scalars(select(JourneyRun)).one()
        run = StartedRun(row.id, row.journey_id, row.version, row.entry_key, row.customer_id)
        first = [timer_row(run, "a", later), timer_row(run, "b", later, reason="cap")]
        insert_rows(session, TIMERS, first, unique=("execution_key",))
        # Replayed with one new row: only that one is added, the others stay as they were.
        again = [timer_row(run, "a", NOON, reason="event"), timer_row(run, "c", NOON)]
        insert_rows(session, TIMERS, again, unique=("execution_key",))
    with unit_of_work(engine, write=False) as session:
        written = session.execute(
            select(JourneyTimer.node, JourneyTimer.due_at, JourneyTimer.reason)
            .where(JourneyTimer.node.in_(("a", "b", "c")))
            .order_by(JourneyTimer.node)
        ).all()
    assert [tuple(row) for row in written] == [
        ("a", later, None),
        ("b", later, "cap"),
        ("c", NOON, None),
    ]
    naive = timer_row(run, "d", later.replace(tzinfo=None))
    # Refused as the ORM refuses it (on SQLite wrapped by SQLAlchemy's StatementError).
    refused = pytest.raises((ValueError, StatementError), match="naive")
    with refused, unit_of_work(engine) as session:
        insert_rows(session, TIMERS, [naive], unique=("execution_key",))
