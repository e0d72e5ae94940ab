"""Calendar-day caps and a journey's own caps (both backends): deferred to the next
allowed slot or skipped, with the binding cap recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from automationtest import NOON, Store, add_order, apply, context, make_store, thank_you
from sqlalchemy import Engine, select

from recompra.automation.board import journey_board
from recompra.automation.schedule import ContactPolicy
from recompra.automation.worker import decide_due, ingest_triggers
from recompra.db import unit_of_work
from recompra.models.automation import JourneyTimer, OutboxMessage

#: No rolling cap and no quiet hours: only the caps under test apply.
BARE = ContactPolicy(caps={}, quiet_from=None, quiet_to=None)
#: NOON is 15:00 on Wednesday 17 June 2026 in São Paulo (UTC-3): the next local
#: midnight is 03:00 UTC on the 18th.
NEXT_MIDNIGHT = datetime(2026, 6, 18, 3, 0, tzinfo=UTC)


def _two_orders(engine: Engine, store: Store, document: dict[str, Any]) -> None:
    apply(engine, store, document)
    with unit_of_work(engine) as session:
        add_order(session, store, store.customers[0], "C-1")
        add_order(session, store, store.customers[0], "C-2")
    ingest_triggers(engine, now=NOON)


def _state(engine: Engine) -> tuple[list[str], list[tuple[datetime, str | None]]]:
    with unit_of_work(engine, write=False) as session:
        outbox = list(session.scalars(select(OutboxMessage.state).order_by(OutboxMessage.id)))
        timers = [
            (t.due_at, t.reason)
            for t in session.scalars(select(JourneyTimer).where(JourneyTimer.state == "pending"))
        ]
    return outbox, timers


def test_a_journey_cap_per_day_defers_to_the_next_local_midnight(engine: Engine) -> None:
    store = make_store(engine, customers=1)
    _two_orders(engine, store, thank_you(caps=[{"limit": 1, "per": "day"}]))
    assert decide_due(engine, context(BARE), now=NOON) == 2
    assert _state(engine) == (["pending"], [(NEXT_MIDNIGHT, "cap_journey_day")])
    # The journeys page counts it among the sends a cap holds back.
    with unit_of_work(engine, write=False) as session:
        (board,) = journey_board(session, brand_id=store.brand_id)
    send = next(n for n in board.nodes if n.name == "send")
    assert (send.count("cap_deferred"), send.count("pending")) == (1, 1)
    # At midnight the deferred send goes out.
    assert decide_due(engine, context(BARE), now=NEXT_MIDNIGHT) == 1
    assert _state(engine) == (["pending", "pending"], [])


def test_the_next_allowed_slot_is_also_outside_quiet_hours(engine: Engine) -> None:
    store = make_store(engine, customers=1)
    _two_orders(engine, store, thank_you(caps=[{"limit": 1, "per": "day"}]))
    quiet = ContactPolicy(caps={})  # quiet 21:00-08:00 in São Paulo
    assert decide_due(engine, context(quiet), now=NOON) == 2
    # Midnight is inside the quiet hours: 08:00 local on the 18th = 11:00 UTC.
    assert _state(engine)[1] == [(datetime(2026, 6, 18, 11, 0, tzinfo=UTC), "cap_journey_day")]


def test_a_journey_rolling_cap_counts_only_its_own_messages(engine: Engine) -> None:
    store = make_store(engine, customers=1)
    other = thank_you(key="other")
    apply(engine, store, other)
    _two_orders(engine, store, thank_you(caps=[{"limit": 1, "window": "2d"}]))
    assert decide_due(engine, context(BARE), now=NOON) == 4
    outbox, timers = _state(engine)
    # "other" sends both (uncapped); the capped journey one now and one two days later.
    assert outbox == ["pending", "pending", "pending"]
    assert timers == [(NOON + timedelta(days=2), "cap_journey")]


def test_an_installation_calendar_day_cap_skips_with_its_reason(engine: Engine) -> None:
    store = make_store(engine, customers=1)
    document = thank_you()
    document["nodes"]["send"]["on_cap"] = "skip"
    _two_orders(engine, store, document)
    daily = ContactPolicy(caps={}, daily_caps={"email": 1}, quiet_from=None, quiet_to=None)
    assert decide_due(engine, context(daily), now=NOON) == 2
    with unit_of_work(engine, write=False) as session:
        rows = list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
    assert [r.state for r in rows] == ["pending", "suppressed"]
    assert rows[1].payload == {"node": "send", "reason": "cap", "cap": "day"}


def test_a_calendar_day_cap_counts_the_local_day_not_the_last_24_hours(engine: Engine) -> None:
    store = make_store(engine, customers=1)
    daily = ContactPolicy(caps={}, daily_caps={"email": 1}, quiet_from=None, quiet_to=None)
    apply(engine, store, thank_you())
    with unit_of_work(engine) as session:
        add_order(session, store, store.customers[0], "D-1")
    ingest_triggers(engine, now=NOON)
    # 23:30 local on the 17th.
    late = datetime(2026, 6, 18, 2, 30, tzinfo=UTC)
    assert decide_due(engine, context(daily), now=late) == 1
    with unit_of_work(engine) as session:
        add_order(session, store, store.customers[0], "D-2", at=late)
    ingest_triggers(engine, now=late + timedelta(minutes=40))
    # 00:10 local on the 18th: a new local day, although only 40 minutes passed.
    assert decide_due(engine, context(daily), now=late + timedelta(minutes=40)) == 1
    assert _state(engine) == (["pending", "pending"], [])
