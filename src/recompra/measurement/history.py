"""The demo's journey history: past entries with a known treatment effect, written
through the same paths as live ones, so that the measurement page has matured windows
to compare on day one.

1. Who entered: the post-purchase journey's entrants are the store's orders placed
   between ``HISTORY_START`` and ``HISTORY_END`` days before the as-of; the win-back's
   are customers lapsing then (:func:`recompra.generate.treatment.at_risk_entries`).
2. Their arm is the automation's own stable hash (``in_holdout``) at the packaged
   journey's holdout percentage; the treated ones get the extra orders of
   :data:`recompra.generate.treatment.DEMO_EFFECTS`, ingested through the hub's order
   path before the journeys are applied (the order feed then starts after them, so no
   thank-you greets an order of the past).
3. The journeys are applied, each entry starts a run at its past moment (the batch
   entry, ``automation.runs.start_runs``) and the worker decides the runs' timers
   (``automation.worker.decide_due``), each day's together the next
   :data:`DECISION_TIME`: holdout members get "would have sent" rows, the treated
   pending messages and points, exactly as live.
4. The pending messages are claimed and delivered by ``automation.delivery`` to a
   sender that keeps nothing: they belong to the simulated past, nobody should receive
   them today.

Running it again adds nothing: the extra orders have fixed ids and the runs' entry keys
are unique.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, select

from recompra.automation.delivery import claim, deliver
from recompra.automation.demo import apply_ready_made, ready_made_documents
from recompra.automation.email import OutgoingMail, SmtpSender, SmtpSettings
from recompra.automation.runs import Entrant, active_journeys, start_runs
from recompra.automation.schedule import in_holdout
from recompra.automation.steps import DecisionContext
from recompra.automation.worker import decide_due
from recompra.db import unit_of_work
from recompra.generate.treatment import (
    DEMO_EFFECTS,
    Entry,
    ExtraOrder,
    TreatmentEffect,
    at_risk_entries,
    extra_orders,
)
from recompra.hub.ingest.orders import ingest_orders
from recompra.measurement.frames import purchases, read_frame
from recompra.measurement.uplift import holdout_percent
from recompra.models import Customer, Order, OrderItem, Product
from recompra.models.automation import Journey, JourneyRun, JourneyTimer

#: Entries happen between these many days before the as-of: late enough for the
#: 30-day outcome window to have closed, early enough to fit a few weeks of entries.
HISTORY_START = 95
HISTORY_END = 35
#: The source of the extra orders (ids ``history-<journey>-<n>``).
HISTORY_SOURCE = "demo-history"
#: A day's due timers are decided together at this time of the next day's (UTC): 12:00
#: in São Paulo, inside the thank-you's business-hours window and outside the quiet
#: hours, so no decision is deferred. One worker batch per day of history instead of
#: one per hour: a batch reads its customers' facts once, and ~3 decisions per hourly
#: batch paid that reading for almost nothing.
DECISION_TIME = time(15, 0)
#: Timers per worker batch (a day of the demo's history is a few dozen).
DECISION_BATCH = 2_000


@dataclass(frozen=True)
class HistorySummary:
    """What the history step wrote (0 everywhere when a previous run wrote it)."""

    entries: dict[str, int]
    extra_orders: dict[str, int]
    decisions: int
    delivered: int


class _PastSender(SmtpSender):
    """Accepts the history's e-mails and keeps none: they were "sent" in the past."""

    def __init__(self) -> None:
        super().__init__(
            SmtpSettings(host="history.invalid", port=25, sender="history@recompra.invalid")
        )

    def send(self, message: OutgoingMail) -> None:
        return None


def _holdout_percents() -> dict[str, float]:
    """The packaged journeys' holdout percentages (those with a holdout node)."""
    percents = {d["key"]: holdout_percent(d) for d in ready_made_documents()}
    return {key: percent for key, percent in percents.items() if percent is not None}


def _entries(
    orders: pd.DataFrame, as_of: datetime, rng: np.random.Generator
) -> dict[str, list[tuple[int, datetime, int | None]]]:
    """(customer, moment, order) of each journey's past entries."""
    start, end = as_of - timedelta(days=HISTORY_START), as_of - timedelta(days=HISTORY_END)
    placed = orders[(orders["purchased_at"] >= start) & (orders["purchased_at"] < end)]
    lapsing = at_risk_entries(orders, start=start, end=end, rng=rng)
    return {
        "post_purchase_thanks": [
            (int(c), t.to_pydatetime(), int(o))
            for c, t, o in zip(
                placed["customer_id"], placed["purchased_at"], placed["order_id"], strict=True
            )
        ],
        "win_back": [(c, t, None) for c, t in lapsing],
    }


