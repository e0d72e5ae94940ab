"""Uplift targeting used by the automation (both backends): with targeting enabled, the
worker's send decision skips customers predicted not to respond and records why; a
customer without a prediction, and every customer once targeting is off, is sent to.
And the fit that enables it: only when a model's Qini CI lies above zero."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from automationtest import NOON, add_order, apply, context, make_store, thank_you
from sqlalchemy import Engine, select

from recompra.automation.schedule import in_holdout
from recompra.automation.worker import decide_due, ingest_triggers
from recompra.db import unit_of_work
from recompra.measurement.targeting_flow import fit_targeting
from recompra.models import JourneyTargeting, UpliftPrediction
from recompra.models.automation import Journey, JourneyRun, OutboxMessage


def _decide(engine: Engine) -> dict[int, list[tuple[str, str | None]]]:
    ingest_triggers(engine, now=NOON + timedelta(hours=1))
    decide_due(engine, context(), now=NOON + timedelta(hours=1))
    with unit_of_work(engine, write=False) as session:
        rows = session.execute(
            select(OutboxMessage.customer_id, OutboxMessage.state, OutboxMessage.payload).order_by(
                OutboxMessage.id
            )
        ).all()
    decided: dict[int, list[tuple[str, str | None]]] = {}
    for customer, state, payload in rows:
        decided.setdefault(customer, []).append((state, payload.get("reason")))
    return decided


def test_a_targeted_journey_skips_customers_predicted_not_to_respond(engine: Engine) -> None:
    store = make_store(engine, customers=3, points=0)
    journey = thank_you()
    journey["nodes"]["send"]["purpose"] = "marketing"
    apply(engine, store, journey)
    responder, non_responder, unknown = store.customers
    with unit_of_work(engine) as session:
        journey_id = session.scalar(select(Journey.id))
        assert journey_id is not None
        session.add(JourneyTargeting(journey_id=journey_id, enabled=True, model="t_learner"))
        session.add_all(
            [
                UpliftPrediction(journey_id=journey_id, customer_id=responder, uplift=0.05),
                UpliftPrediction(journey_id=journey_id, customer_id=non_responder, uplift=-0.02),
            ]
        )
        for n, customer in enumerate(store.customers):
            add_order(session, store, customer, f"A-{n}")
    decided = _decide(engine)
    assert decided[responder] == [("pending", None)]
    assert decided[non_responder] == [("suppressed", "targeting")]
    assert decided[unknown] == [("pending", None)]
    # Targeting switched off: the same customer's next order is sent to.
    with unit_of_work(engine) as session:
        row = session.get_one(JourneyTargeting, journey_id)
        row.enabled = False
        add_order(session, store, non_responder, "B-1", at=NOON + timedelta(minutes=1))
    assert _decide(engine)[non_responder] == [("suppressed", "targeting"), ("pending", None)]


def test_targeting_is_enabled_only_when_the_qini_ci_is_above_zero(engine: Engine) -> None:
    """Entrants of a 50% holdout journey whose message works only for frequent buyers
    (a strong, real ranking signal): enabled, and the predictions rank them first.
    Before anyone entered there is nothing to judge, and targeting stays off."""
    if engine.dialect.name != "sqlite":
        pytest.skip("the fit reads through the same ORM on both; one backend keeps CI short")
    rng = np.random.default_rng(16)
    store = make_store(engine, customers=2_400, points=0)
    journey = thank_you(start="hold")
    journey["nodes"]["hold"] = {"type": "holdout", "percent": 50, "next": "send"}
    apply(engine, store, journey)
    with unit_of_work(engine) as session:
        empty = fit_targeting(session, brand_id=store.brand_id, journey_key="thanks", now=NOON)
    assert (empty.enabled, empty.reason) == (False, "too_little_holdout_data")
    entered = NOON - timedelta(days=60)
    with unit_of_work(engine) as session:
        journey_id = session.scalar(select(Journey.id))
        assert journey_id is not None
        for i, customer in enumerate(store.customers):
            frequent = i % 2 == 0
            for k in range(4 if frequent else 1):
                add_order(
                    session,
                    store,
                    customer,
                    f"P-{i}-{k}",
                    at=entered - timedelta(days=30 * (k + 1)),
                )
            held = in_holdout("thanks", customer, 50)
            # The measured arm is the stable hash; the run rows are what the report reads.
            session.add(
                JourneyRun(
                    journey_id=journey_id,
                    version=1,
                    customer_id=customer,
                    entry_key=f"e{i}",
                    node="done",
                    state="completed",
                    holdout=held,
                    started_at=entered,
                )
            )
            rate = 0.1 + (0.5 if frequent and not held else 0.0)
            if rng.random() < rate:
                add_order(session, store, customer, f"F-{i}", at=entered + timedelta(days=5))
    with unit_of_work(engine) as session:
        decision = fit_targeting(session, brand_id=store.brand_id, journey_key="thanks", now=NOON)
    assert decision.enabled
    assert decision.ci_low is not None
    assert decision.ci_low > 0
    with unit_of_work(engine, write=False) as session:
        predictions = dict(
            session.execute(select(UpliftPrediction.customer_id, UpliftPrediction.uplift)).all()
        )
    # The model learned who responds: frequent buyers above the others.
    frequent = [predictions[c] for i, c in enumerate(store.customers) if i % 2 == 0]
    rare = [predictions[c] for i, c in enumerate(store.customers) if i % 2 == 1]
    assert min(frequent) > max(rare)
    assert decision.predicted == len(store.customers)
