"""The batch entry (``start_runs``) judges each entrant as ``start_run`` would, with the
earlier entrants of the batch already in: cooldowns and unique entry keys hold inside a
batch as across batches (both backends)."""

from __future__ import annotations

from datetime import timedelta

from automationtest import NOON, apply, make_store, thank_you
from sqlalchemy import Engine, event, select

from recompra.automation.runs import Entrant, active_journeys, start_runs
from recompra.db import unit_of_work
from recompra.models.automation import JourneyRun, JourneyTimer


def test_a_batch_keeps_the_cooldown_and_the_unique_entry_key(engine: Engine) -> None:
    store = make_store(engine, customers=2, points=0)
    apply(
        engine,
        store,
        thank_you(entry={"key": "customer", "reentry": "cooldown", "cooldown_days": 10}),
    )
    first, second = store.customers
    day = timedelta(days=1)
    with unit_of_work(engine) as session:
        (journey,) = active_journeys(session)
        started = start_runs(
            session,
            journey,
            [
                Entrant(first, "a", NOON),
                Entrant(first, "b", NOON + 5 * day),  # inside the cooldown of the first
                Entrant(second, "a", NOON),
                Entrant(second, "a", NOON + 20 * day),  # past it, but the same entry key
                Entrant(first, "c", NOON + 11 * day),  # past the cooldown: enters again
            ],
        )
    assert [run is not None for run in started] == [True, False, True, False, True]
    with unit_of_work(engine) as session:
        (journey,) = active_journeys(session)
        # A later batch sees the runs already in.
        again = start_runs(session, journey, [Entrant(first, "d", NOON + 15 * day)])
        due = dict(session.execute(select(JourneyTimer.run_id, JourneyTimer.due_at)).all())
    assert again == [None]
    # Each run's start node is due at its own entrant's moment.
    assert due == {
        started[0]: NOON,
        started[2]: NOON,
        started[4]: NOON + 11 * day,
    }


def test_a_replayed_batch_starts_nothing_and_the_insert_text_is_one_for_any_size(
    engine: Engine,
) -> None:
    store = make_store(engine, customers=3, points=0)
    apply(engine, store, thank_you(entry={"key": "customer", "reentry": "once_per_key"}))
    statements: list[str] = []

    def keep(conn: object, cursor: object, statement: str, *_: object) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO JOURNEY_RUNS"):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", keep)
    try:
        with unit_of_work(engine) as session:
            (journey,) = active_journeys(session)
            one = start_runs(session, journey, [Entrant(store.customers[0], "a", NOON)])
            three = start_runs(session, journey, [Entrant(c, "a", NOON) for c in store.customers])
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    # The first customer's run exists: the second batch starts the two others only, and
    # returns their ids in the entrants' order.
    assert one[0] is not None
    assert three[0] is None
    assert None not in three[1:]
    assert len({one[0], *three[1:]}) == 3
    with unit_of_work(engine) as session:
        runs = dict(session.execute(select(JourneyRun.id, JourneyRun.customer_id)).all())
    assert runs == {
        one[0]: store.customers[0],
        three[1]: store.customers[1],
        three[2]: store.customers[2],
    }
    if engine.dialect.name == "postgresql":
        # One text for a batch of one and of three (rows sent as one JSON document):
        # an INSERT ... VALUES grew with the batch, rendered and converted each time.
        assert len(statements) == 2
        assert statements[0] == statements[1]