def _order_documents(
    engine: Engine, effect: TreatmentEffect, orders: list[ExtraOrder]
) -> list[dict[str, Any]]:
    """Each extra order repeats the first item of the customer's last earlier order."""
    customers = {o.customer_id for o in orders}
    with unit_of_work(engine, write=False) as session:
        items = session.execute(
            select(
                Order.customer_id,
                Order.purchased_at,
                Customer.email,
                Customer.name,
                Product.external_id,
                Product.name,
                OrderItem.unit_price_minor,
            )
            .join(Customer, Customer.id == Order.customer_id)
            .join(OrderItem, OrderItem.order_id == Order.id)
            .join(Product, Product.id == OrderItem.product_id)
            .where(Order.customer_id.in_(customers), Customer.email.is_not(None))
            .order_by(Order.purchased_at, OrderItem.line_number)
        ).all()
    documents = []
    for n, extra in enumerate(orders, start=1):
        when = extra.purchased_at
        earlier = [row for row in items if row[0] == extra.customer_id]
        earlier = [row for row in earlier if row[1].replace(tzinfo=UTC) < when] or earlier
        if not earlier:
            continue
        _, _, email, name, product_id, product_name, price = earlier[-1]
        documents.append(
            {
                "order_id": f"history-{effect.journey}-{n}",
                "purchased_at": when.isoformat(),
                "status": "delivered",
                "customer": {"email": email, "name": name},
                "items": [
                    {
                        "product_id": product_id,
                        "product_name": product_name,
                        "unit_price_minor": price,
                    }
                ],
            }
        )
    return documents


def decision_moment(due: datetime) -> datetime:
    """The first :data:`DECISION_TIME` (UTC) at or after ``due``."""
    moment = datetime.combine(due.astimezone(UTC).date(), DECISION_TIME, tzinfo=UTC)
    return moment if moment >= due else moment + timedelta(days=1)


def settle_history(engine: Engine, ctx: DecisionContext, as_of: datetime) -> tuple[int, int]:
    """Decide every timer due before the as-of, a day's timers together at the day's
    :data:`DECISION_TIME` (no later than the as-of), then deliver the messages decided
    to a sender that keeps nothing: they belong to the past. Returns (decisions,
    messages delivered)."""
    decided = 0
    while True:
        with unit_of_work(engine, write=False) as session:
            due = session.scalar(
                select(func.min(JourneyTimer.due_at)).where(JourneyTimer.state == "pending")
            )
        if due is None or due > as_of:
            break
        moment = min(decision_moment(due), as_of)
        while done := decide_due(engine, ctx, now=moment, batch=DECISION_BATCH):
            decided += done
    delivered = deliver(
        engine,
        claim(engine, now=as_of, limit=1_000_000),
        smtp=_PastSender(),
        sender="history@recompra.invalid",
        require_opt_in=ctx.require_opt_in,
    )
    return decided, delivered.sent


def write_journey_history(
    engine: Engine,
    *,
    brand_id: int,
    currency: str,
    as_of: datetime,
    ctx: DecisionContext,
    seed: int = 16,
    effects: tuple[TreatmentEffect, ...] = DEMO_EFFECTS,
) -> HistorySummary:
    """Write the past entries, their extra orders and the worker's decisions."""
    rng = np.random.default_rng(seed)
    with unit_of_work(engine, write=False) as session:
        done = session.scalar(
            select(func.count())
            .select_from(Order)
            .where(Order.brand_id == brand_id, Order.source == HISTORY_SOURCE)
        )
        orders = purchases(session, brand_id=brand_id)
        orders = orders.merge(
            read_frame(
                session,
                select(Order.id, Order.source).where(Order.brand_id == brand_id),
                ["order_id", "source"],
            ),
            on="order_id",
        )
    # The store's own orders only: a rerun must find the same entrants.
    orders = orders[orders["source"] != HISTORY_SOURCE]
    entries = _entries(orders, as_of, rng)
    percents = _holdout_percents()
    placed: dict[str, int] = {}
    for effect in effects:
        percent = percents[effect.journey]
        arms = [
            Entry(c, t, not in_holdout(effect.journey, c, percent))
            for c, t, _ in entries[effect.journey]
        ]
        extra = extra_orders(arms, effect, rng)
        documents = _order_documents(engine, effect, extra) if not done else []
        with unit_of_work(engine) as session:
            ingest_orders(
                session,
                brand_id=brand_id,
                source=HISTORY_SOURCE,
                orders=documents,
                currency=currency,
            )
        placed[effect.journey] = len(documents)
    apply_ready_made(engine, brand_id=brand_id)
    started: dict[str, int] = {}
    with unit_of_work(engine) as session:
        journeys = {j.key: j for j in active_journeys(session) if j.brand_id == brand_id}
        for effect in effects:
            runs = start_runs(
                session,
                journeys[effect.journey],
                [
                    Entrant(
                        customer_id,
                        f"history:{moment.date().isoformat()}",
                        moment,
                        order_id,
                    )
                    for customer_id, moment, order_id in entries[effect.journey]
                ],
            )
            started[effect.journey] = sum(run is not None for run in runs)
    decisions, delivered = settle_history(engine, ctx, as_of)
    _check_arms(engine, brand_id, effects)
    return HistorySummary(started, placed, decisions, delivered)


def _check_arms(engine: Engine, brand_id: int, effects: tuple[TreatmentEffect, ...]) -> None:
    """The worker's holdout flags must be the arms the extra orders were drawn for."""
    percents = _holdout_percents()
    keys = [e.journey for e in effects]
    with unit_of_work(engine, write=False) as session:
        rows = session.execute(
            select(Journey.key, JourneyRun.customer_id, JourneyRun.holdout)
            .join(Journey, Journey.id == JourneyRun.journey_id)
            .where(Journey.brand_id == brand_id, Journey.key.in_(keys))
        ).all()
    wrong = [(k, c) for k, c, held in rows if held != in_holdout(k, c, percents[k])]
    if wrong:
        raise RuntimeError(f"runs whose arm is not the stable hash's: {wrong[:5]}")
