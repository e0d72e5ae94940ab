"""Wake-ups: a committed write to a trigger table wakes an in-process worker (both
backends) and, on PostgreSQL, a listener in another connection; rollbacks and other
tables do not."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import pytest
from automationtest import Store, add_order, make_store
from sqlalchemy import Engine, update

from dbtest import create_test_engine
from recompra.automation.wakeup import (
    PostgresListener,
    notify_on_trigger_writes,
    wake_on_trigger_writes,
    writes_trigger_table,
)
from recompra.db import unit_of_work
from recompra.loyalty import earn_order
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
def test_postgresql_notifies_a_listener_in_another_connection(tmp_path: Path) -> None:
    # LISTEN/NOTIFY is PostgreSQL's: this test runs on it alone.
    for engine in create_test_engine("postgres", tmp_path):
        _notify_and_listen(engine)


def _notify_and_listen(engine: Engine) -> None:
    store = make_store(engine, customers=1, points=0)
    wake = threading.Event()
    listener = PostgresListener(engine, wake)
    remove = notify_on_trigger_writes(engine)
    try:
        _order_rolled_back(engine, store, "N-0")
        assert not wake.wait(1.5)  # NOTIFY is transactional: nothing after a rollback
        with unit_of_work(engine) as session:
            add_order(session, store, store.customers[0], "N-1")
            add_order(session, store, store.customers[0], "N-2")
        assert wake.wait(5.0)
    finally:
        remove()
        listener.close()


@pytest.mark.postgres
def test_a_notify_rolled_back_with_a_savepoint_does_not_silence_the_commit(
    tmp_path: Path,
) -> None:
    """PostgreSQL drops the NOTIFY of a savepoint rolled back (a unique-race retry,
    ``db.dialect.retrying_unique_races``, is one); the transaction's later trigger writes
    must announce themselves again (issue 20)."""
    for engine in create_test_engine("postgres", tmp_path):
        store = make_store(engine, customers=1, points=0)
        wake = threading.Event()
        listener = PostgresListener(engine, wake)
        remove = notify_on_trigger_writes(engine)
        try:
            with unit_of_work(engine) as session:
                with contextlib.suppress(RuntimeError), session.begin_nested():
                    add_order(session, store, store.customers[0], "lost-race")
                    raise RuntimeError("rolled back to the savepoint")
                add_order(session, store, store.customers[0], "retried")
            assert wake.wait(10.0)  # a liveness bound: it comes in milliseconds
        finally:
            remove()
            listener.close()


@pytest.mark.postgres
def test_each_one_call_earn_wakes_and_notifies(tmp_path: Path) -> None:
    """An earn as a transaction of its own (``loyalty.earn_order``: one function call on
    a connection in autocommit, held open across calls) is committed when the call
    returns: each one wakes an in-process worker and notifies a listener, the second on
    the same connection as the first."""
    for engine in create_test_engine("postgres", tmp_path):
        store = make_store(engine, customers=1, points=0)
        with unit_of_work(engine) as session:
            orders = [add_order(session, store, store.customers[0], f"E-{n}") for n in range(3)]
        wake, notified = threading.Event(), threading.Event()
        stop_waking = wake_on_trigger_writes(engine, wake)
        listener = PostgresListener(engine, notified)
        stop_notifying = notify_on_trigger_writes(engine)
        try:
            for order_id in orders:
                wake.clear()
                notified.clear()
                earn_order(engine, program_id=store.program_id, order_id=order_id)
                assert wake.is_set(), order_id
                assert notified.wait(10.0), order_id  # a liveness bound: milliseconds
        finally:
            stop_notifying()
            stop_waking()
            listener.close()
