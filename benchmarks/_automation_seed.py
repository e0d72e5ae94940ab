"""Seeding for the automation benchmarks: a brand with journeys and due timers, written
in bulk with their own ids (``bench_automation.py``, ``bench_unsubscribe.py``,
``bench_events_sustained.py``)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert, select, text

from recompra.automation.definition import parse_journey
from recompra.automation.service import apply_journey
from recompra.db import unit_of_work
from recompra.db.dialect import is_postgresql
from recompra.models import Brand, BrandCustomer, Customer, Order
from recompra.models.automation import Journey, JourneyRun, JourneyTimer

NOW = datetime(2026, 6, 17, 18, 0, tzinfo=UTC)


def _journey(key: str, start: dict[str, Any]) -> dict[str, Any]:
    return {
        "key": key,
        "name": {"pt-BR": key, "en": key},
        "trigger": {"type": "order_placed"},
        "entry": {"key": "order", "reentry": "once_per_key"},
        "start": "first",
        "nodes": {"first": start, "done": {"type": "exit"}},
    }


SEND = {"type": "send", "channel": "email", "template": "post_purchase_thanks", "next": "done"}
WAIT = {"type": "wait", "duration": "1d", "next": "done"}


def seed_timers(engine: Engine, n: int, start: dict[str, Any], *, per_customer: int = 1) -> int:
    """``n`` runs (one order each; ``per_customer`` runs per customer) with a due timer at
    the journey's start node; returns the brand's id."""
    with unit_of_work(engine) as session:
        brand = Brand(slug=f"b{uuid.uuid4().hex[:6]}", name="Loja Bench")
        session.add(brand)
        session.flush()
        apply_journey(
            session, brand_id=brand.id, definition=parse_journey(_journey("bench", start))
        )
        journey_id = session.scalar(select(Journey.id).where(Journey.brand_id == brand.id))
        first = _next_id(session, Customer)
        runs = _next_id(session, JourneyRun)
        ids = list(range(first, first + n // per_customer))
        session.execute(
            insert(Customer),
            [{"id": c, "name": f"Cliente {c}", "email": f"c{c}@example.com"} for c in ids],
        )
        session.execute(
            insert(BrandCustomer), [{"brand_id": brand.id, "customer_id": c} for c in ids]
        )
        # Run r belongs to customer ids[r // per_customer] and has its own order r.
        owner = {r: ids[(r - runs) // per_customer] for r in range(runs, runs + n)}
        session.execute(
            insert(Order),
            [
                {
                    "id": r,
                    "brand_id": brand.id,
                    "source": "bench",
                    "external_id": str(r),
                    "customer_id": c,
                    "status": "delivered",
                    "purchased_at": NOW - timedelta(hours=1),
                    "total_minor": 10_000 + r % 5000,
                }
                for r, c in owner.items()
            ],
        )
        session.execute(
            insert(JourneyRun),
            [
                {
                    "id": r,
                    "journey_id": journey_id,
                    "version": 1,
                    "customer_id": c,
                    "entry_key": f"order:{r}",
                    "node": "first",
                    "order_id": r,
                    "started_at": NOW,
                }
                for r, c in owner.items()
            ],
        )
        session.execute(
            insert(JourneyTimer),
            [
                {
                    "run_id": r,
                    "node": "first",
                    "execution_key": f"{journey_id}:1:order:{r}:first:{c}",
                    "due_at": NOW,
                }
                for r, c in owner.items()
            ],
        )
        _advance_sequences(session)
        return brand.id


def _advance_sequences(session: Any) -> None:
    """Rows inserted with their own ids leave PostgreSQL's sequences behind: move them
    past, so that later writes (a trigger starting runs) get fresh ids."""
    if not is_postgresql(session):
        return
    for table in ("customers", "orders", "journey_runs"):
        session.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        )


def _next_id(session: Any, model: Any) -> int:
    # Orders share ids with runs: both start past the largest id either table has.
    largest = [session.scalar(select(text("max(id)")).select_from(m)) or 0 for m in (model, Order)]
    return max(largest) + 1


def seed_event_journeys(
    engine: Engine, customers: int, journeys: int = 20
) -> tuple[int, list[int]]:
    """A brand with ``journeys`` active journeys ``ev0`` ... triggered by the custom
    events ``e0`` ... (one run per journey and customer, whose start node waits a day)
    and ``customers`` customers: (the brand's id, the customers' ids)."""
    with unit_of_work(engine) as session:
        brand = Brand(slug=f"e{uuid.uuid4().hex[:6]}", name="Loja Eventos")
        session.add(brand)
        session.flush()
        for k in range(journeys):
            document = _journey(f"ev{k}", WAIT)
            document["trigger"] = {"type": "event", "event": f"e{k}"}
            document["entry"] = {"key": "customer", "reentry": "once_per_key"}
            apply_journey(session, brand_id=brand.id, definition=parse_journey(document))
        first = _next_id(session, Customer)
        ids = list(range(first, first + customers))
        session.execute(insert(Customer), [{"id": c, "name": f"C{c}"} for c in ids])
        session.execute(
            insert(BrandCustomer), [{"brand_id": brand.id, "customer_id": c} for c in ids]
        )
        _advance_sequences(session)
        return brand.id, ids
