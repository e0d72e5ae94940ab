"""A feed whose cursor row is missing (a feed added on an installation with history, or a
cursor deleted) starts at the feed's current end, as the cursors a journey's first apply
creates do: journeys react to what happens afterwards, never to the past (both backends).
"""

from __future__ import annotations

import pytest
from automationtest import add_order, apply, make_store, thank_you
from sqlalchemy import Engine, delete, select

from recompra.automation.feeds import CHANGE_FEEDS, ID_FEEDS, read_by_id
from recompra.automation.worker import ingest_triggers
from recompra.db import unit_of_work
from recompra.models import Event
from recompra.models.automation import FeedCursor, JourneyRun
from recompra.models.base import utcnow


def _entry_keys(engine: Engine) -> list[str]:
    with unit_of_work(engine, write=False) as session:
        return sorted(session.scalars(select(JourneyRun.entry_key)))


@pytest.mark.parametrize("lost", ["orders", "all"])
def test_a_missing_cursor_does_not_replay_history(engine: Engine, lost: str) -> None:
    store = make_store(engine, customers=1)
    (customer,) = store.customers
    with unit_of_work(engine) as session:  # the installation's past
        for n in range(3):
            add_order(session, store, customer, f"old-{n}")
    apply(engine, store, thank_you())
    ingest_triggers(engine)
    assert _entry_keys(engine) == []
    with unit_of_work(engine) as session:
        feeds = list(ID_FEEDS) if lost == "all" else [lost]
        session.execute(delete(FeedCursor).where(FeedCursor.feed.in_(feeds)))
    ingest_triggers(engine)  # creates the cursor again: at the end, not at 0
    assert _entry_keys(engine) == []
    with unit_of_work(engine) as session:
        new = add_order(session, store, customer, "new")
    ingest_triggers(engine)
    assert _entry_keys(engine) == [f"order:{new}"]
    with unit_of_work(engine, write=False) as session:
        cursors = set(session.scalars(select(FeedCursor.feed)))
    assert cursors >= {*ID_FEEDS, *CHANGE_FEEDS}


def test_a_feed_read_first_starts_at_its_end(engine: Engine) -> None:
    """A feed read with no cursor at all (no journey ever applied) reads nothing of the
    rows already there, then each row written afterwards once."""
    store = make_store(engine, customers=1)

    def event() -> int:
        with unit_of_work(engine) as session:
            row = Event(brand_id=store.brand_id, customer_id=store.customers[0], type="x")
            row.occurred_at = utcnow()
            session.add(row)
            session.flush()
            return row.id

    def read() -> list[int]:
        with unit_of_work(engine) as session:
            return [r[0] for r in read_by_id(session, "events", select(Event.id), limit=100)]

    event()
    event()
    assert read() == []
    later = event()
    assert read() == [later]
    assert read() == []
