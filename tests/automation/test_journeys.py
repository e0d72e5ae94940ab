"""Journeys on both backends: entries, decisions, versions, exits, waits, caps, consent."""

from __future__ import annotations

from datetime import timedelta

from automationtest import (
    NOON,
    Store,
    add_order,
    apply,
    context,
    make_store,
    thank_you,
    withdraw_marketing,
)
from sqlalchemy import Engine, func, select

from recompra.automation.schedule import Cap, ContactPolicy, in_holdout
from recompra.automation.worker import decide_due, ingest_triggers
from recompra.db import unit_of_work
from recompra.models import Event, LoyaltyAccount
from recompra.models.automation import JourneyRun, JourneyTimer, OutboxMessage


def _outbox(engine: Engine) -> list[OutboxMessage]:
    with unit_of_work(engine, write=False) as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def _order(engine: Engine, store: Store, customer: int, external_id: str) -> int:
    with unit_of_work(engine) as session:
        return add_order(session, store, customer, external_id)


def test_an_order_decides_one_personalised_email_per_order(engine: Engine) -> None:
    store = make_store(engine)
    apply(engine, store, thank_you())
    first = _order(engine, store, store.customers[0], "A-1")
    _order(engine, store, store.customers[0], "A-2")
    # Each order is read twice: placed (the orders feed) and changed (order_updates).
    assert ingest_triggers(engine, now=NOON) == 4
    assert decide_due(engine, context(), now=NOON) == 2
    # Replaying the feed and the worker decides nothing again.
    assert ingest_triggers(engine, now=NOON) == 0
    assert decide_due(engine, context(), now=NOON) == 0
    rows = _outbox(engine)
    assert [r.state for r in rows] == ["pending", "pending"]
    message = rows[0].payload
    assert message["to"] == "c0@example.com"
    assert message["subject"] == "Cliente0, obrigado pela sua compra na Loja Exemplo!"
    assert "pedido A-1, R$\xa0129,90" in message["text"]
    assert "<strong>150 pontos</strong>" in message["html"]
    with unit_of_work(engine, write=False) as session:
        runs = session.scalars(select(JourneyRun).order_by(JourneyRun.id)).all()
    assert (runs[0].entry_key, runs[0].state, runs[0].order_id) == (
        f"order:{first}",
        "completed",
        first,
    )


def test_html_is_autoescaped_and_text_is_not(engine: Engine) -> None:
    store = make_store(engine, customers=1)
    with unit_of_work(engine) as session:
        from recompra.models import Customer

        customer = session.get(Customer, store.customers[0])
        assert customer is not None
        customer.name = "<b>Zé</b> & Cia"
    apply(engine, store, thank_you())
    _order(engine, store, store.customers[0], "X")
    ingest_triggers(engine, now=NOON)
    decide_due(engine, context(), now=NOON)
    payload = _outbox(engine)[0].payload
    assert "<p>Olá, &lt;b&gt;Zé&lt;/b&gt;!</p>" in payload["html"]
    assert payload["text"].startswith("Olá, <b>Zé</b>!")


def test_a_new_version_leaves_in_flight_runs_on_their_own(engine: Engine) -> None:
    store = make_store(engine, customers=1)
    waiting = thank_you(start="pause")
    waiting["nodes"]["pause"] = {"type": "wait", "duration": "1d", "next": "send"}
    apply(engine, store, waiting)
    _order(engine, store, store.customers[0], "V-1")
    ingest_triggers(engine, now=NOON)
    decide_due(engine, context(), now=NOON)
    # Version 2 removes the wait and the send node the run is heading to.
    apply(engine, store, thank_you(start="done", nodes={"done": {"type": "exit"}}))
    assert decide_due(engine, context(), now=NOON + timedelta(days=1)) == 1
    rows = _outbox(engine)
    assert len(rows) == 1
    assert rows[0].execution_key.split(":")[1] == "1"  # decided by version 1


