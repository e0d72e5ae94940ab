"""The batch entry (``start_runs``) judges each entrant as ``start_run`` would, with the
earlier entrants of the batch already in: cooldowns and unique entry keys hold inside a
batch as across batches (both backends)."""

from __future__ import annotations

from datetime import timedelta

from automationtest import NOON, apply, make_store, thank_you
from sqlalchemy import Engine, select

from recompra.automation.runs import Entrant, active_journeys, start_runs
from recompra.db import unit_of_work
from recompra.models.automation import JourneyTimer


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
