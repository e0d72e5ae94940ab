"""A customer merge and the journeys of the two profiles (both backends; the race on
PostgreSQL): the survivor's journey continues, a journey both were in sends once, caps
count the survivor's messages from both profiles, and a batch writing two customers'
properties never deadlocks with a merge of the two.

The expected values are the rule of docs/automation.md (*Customer merges*), counted by
hand: which customer holds each property, message and run after the merge.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from automationtest import NOON, Store, add_order, apply, context, make_store, thank_you
from sqlalchemy import Engine, select, update

from dbtest import wait_until_blocked_or_done
from recompra.automation.schedule import ContactPolicy
from recompra.automation.worker import decide_due, ingest_triggers
from recompra.db import unit_of_work
from recompra.hub.identity import merge_customers, unmerge
from recompra.hub.properties import set_property
from recompra.models import CustomerProperty
from recompra.models.automation import JourneyRun, JourneyTimer, OutboxMessage

#: No caps but the journey's and no quiet hours.
BARE = ContactPolicy(caps={}, quiet_from=None, quiet_to=None)
DAY = timedelta(days=1)


def _counting(*, wait: str | None = "1d") -> dict[str, Any]:
    """Once per customer: (wait a day,) count the journey in a property, send, exit."""
    document = thank_you(start="wait" if wait else "count")
    document["entry"] = {"key": "customer", "reentry": "once_per_key"}
    document["nodes"]["count"] = {
        "type": "update_property",
        "property": "journeys",
        "increment": 1,
        "next": "send",
    }
    if wait:
        document["nodes"]["wait"] = {"type": "wait", "duration": wait, "next": "count"}
    return document


def _enter(engine: Engine, store: Store, *customers: int, at: Any = NOON) -> None:
    """An order of each of ``customers``, read by the triggers and decided at ``at``."""
    with unit_of_work(engine) as session:
        for i, customer in enumerate(customers):
            add_order(session, store, customer, f"O-{customer}-{i}-{at.isoformat()}", at=at)
    ingest_triggers(engine, now=at)
    decide_due(engine, context(BARE), now=at)


def _merge(engine: Engine, store: Store, survivor: int, merged: int) -> int:
    with unit_of_work(engine) as session:
        return merge_customers(
            session, brand_id=store.brand_id, survivor_id=survivor, merged_id=merged, reason="t"
        ).merge_id


def _properties(engine: Engine) -> dict[tuple[int, str], int | None]:
    with unit_of_work(engine, write=False) as session:
        return {
            (p.customer_id, p.name): p.number_value
            for p in session.scalars(select(CustomerProperty))
        }


def _messages(engine: Engine) -> list[tuple[int, str]]:
    """(customer, state) of the journey's e-mails."""
    with unit_of_work(engine, write=False) as session:
        return [
            (m.customer_id, m.state)
            for m in session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.channel == "email")
                .order_by(OutboxMessage.id)
            )
        ]


def _runs(engine: Engine) -> dict[int, tuple[int, str, str | None]]:
    with unit_of_work(engine, write=False) as session:
        return {
            r.id: (r.customer_id, r.state, r.exit_reason)
            for r in session.scalars(select(JourneyRun))
        }


def test_after_a_merge_the_merged_customers_journey_goes_on_as_the_survivors(
    engine: Engine,
) -> None:
    store = make_store(engine, customers=2, points=0)
    survivor, merged = store.customers
    apply(engine, store, _counting())
    _enter(engine, store, merged)
    _merge(engine, store, survivor, merged)
    assert decide_due(engine, context(BARE), now=NOON + DAY) == 1
    # The wait ended after the merge: the property and the e-mail are the survivor's.
    assert _properties(engine) == {(survivor, "journeys"): 1}
    assert _messages(engine) == [(survivor, "pending")]
    assert [(c, s) for c, s, _ in _runs(engine).values()] == [(survivor, "completed")]


def test_a_journey_both_profiles_were_in_goes_on_once(engine: Engine) -> None:
    store = make_store(engine, customers=2, points=0)
    survivor, merged = store.customers
    apply(engine, store, _counting())
    _enter(engine, store, survivor, merged)
    _merge(engine, store, survivor, merged)
    assert decide_due(engine, context(BARE), now=NOON + DAY) == 2
    # One person, one journey: counted once, one e-mail.
    assert _properties(engine) == {(survivor, "journeys"): 1}
    assert _messages(engine) == [(survivor, "pending")]
    assert sorted(_runs(engine).values()) == [
        (survivor, "completed", "exit"),
        (merged, "exited", "merged"),
    ]


def test_caps_count_the_merged_profiles_messages_as_the_survivors(engine: Engine) -> None:
    store = make_store(engine, customers=2, points=0)
    survivor, merged = store.customers
    apply(engine, store, thank_you(caps=[{"limit": 1, "window": "7d"}]))
    _enter(engine, store, merged, at=NOON - DAY)
    assert _messages(engine) == [(merged, "pending")]
    _merge(engine, store, survivor, merged)
    _enter(engine, store, survivor)
    # The person had this journey's e-mail yesterday (as the merged profile): the cap
    # of one a week defers the survivor's.
    assert _messages(engine) == [(survivor, "pending")]
    with unit_of_work(engine, write=False) as session:
        reasons = list(
            session.scalars(select(JourneyTimer.reason).where(JourneyTimer.state == "pending"))
        )
    assert reasons == ["cap_journey"]