def test_an_exit_event_cancels_a_pending_wait_at_once(engine: Engine) -> None:
    store = make_store(engine, customers=1)
    waiting = thank_you(start="pause", exit_when=[{"type": "event", "event": "complained"}])
    waiting["nodes"]["pause"] = {"type": "wait", "duration": "2d", "next": "send"}
    apply(engine, store, waiting)
    _order(engine, store, store.customers[0], "E-1")
    ingest_triggers(engine, now=NOON)
    decide_due(engine, context(), now=NOON)
    with unit_of_work(engine) as session:
        session.add(
            Event(
                brand_id=store.brand_id,
                customer_id=store.customers[0],
                type="complained",
                occurred_at=NOON,
            )
        )
    ingest_triggers(engine, now=NOON)
    with unit_of_work(engine, write=False) as session:
        run = session.scalars(select(JourneyRun)).one()
        timers = session.execute(select(JourneyTimer.node, JourneyTimer.state)).all()
    assert (run.state, run.exit_reason) == ("exited", "event:complained")
    assert sorted(timers) == [("pause", "done"), ("send", "canceled")]
    assert decide_due(engine, context(), now=NOON + timedelta(days=3)) == 0
    assert _outbox(engine) == []


def test_wait_for_event_takes_the_event_branch_or_the_timeout(engine: Engine) -> None:
    store = make_store(engine, customers=2)
    journey = thank_you(start="delivered")
    journey["nodes"]["delivered"] = {
        "type": "wait_for_event",
        "event": "order_delivered",
        "timeout": "5d",
        "next": "send",
        "timeout_next": "later",
    }
    # After a timeout the run stays active in a long wait.
    journey["nodes"]["later"] = {"type": "wait", "duration": "30d", "next": "done"}
    apply(engine, store, journey)
    for i, customer in enumerate(store.customers):
        _order(engine, store, customer, f"W-{i}")
    ingest_triggers(engine, now=NOON)
    decide_due(engine, context(), now=NOON)
    with unit_of_work(engine) as session:
        session.add(
            Event(
                brand_id=store.brand_id,
                customer_id=store.customers[0],
                type="order_delivered",
                occurred_at=NOON,
            )
        )
    ingest_triggers(engine, now=NOON + timedelta(hours=1))
    assert decide_due(engine, context(), now=NOON + timedelta(hours=1)) == 1
    assert decide_due(engine, context(), now=NOON + timedelta(days=6)) == 1
    # The event arriving after the timeout fired starts nothing.
    with unit_of_work(engine) as session:
        session.add(
            Event(
                brand_id=store.brand_id,
                customer_id=store.customers[1],
                type="order_delivered",
                occurred_at=NOON + timedelta(days=7),
            )
        )
    ingest_triggers(engine, now=NOON + timedelta(days=7))
    assert decide_due(engine, context(), now=NOON + timedelta(days=7)) == 0
    rows = _outbox(engine)
    assert [r.customer_id for r in rows] == [store.customers[0]]


def test_a_cap_defers_the_second_message_to_when_the_window_frees(engine: Engine) -> None:
    store = make_store(engine, customers=1)
    apply(engine, store, thank_you())
    policy = ContactPolicy(
        caps={"email": Cap(1, timedelta(days=1))}, quiet_from=None, quiet_to=None
    )
    _order(engine, store, store.customers[0], "C-1")
    _order(engine, store, store.customers[0], "C-2")
    ingest_triggers(engine, now=NOON)
    assert decide_due(engine, context(policy), now=NOON) == 2
    assert len(_outbox(engine)) == 1
    with unit_of_work(engine, write=False) as session:
        deferred = session.scalars(
            select(JourneyTimer).where(JourneyTimer.state == "pending")
        ).one()
    assert (deferred.due_at, deferred.reason) == (NOON + timedelta(days=1), "cap")
    assert decide_due(engine, context(policy), now=NOON + timedelta(hours=23)) == 0
    assert decide_due(engine, context(policy), now=NOON + timedelta(days=1)) == 1
    assert len(_outbox(engine)) == 2


