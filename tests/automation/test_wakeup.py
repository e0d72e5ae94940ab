"""Wake-ups: a committed write to a trigger table wakes an in-process worker (both
backends) and, on PostgreSQL, a listener in another connection (the database's own
trigger sends the ``NOTIFY``, whoever wrote); rollbacks and other tables do not."""

from __future__ import annotations

import contextlib
import threading
from datetime import timedelta

import pytest
from automationtest import NOON, Store, add_order, make_store
from sqlalchemy import Engine, text, update

from recompra.automation.wakeup import (
    CHANNEL,
    TRIGGER_TABLES,
    PostgresListener,
    wake_on_trigger_writes,
    writes_trigger_table,
)
from recompra.db import unit_of_work
from recompra.loyalty import earn_order, publish_rules
from recompra.models.automation import Journey


@pytest.mark.parametrize(
    ("statement", "wakes"),
    [
        ("INSERT INTO orders (brand_id, source) VALUES (?, ?)", True),
        ('UPDATE "orders" SET status=%(status)s WHERE orders.id = %(id)s', True),
        ("INSERT INTO events (brand_id) VALUES (1)", True),
        ("insert into reviews(id) values (1)", True),
        ("INSERT INTO order_items (order_id) VALUES (1)", False),
        ("SELECT * FROM orders", False),
        ("UPDATE journey_timers SET state='done'", False),
    ],
)
def test_which_statements_are_trigger_writes(statement: str, wakes: bool) -> None:
    assert writes_trigger_table(statement) is wakes


def _order_rolled_back(engine: Engine, store: Store, external_id: str) -> None:
    with contextlib.suppress(RuntimeError), unit_of_work(engine) as session:
        add_order(session, store, store.customers[0], external_id)
        raise RuntimeError("rolled back")


def test_a_committed_order_wakes_and_a_rollback_or_other_table_does_not(engine: Engine) -> None:
    store = make_store(engine, customers=1, points=0)
    wake = threading.Event()
    remove = wake_on_trigger_writes(engine, wake)
    try:
        _order_rolled_back(engine, store, "W-0")
        assert not wake.is_set()
        with unit_of_work(engine) as session:
            session.execute(update(Journey).values(status="active"))
        assert not wake.is_set()
        with unit_of_work(engine) as session:
            add_order(session, store, store.customers[0], "W-1")
        assert wake.is_set()
    finally:
        remove()
    wake.clear()
    with unit_of_work(engine) as session:
        add_order(session, store, store.customers[0], "W-2")
    assert not wake.is_set()  # removed


@pytest.mark.postgres
def test_postgresql_notifies_a_listener_of_any_process_write(postgres: Engine) -> None:
    """A plain engine (no listener of ours on it: an import, a job, another server)
    commits an order: the listener wakes; a rollback sends nothing (issue 20: the
    ``NOTIFY`` used to come from the API server's engine alone)."""
    store = make_store(postgres, customers=1, points=0)
    wake = threading.Event()
    listener = PostgresListener(postgres, wake)
    try:
        _order_rolled_back(postgres, store, "N-0")
        assert not wake.wait(1.5)  # NOTIFY is transactional: nothing after a rollback
        with unit_of_work(postgres) as session:
            add_order(session, store, store.customers[0], "N-1")
            add_order(session, store, store.customers[0], "N-2")
        assert wake.wait(10.0)  # a liveness bound: it comes in milliseconds
    finally:
        listener.close()


@pytest.mark.postgres
def test_a_notify_rolled_back_with_a_savepoint_does_not_silence_the_commit(
    postgres: Engine,
) -> None:
    """PostgreSQL drops the NOTIFY of a savepoint rolled back (a unique-race retry,
    ``db.dialect.retrying_unique_races``, is one); the transaction's later trigger writes
    must announce themselves again (issue 20)."""
    store = make_store(postgres, customers=1, points=0)
    wake = threading.Event()
    listener = PostgresListener(postgres, wake)
    try:
        with unit_of_work(postgres) as session:
            with contextlib.suppress(RuntimeError), session.begin_nested():
                add_order(session, store, store.customers[0], "lost-race")
                raise RuntimeError("rolled back to the savepoint")
            add_order(session, store, store.customers[0], "retried")
        assert wake.wait(10.0)  # a liveness bound: it comes in milliseconds
    finally:
        listener.close()


@pytest.mark.postgres
def test_every_trigger_table_announces_its_writes_once_per_transaction(
    postgres: Engine,
) -> None:
    """Each table of ``TRIGGER_TABLES`` notifies on insert and on update, per statement;
    another table does not, and a transaction's notifications are folded into one."""
    import psycopg

    url = postgres.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with (
        psycopg.connect(url, autocommit=True) as listening,
        psycopg.connect(url, autocommit=True) as writing,
    ):
        listening.execute(f"LISTEN {CHANNEL}")

        def received() -> int:
            return sum(1 for _ in listening.notifies(timeout=0.5))

        for table in TRIGGER_TABLES:
            # Each verb twice in a transaction (no rows to know: an empty copy of the
            # table is inserted, no row is updated; a statement trigger fires anyway).
            for statement in (
                f"INSERT INTO {table} SELECT * FROM probe",
                f"UPDATE {table} SET id = id WHERE false",
            ):
                with writing.transaction():
                    writing.execute(f"CREATE TEMP TABLE probe AS SELECT * FROM {table} LIMIT 0")
                    writing.execute(statement)
                    writing.execute(statement)
                    writing.execute("DROP TABLE probe")
                assert received() == 1, statement
        with writing.transaction():
            writing.execute("UPDATE journeys SET id = id WHERE false")
        assert received() == 0
    with postgres.connect() as conn:
        # The trigger is the migration's (one per table), not a per-test set-up.
        tables = conn.execute(
            text(
                "SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c"
                " ON c.oid = t.tgrelid WHERE t.tgname = 'recompra_announce_write'"
            )
        ).scalars()
        assert sorted(tables) == sorted(TRIGGER_TABLES)


@pytest.mark.postgres
def test_each_one_call_earn_wakes_and_notifies(postgres: Engine) -> None:
    """An earn as a transaction of its own (``loyalty.earn_order``: one function call on
    a connection in autocommit, held open across calls) is committed when the call
    returns: each one wakes an in-process worker and notifies a listener, the second on
    the same connection as the first. Each earns points (a base rule), so each writes a
    lot: the database announces writes, not calls."""
    store = make_store(postgres, customers=1, points=0)
    with unit_of_work(postgres) as session:
        publish_rules(
            session,
            program_id=store.program_id,
            rules=[{"type": "base", "points_per_unit": 1}],
            effective_from=NOON - timedelta(days=365),
        )
        orders = [add_order(session, store, store.customers[0], f"E-{n}") for n in range(3)]
    wake, notified = threading.Event(), threading.Event()
    stop_waking = wake_on_trigger_writes(postgres, wake)
    listener = PostgresListener(postgres, notified)
    try:
        for order_id in orders:
            wake.clear()
            notified.clear()
            earn_order(postgres, program_id=store.program_id, order_id=order_id)
            assert wake.is_set(), order_id
            assert notified.wait(10.0), order_id  # a liveness bound: milliseconds
    finally:
        stop_waking()
        listener.close()
