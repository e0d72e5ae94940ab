"""The ``order_updates`` change feed (recompra.automation.feeds.read_changes): an order is
read once per committed transaction that changed it, however late that transaction
commits, never for an aborted one, and at once (no settle delay). The stamp is set by
database triggers (migration 0026), so Core bulk updates count too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
from automationtest import Store, add_order, apply, make_store, thank_you
from sqlalchemy import Engine, Table, insert, select, update
from sqlalchemy.orm import Session

from recompra.automation.feeds import create_cursors_at_end, held_back, read_changes
from recompra.automation.worker import ingest_triggers
from recompra.db import unit_of_work
from recompra.migrate import downgrade, upgrade
from recompra.models import Order
from recompra.models.automation import FeedCursor, JourneyRun
from recompra.models.base import utcnow


def _orders_at_feed_end(engine: Engine, count: int) -> tuple[Store, list[int]]:
    """A store with ``count`` committed orders, the feeds' cursors past them."""
    store = make_store(engine, customers=1, points=0)
    with unit_of_work(engine) as session:
        ids = [add_order(session, store, store.customers[0], f"U-{n}") for n in range(count)]
    with unit_of_work(engine) as session:
        create_cursors_at_end(session)
    return store, ids


def _set_status(session: Session, order_id: int, status: str) -> None:
    """Change an order through the ORM, flushed (the transaction stays open)."""
    order = session.get(Order, order_id)
    assert order is not None
    order.status = status
    session.flush()


def _changed(engine: Engine, order_id: int, status: str) -> None:
    with unit_of_work(engine) as session:
        _set_status(session, order_id, status)


def _read(engine: Engine, *, limit: int = 100) -> list[tuple[int, str]]:
    """One read of the feed: (order id, status as read)."""
    with unit_of_work(engine) as session:
        rows = read_changes(session, "order_updates", select(Order.id, Order.status), limit=limit)
        return [(order_id, status) for order_id, status in rows]


def _is_held_back(engine: Engine) -> bool:
    with unit_of_work(engine, write=False) as session:
        return held_back(session)


@pytest.mark.postgres
def test_an_update_committed_after_a_later_one_was_read_is_still_read(postgres: Engine) -> None:
    _, (early, later) = _orders_at_feed_end(postgres, 2)
    slow = Session(postgres)
    try:
        _set_status(slow, early, "shipped")  # holds a transaction id, stays open
        _changed(postgres, later, "canceled")
        # The later change is committed but waits behind the open, older transaction.
        assert _read(postgres) == []
        assert _is_held_back(postgres)
        slow.commit()
    finally:
        slow.close()
    assert _read(postgres) == [(early, "shipped"), (later, "canceled")]
    assert _read(postgres) == []
    assert not _is_held_back(postgres)


@pytest.mark.postgres
def test_an_aborted_update_is_never_read_and_holds_back_only_while_open(
    postgres: Engine,
) -> None:
    _, (aborted, committed) = _orders_at_feed_end(postgres, 2)
    doomed = Session(postgres)
    try:
        _set_status(doomed, aborted, "canceled")
        _changed(postgres, committed, "shipped")
        assert _read(postgres) == []
        doomed.rollback()
    finally:
        doomed.close()
    assert _read(postgres) == [(committed, "shipped")]
    assert _read(postgres) == []


def test_an_aborted_update_is_not_read(engine: Engine) -> None:
    _, (order_id,) = _orders_at_feed_end(engine, 1)
    with Session(engine) as session:
        _set_status(session, order_id, "canceled")
        session.rollback()
    assert _read(engine) == []


def test_each_committed_transaction_that_changes_an_order_makes_it_read_once(
    engine: Engine,
) -> None:
    store, (first, second) = _orders_at_feed_end(engine, 2)
    _changed(engine, first, "shipped")
    assert _read(engine) == [(first, "shipped")]
    # A status change after the order was read is seen again.
    _changed(engine, first, "delivered")
    assert _read(engine) == [(first, "delivered")]
    # Two changes in one transaction: one read, as the order stands at its end.
    with unit_of_work(engine) as session:
        _set_status(session, second, "shipped")
        _set_status(session, second, "delivered")
    # A Core bulk update (as imports write) is stamped by the database too.
    with unit_of_work(engine) as session:
        session.execute(update(Order).where(Order.id == first).values(status="returned"))
    # Read in slices of one: nothing read twice, nothing left out, in commit order.
    read = _read(engine, limit=1) + _read(engine, limit=1) + _read(engine, limit=1)
    assert read == [(second, "delivered"), (first, "returned")]
    assert _read(engine) == []
    # A new order is a change too.
    with unit_of_work(engine) as session:
        third = add_order(session, store, store.customers[0], "U-new")
    assert _read(engine) == [(third, "delivered")]


def test_a_status_trigger_starts_its_run_at_the_first_read_after_the_commit(
    engine: Engine,
) -> None:
    store, (order_id,) = _orders_at_feed_end(engine, 1)
    apply(engine, store, thank_you(trigger={"type": "order_canceled"}, entry={"key": "order"}))
    _changed(engine, order_id, "canceled")
    # Read right after the commit: nothing waits for the change to settle.
    ingest_triggers(engine, now=utcnow())
    with unit_of_work(engine, write=False) as session:
        assert list(session.scalars(select(JourneyRun.entry_key))) == [f"order:{order_id}"]


def test_the_migration_keeps_what_the_former_time_cursor_had_not_read(engine: Engine) -> None:
    _, (read_before, changed_after) = _orders_at_feed_end(engine, 2)
    downgrade(engine, "0025_feed_transactions")
    cursor_at = datetime(2026, 6, 17, 18, 0, tzinfo=UTC)
    orders = cast(Table, Order.__table__)
    with unit_of_work(engine) as session:
        # The feed as the former code left it: a time cursor, one order on each side.
        for order_id, minutes in ((read_before, -1), (changed_after, 1)):
            session.execute(
                orders.update()
                .where(orders.c.id == order_id)
                .values(updated_at=cursor_at + timedelta(minutes=minutes))
            )
        microseconds = (cursor_at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
        session.execute(insert(FeedCursor).values(feed="order_updates", position=microseconds))
    upgrade(engine)
    assert _read(engine) == [(changed_after, "delivered")]
    _changed(engine, read_before, "returned")
    assert _read(engine) == [(read_before, "returned")]


def test_without_a_cursor_the_feed_starts_at_its_end(engine: Engine) -> None:
    store = make_store(engine, customers=1, points=0)
    with unit_of_work(engine) as session:
        old = add_order(session, store, store.customers[0], "U-old")
    assert _read(engine) == []  # the orders written before the feed was first read
    _changed(engine, old, "returned")
    assert _read(engine) == [(old, "returned")]
