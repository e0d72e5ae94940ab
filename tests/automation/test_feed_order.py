"""Feeds read by id never skip a row whose transaction commits late, and never read a row
twice (recompra.automation.feeds): on PostgreSQL a transaction may take a lower id and
commit after a higher id was read; SQLite serialises its writers."""

from __future__ import annotations

import pytest
from automationtest import NOON, Store, add_order, apply, make_store, thank_you
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from dbtest import postgres_url
from recompra.automation.feeds import held_back, read_by_id
from recompra.automation.worker import ingest_triggers
from recompra.db import make_engine, unit_of_work
from recompra.models import Event
from recompra.models.automation import JourneyRun


def _event(session: Session, store: Store, name: str = "late") -> int:
    event = Event(brand_id=store.brand_id, customer_id=store.customers[0], type=name)
    event.occurred_at = NOON
    session.add(event)
    session.flush()
    return event.id


def _insert(feed: str, session: Session, store: Store, n: int) -> int:
    """One row of ``feed`` (an event of type ``late``, or an order); returns its id."""
    if feed == "events":
        return _event(session, store)
    return add_order(session, store, store.customers[0], f"late-{n}")


def _entry_keys(engine: Engine) -> list[str]:
    with unit_of_work(engine, write=False) as session:
        return sorted(session.scalars(select(JourneyRun.entry_key)))


def _read_events(engine: Engine, *, limit: int) -> list[int]:
    """One read of the ``events`` feed: the ids it returned."""
    with unit_of_work(engine) as session:
        return [row[0] for row in read_by_id(session, "events", select(Event.id), limit=limit)]


def _is_held_back(engine: Engine) -> bool:
    with unit_of_work(engine, write=False) as session:
        return held_back(session)


@pytest.mark.postgres
@pytest.mark.parametrize("feed", ["events", "orders"])
def test_a_lower_id_committed_after_a_higher_one_was_read_is_still_read(
    postgres: Engine, feed: str
) -> None:
    store = make_store(postgres, customers=1, points=0)
    trigger = {"type": "event", "event": "late"} if feed == "events" else {"type": "order_placed"}
    apply(postgres, store, thank_you(trigger=trigger))
    late = Session(postgres)
    try:
        low = _insert(feed, late, store, 1)  # its transaction stays open
        with unit_of_work(postgres) as session:
            high = _insert(feed, session, store, 2)
        assert low < high
        ingest_triggers(postgres, now=NOON)
        # The higher id is committed but waits behind the open transaction.
        assert _entry_keys(postgres) == []
        assert _is_held_back(postgres)
        late.commit()
    finally:
        late.close()
    ingest_triggers(postgres, now=NOON)
    prefix = "event" if feed == "events" else "order"
    assert _entry_keys(postgres) == sorted([f"{prefix}:{low}", f"{prefix}:{high}"])
    assert not _is_held_back(postgres)


@pytest.mark.postgres
def test_rows_of_interleaved_aborted_and_foreign_transactions_are_read_once_each(
    postgres: Engine,
) -> None:
    store = make_store(postgres, customers=1, points=0)
    first, aborted = Session(postgres), Session(postgres)
    try:
        early = _event(first, store)
        _event(aborted, store)
        with unit_of_work(postgres) as session:
            middle = [_event(session, store) for _ in range(3)]
        assert _read_events(postgres, limit=10) == []
        aborted.rollback()
        # The aborted transaction held nothing back once it ended; the first still does.
        assert _read_events(postgres, limit=10) == []
        later = _event(first, store)  # a higher id, in the older transaction
        first.commit()
    finally:
        first.close()
        aborted.close()
    read = _read_events(postgres, limit=2) + _read_events(postgres, limit=2)
    read += _read_events(postgres, limit=2)
    # The older transaction's rows first (in id order), then the other's: each once.
    assert read == [early, later, *middle]
    assert _read_events(postgres, limit=10) == []
    # A writer open in another database of the server holds nothing back here.
    elsewhere = make_engine(str(postgres_url()), pool_size=1)
    try:
        with elsewhere.connect() as other:
            other.execute(select(func.pg_current_xact_id()))  # holds an id, stays open
            with unit_of_work(postgres) as session:
                event = _event(session, store)
            assert _read_events(postgres, limit=10) == [event]
    finally:
        elsewhere.dispose()


def test_a_feed_starts_at_its_end_and_read_in_small_slices_reads_every_row_once(
    engine: Engine,
) -> None:
    store = make_store(engine, customers=1, points=0)
    with unit_of_work(engine) as session:
        _event(session, store)  # before the journey: never read
    apply(engine, store, thank_you(trigger={"type": "event", "event": "late"}))
    written: list[int] = []
    for _ in range(3):
        with unit_of_work(engine) as session:
            written += [_event(session, store) for _ in range(3)]
    read: list[int] = []
    while slice_ := _read_events(engine, limit=2):
        read += slice_
    assert read == written
    with unit_of_work(engine) as session:
        written.append(_event(session, store))
    assert _read_events(engine, limit=2) == written[-1:]
    assert not _is_held_back(engine)
