"""A decision batch reads and writes once for all its timers (both backends): the SQL
statements of a batch of "send now" decisions do not grow with its size, each decision
still writes exactly its own outbox row, run and timer, and a batch's new rows (one
statement) skip those already written."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

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
    wait_for,
)
from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.exc import StatementError

from recompra.automation.bulk import insert_rows
from recompra.automation.claim import STALE_ROWS
from recompra.automation.runs import StartedRun, timer_row
from recompra.automation.service import set_status
from recompra.automation.worker import decide_due, ingest_triggers
from recompra.db import unit_of_work
from recompra.models.automation import TIMERS, Journey, JourneyRun, JourneyTimer, OutboxMessage


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


def test_a_paused_journeys_due_timers_wait_without_holding_back_the_others(
    engine: Engine,
) -> None:
    store = make_store(engine, customers=1)
    apply(engine, store, thank_you())
    apply(engine, store, thank_you(key="thanks_again"))
    with unit_of_work(engine) as session:
        add_order(session, store, store.customers[0], "P-1")
    ingest_triggers(engine, now=NOON)
    with unit_of_work(engine) as session:
        set_status(session, brand_id=store.brand_id, key="thanks", status="paused")

    def states() -> dict[str, str]:
        with unit_of_work(engine, write=False) as session:
            rows = session.execute(
                select(Journey.key, JourneyTimer.state)
                .join(JourneyRun, JourneyRun.id == JourneyTimer.run_id)
                .join(Journey, Journey.id == JourneyRun.journey_id)
            )
            return dict(rows.all())

    # Batches of one: the paused journey's timer, the earlier one, is not claimed in
    # the place of the other.
    assert decide_due(engine, context(), now=NOON, batch=1) == 1
    assert decide_due(engine, context(), now=NOON, batch=1) == 0
    assert states() == {"thanks": "pending", "thanks_again": "done"}
    with unit_of_work(engine) as session:
        set_status(session, brand_id=store.brand_id, key="thanks", status="active")
    assert decide_due(engine, context(), now=NOON, batch=1) == 1
    assert states() == {"thanks": "done", "thanks_again": "done"}


def _timer_statistics(engine: Engine) -> tuple[int, int]:
    """(manual analyses of journey_timers, its rows changed since the last analysis)."""
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_stat_clear_snapshot()"))
        row = conn.execute(
            text(
                "SELECT analyze_count, n_mod_since_analyze FROM pg_stat_user_tables "
                "WHERE relname = 'journey_timers'"
            )
        ).one()
        return int(row[0]), int(row[1])


def test_a_claim_analyses_the_timers_table_once_it_grew(postgres: Engine) -> None:
    with postgres.begin() as conn:  # autovacuum's own analysis would race the claim's
        conn.execute(text("ALTER TABLE journey_timers SET (autovacuum_enabled = false)"))
    store = make_store(postgres, customers=1)
    apply(postgres, store, thank_you())
    with unit_of_work(postgres) as session:
        add_order(session, store, store.customers[0], "G-1")
    ingest_triggers(postgres, now=NOON)
    with unit_of_work(postgres) as session:
        row = session.scalars(select(JourneyRun)).one()
        run = StartedRun(row.id, row.journey_id, row.version, row.entry_key, row.customer_id)
        later = NOON + timedelta(days=30)
        many = [timer_row(run, f"n{i}", later) for i in range(STALE_ROWS + 200)]
        insert_rows(session, TIMERS, many, unique=("execution_key",))
    postgres.dispose()  # a backend's counts reach the statistics when it ends
    assert wait_for(lambda: _timer_statistics(postgres)[1] >= STALE_ROWS + 200)
    assert _timer_statistics(postgres)[0] == 0
    decide_due(postgres, context(), now=NOON)
    assert _timer_statistics(postgres)[0] == 1
    # Analysed: the next claims find it fresh and analyse it no more.
    decide_due(postgres, context(), now=NOON)
    assert _timer_statistics(postgres)[0] == 1


def test_the_cap_counts_read_the_outbox_by_customer(engine: Engine) -> None:
    """The batch's read of its customers' counted messages looks them up by customer, not
    by state: by state it read every message ever decided (all are in a counted state),
    and a batch's cost grew with the outbox. The plan is the database's own."""
    store = make_store(engine, customers=20)
    apply(engine, store, thank_you())
    with unit_of_work(engine) as session:
        for customer in store.customers:
            add_order(session, store, customer, f"P-{customer}")
    ingest_triggers(engine, now=NOON)
    plans: list[str] = []

    def explain(conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().startswith("SELECT") and "FROM automation_outbox" in statement:
            prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
            plans.append(str(conn.exec_driver_sql(prefix + statement, params).all()))

    event.listen(engine, "before_cursor_execute", explain)
    try:
        assert decide_due(engine, context(), now=NOON, batch=500) == 20
    finally:
        event.remove(engine, "before_cursor_execute", explain)
    assert plans
    assert all("ix_automation_outbox_state_next" not in plan for plan in plans), plans