def test_an_unmerge_gives_back_the_runs_and_revives_the_one_the_merge_ended(
    engine: Engine,
) -> None:
    store = make_store(engine, customers=2, points=0)
    survivor, merged = store.customers
    apply(engine, store, _counting())
    _enter(engine, store, survivor, merged)
    before = _runs(engine)
    merge_id = _merge(engine, store, survivor, merged)
    with unit_of_work(engine) as session:
        unmerge(session, merge_id=merge_id)
    assert _runs(engine) == before
    assert decide_due(engine, context(BARE), now=NOON + DAY) == 2
    assert _properties(engine) == {(survivor, "journeys"): 1, (merged, "journeys"): 1}
    assert sorted(_messages(engine)) == [(survivor, "pending"), (merged, "pending")]


def _lock_in_due_order(
    postgres: Engine, document: dict[str, Any] | None = None
) -> tuple[Store, int, int]:
    """Two customers in a journey that writes their property at once (or ``document``),
    the higher id's timer due first: (store, lower, higher)."""
    store = make_store(postgres, customers=2, points=0)
    lower, higher = store.customers
    apply(postgres, store, document or _counting(wait=None))
    for customer, at in ((higher, NOON - timedelta(minutes=2)), (lower, NOON)):
        with unit_of_work(postgres) as session:
            add_order(session, store, customer, f"O-{customer}", at=at)
        ingest_triggers(postgres, now=at)
    with unit_of_work(postgres) as session:
        # The runs' start timers, due in that order when the batch claims them.
        for customer, due in ((higher, NOON - timedelta(minutes=2)), (lower, NOON)):
            run = select(JourneyRun.id).where(JourneyRun.customer_id == customer)
            session.execute(
                update(JourneyTimer)
                .where(JourneyTimer.run_id == run.scalar_subquery())
                .values(due_at=due)
            )
    return store, lower, higher


@pytest.mark.postgres
def test_a_batch_writing_two_customers_and_a_merge_of_them_both_finish(
    postgres: Engine,
) -> None:
    """The merge's transaction holds the lower customer (it wrote a property of it) when
    the batch starts; once the batch waits, the merge locks the higher one. A batch that
    locked the higher customer first (its timer was due first) held it while waiting for
    the lower: PostgreSQL aborted one of the two. Locking the lower first, the batch waits
    holding neither, the merge commits, and the batch, seeing its claimed run moved,
    decides again: the survivor is counted once (its journey), the merged run ended."""
    store, lower, higher = _lock_in_due_order(postgres)
    errors: list[BaseException] = []
    decided: list[int] = []

    def batch() -> None:
        try:
            decided.append(decide_due(postgres, context(BARE), now=NOON + timedelta(minutes=1)))
        except BaseException as error:  # the thread's outcome is the test's
            errors.append(error)

    with unit_of_work(postgres) as session:
        set_property(
            session, brand_id=store.brand_id, customer_id=lower, name="vip", value=True, now=NOON
        )
        thread = threading.Thread(target=batch)
        thread.start()
        wait_until_blocked_or_done(postgres, thread)
        merge_customers(
            session, brand_id=store.brand_id, survivor_id=lower, merged_id=higher, reason="t"
        )
    thread.join()

    assert errors == []
    # Both timers: the ended run's decides nothing.
    assert decided == [2]
    assert _properties(postgres) == {(lower, "vip"): None, (lower, "journeys"): 1}
    assert _messages(postgres) == [(lower, "pending")]
    assert sorted(_runs(postgres).values()) == [
        (lower, "completed", "exit"),
        (higher, "exited", "merged"),
    ]


@pytest.mark.postgres
def test_a_send_batch_waiting_for_a_merge_of_its_customer_sends_to_the_survivor(
    postgres: Engine,
) -> None:
    """Only sends: the batch claimed the merged customer's run, then waits for the
    customers' rows while the merge holds them; once the merge commits the batch decides
    again and the one message (the journey both were in) is the survivor's."""
    document = thank_you(entry={"key": "customer", "reentry": "once_per_key"})
    store, lower, higher = _lock_in_due_order(postgres, document)
    errors: list[BaseException] = []

    def batch() -> None:
        try:
            decide_due(postgres, context(BARE), now=NOON + timedelta(minutes=1))
        except BaseException as error:  # the thread's outcome is the test's
            errors.append(error)

    with unit_of_work(postgres) as session:
        set_property(
            session, brand_id=store.brand_id, customer_id=lower, name="vip", value=True, now=NOON
        )
        thread = threading.Thread(target=batch)
        thread.start()
        wait_until_blocked_or_done(postgres, thread)
        merge_customers(
            session, brand_id=store.brand_id, survivor_id=lower, merged_id=higher, reason="t"
        )
    thread.join()

    assert errors == []
    assert _messages(postgres) == [(lower, "pending")]
