"""Last-touch attribution ignores opens the tracking flagged as a machine's (both backends).

Three customers get the thank-you e-mail; each then has one open and an order 2 hours
later, inside the 1-day open window. Only the person's open is a touch: the order after
a privacy proxy's or a scanner's open is nobody's response."""

from __future__ import annotations

from datetime import timedelta

from automationtest import NOON, add_order, apply, context, make_store, thank_you
from sqlalchemy import Engine, update

from recompra.automation.worker import decide_due, ingest_triggers
from recompra.db import unit_of_work
from recompra.measurement.attribution import AttributionWindows, attribute
from recompra.models import Event
from recompra.models.automation import OutboxMessage

OPENED_AT = NOON + timedelta(hours=3)


def test_machine_flagged_opens_are_no_touch(engine: Engine) -> None:
    store = make_store(engine, customers=3, points=0)
    apply(engine, store, thank_you())
    person, proxy, scanner = store.customers
    with unit_of_work(engine) as session:
        for customer in store.customers:
            add_order(session, store, customer, f"T-{customer}")
    ingest_triggers(engine, now=NOON)
    decide_due(engine, context(), now=NOON)
    with unit_of_work(engine) as session:
        session.execute(update(OutboxMessage).values(state="sent", sent_at=NOON))
        # The payloads automation.tracking.record_open writes for each kind of opener.
        for customer, machine in ((person, False), (proxy, True), (scanner, True)):
            session.add(
                Event(
                    brand_id=store.brand_id,
                    customer_id=customer,
                    type="email_opened",
                    occurred_at=OPENED_AT,
                    payload={"journey": "thanks", "node": "send", "machine": machine},
                )
            )
            add_order(
                session,
                store,
                customer,
                f"F-{customer}",
                at=OPENED_AT + timedelta(hours=2),
                total_minor=1_000 * customer,
            )
    with unit_of_work(engine, write=False) as session:
        response = attribute(session, brand_id=store.brand_id, windows=AttributionWindows())
    thanks = response.by_node[("thanks", "send")]
    assert (thanks.delivered, thanks.opens) == (3, 1)
    assert (thanks.attributed_orders, thanks.attributed_revenue_minor) == (1, 1_000 * person)
    # The same opens by people would have credited all three orders.
    with unit_of_work(engine) as session:
        session.execute(update(Event).values(payload={"journey": "thanks", "node": "send"}))
    with unit_of_work(engine, write=False) as session:
        response = attribute(session, brand_id=store.brand_id, windows=AttributionWindows())
    assert response.by_node[("thanks", "send")].attributed_orders == 3