def test_a_cap_with_on_cap_skip_records_the_skip_and_moves_on(engine: Engine) -> None:
    store = make_store(engine, customers=1)
    journey = thank_you()
    journey["nodes"]["send"]["on_cap"] = "skip"
    apply(engine, store, journey)
    policy = ContactPolicy(
        caps={"email": Cap(1, timedelta(days=1))}, quiet_from=None, quiet_to=None
    )
    _order(engine, store, store.customers[0], "S-1")
    _order(engine, store, store.customers[0], "S-2")
    ingest_triggers(engine, now=NOON)
    assert decide_due(engine, context(policy), now=NOON) == 2
    rows = _outbox(engine)
    assert [r.state for r in rows] == ["pending", "suppressed"]
    assert rows[1].payload == {"node": "send", "reason": "cap", "cap": "rolling"}
    with unit_of_work(engine, write=False) as session:
        pending = session.scalar(
            select(func.count()).select_from(JourneyTimer).where(JourneyTimer.state == "pending")
        )
        states = sorted(session.scalars(select(JourneyRun.state)))
    assert pending == 0
    assert states == ["completed", "completed"]


def test_quiet_hours_defer_a_marketing_send_to_their_end(engine: Engine) -> None:
    store = make_store(engine, customers=1)
    apply(engine, store, thank_you())
    _order(engine, store, store.customers[0], "Q-1")
    late = NOON + timedelta(hours=6)  # 21:00 in São Paulo
    ingest_triggers(engine, now=late)
    decide_due(engine, context(ContactPolicy()), now=late)
    assert _outbox(engine) == []
    with unit_of_work(engine, write=False) as session:
        due, reason = session.execute(
            select(JourneyTimer.due_at, JourneyTimer.reason).where(JourneyTimer.state == "pending")
        ).one()
    assert due == NOON + timedelta(hours=17)  # 08:00 the next day in São Paulo (UTC-3)
    assert reason == "quiet_hours"


def test_a_withdrawn_consent_suppresses_and_is_recorded(engine: Engine) -> None:
    store = make_store(engine, customers=2)
    withdraw_marketing(engine, store.customers[0], now=NOON)
    apply(engine, store, thank_you())
    for i, customer in enumerate(store.customers):
        _order(engine, store, customer, f"S-{i}")
    ingest_triggers(engine, now=NOON)
    decide_due(engine, context(), now=NOON)
    states = {r.customer_id: r.state for r in _outbox(engine)}
    assert states == {store.customers[0]: "suppressed", store.customers[1]: "pending"}


def test_holdout_members_get_a_would_have_sent_record_and_no_points(engine: Engine) -> None:
    store = make_store(engine, customers=6)
    journey = thank_you(start="hold")
    journey["nodes"]["hold"] = {"type": "holdout", "percent": 50, "next": "points"}
    journey["nodes"]["points"] = {"type": "give_points", "points": 40, "next": "send"}
    held = {c for c in store.customers if in_holdout("thanks", c, 50)}
    assert 0 < len(held) < len(store.customers)  # both arms are exercised
    apply(engine, store, journey)
    for i, customer in enumerate(store.customers):
        _order(engine, store, customer, f"H-{i}")
    ingest_triggers(engine, now=NOON)
    decide_due(engine, context(), now=NOON)
    with unit_of_work(engine, write=False) as session:
        balances = dict(
            session.execute(select(LoyaltyAccount.customer_id, LoyaltyAccount.balance)).all()
        )
    for customer in store.customers:
        rows = sorted((r.channel, r.state) for r in _outbox(engine) if r.customer_id == customer)
        if customer in held:
            assert rows == [("email", "held_out"), ("points", "held_out")]
            assert balances[customer] == 150
        else:
            assert rows == [("email", "pending")]
            assert balances[customer] == 190


def test_a_journey_ignores_orders_placed_before_it_was_applied(engine: Engine) -> None:
    store = make_store(engine, customers=1)
    _order(engine, store, store.customers[0], "OLD")
    apply(engine, store, thank_you())
    new = _order(engine, store, store.customers[0], "NEW")
    # Only the new order, read as placed (orders) and as changed (order_updates).
    assert ingest_triggers(engine, now=NOON) == 2
    with unit_of_work(engine, write=False) as session:
        started = session.scalars(select(JourneyRun.order_id)).all()
    assert started == [new]
