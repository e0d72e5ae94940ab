"""The demo's journey history (both backends): past entries run through the real worker,
arms by the stable hash, a known effect only for the treated, and the report's figures
equal to Welch's formula written here over the raw runs and orders."""

from __future__ import annotations

import math
import random
from datetime import timedelta

import pandas as pd
from automationtest import NOON, context, make_store
from scipy import stats as scipy_stats
from sqlalchemy import Engine, select

from recompra.automation.schedule import in_holdout
from recompra.db import unit_of_work
from recompra.hub.ingest.orders import ingest_orders
from recompra.measurement.history import HISTORY_SOURCE, write_journey_history
from recompra.measurement.uplift import journey_uplift
from recompra.models import Order
from recompra.models.automation import Journey, JourneyRun, OutboxMessage

CUSTOMERS = 300
AS_OF = NOON


def _store(engine: Engine) -> int:
    """Customers buying one to four times over the two years before the as-of."""
    store = make_store(engine, customers=0, points=0)
    rng = random.Random(16)
    orders = []
    for c in range(CUSTOMERS):
        for n in range(rng.randint(1, 4)):
            orders.append(
                {
                    "order_id": f"o-{c}-{n}",
                    "purchased_at": (AS_OF - timedelta(days=rng.uniform(40, 700))).isoformat(),
                    "customer": {"email": f"c{c}@example.com", "name": f"Cliente {c}"},
                    "items": [{"product_id": f"p{c % 3}", "unit_price_minor": 5_000 + 10 * c}],
                }
            )
    with unit_of_work(engine) as session:
        ingest_orders(session, brand_id=store.brand_id, source="shop", orders=orders)
    return store.brand_id


def _frame(engine: Engine, brand_id: int, key: str) -> pd.DataFrame:
    """Each customer's first run with the orders and revenue of its 30-day window."""
    with unit_of_work(engine, write=False) as session:
        runs = pd.DataFrame(
            session.execute(
                select(JourneyRun.customer_id, JourneyRun.started_at, JourneyRun.holdout)
                .join(Journey, Journey.id == JourneyRun.journey_id)
                .where(Journey.brand_id == brand_id, Journey.key == key)
                .order_by(JourneyRun.started_at, JourneyRun.id)
            ).all(),
            columns=["customer_id", "started_at", "holdout"],
        ).drop_duplicates("customer_id")
        orders = pd.DataFrame(
            session.execute(
                select(Order.customer_id, Order.purchased_at, Order.total_minor).where(
                    Order.brand_id == brand_id
                )
            ).all(),
            columns=["customer_id", "purchased_at", "total_minor"],
        )
    for frame, column in ((runs, "started_at"), (orders, "purchased_at")):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    joined = runs.merge(orders, on="customer_id")
    inside = joined[
        (joined["purchased_at"] > joined["started_at"])
        & (joined["purchased_at"] <= joined["started_at"] + pd.Timedelta(days=30))
    ]
    revenue = inside.groupby("customer_id")["total_minor"].sum()
    return runs.assign(revenue=runs["customer_id"].map(revenue).fillna(0.0))


def test_the_history_runs_through_the_worker_with_the_effect_on_the_treated_only(
    engine: Engine,
) -> None:
    brand_id = _store(engine)
    summary = write_journey_history(
        engine, brand_id=brand_id, currency="BRL", as_of=AS_OF, ctx=context()
    )
    assert summary.entries["win_back"] > 0
    assert summary.entries["post_purchase_thanks"] > 0
    assert summary.extra_orders["post_purchase_thanks"] == 0
    assert summary.extra_orders["win_back"] > 0
    with unit_of_work(engine, write=False) as session:
        runs = session.execute(
            select(Journey.key, JourneyRun.id, JourneyRun.customer_id, JourneyRun.holdout).join(
                Journey, Journey.id == JourneyRun.journey_id
            )
        ).all()
        states = session.execute(select(OutboxMessage.run_id, OutboxMessage.state)).all()
        extra_buyers = set(
            session.scalars(select(Order.customer_id).where(Order.source == HISTORY_SOURCE))
        )
    # The arms are the packaged 10% holdout of the stable hash.
    assert all(held == in_holdout(key, customer, 10) for key, _, customer, held in runs)
    held_runs = {run for _, run, _, held in runs if held}
    assert held_runs
    # Holdout members get "would have sent" rows and no delivery; the treated were sent.
    assert {state for run, state in states if run in held_runs} == {"held_out"}
    assert "sent" in {state for run, state in states if run not in held_runs}
    # The known effect goes to treated win-back entrants only.
    treated = {c for key, _, c, held in runs if key == "win_back" and not held}
    assert extra_buyers
    assert extra_buyers <= treated
    # Running it again writes nothing more.
    again = write_journey_history(
        engine, brand_id=brand_id, currency="BRL", as_of=AS_OF, ctx=context()
    )
    assert again.extra_orders == {"win_back": 0, "post_purchase_thanks": 0}
    assert sum(again.entries.values()) == 0

    frame = _frame(engine, brand_id, "win_back")
    t = frame.loc[~frame["holdout"], "revenue"].to_numpy(float)
    c = frame.loc[frame["holdout"], "revenue"].to_numpy(float)
    # Welch: difference of means, Satterthwaite's df, t quantile; scaled to the treated.
    vt, vc = t.var(ddof=1) / len(t), c.var(ddof=1) / len(c)
    df = (vt + vc) ** 2 / (vt**2 / (len(t) - 1) + vc**2 / (len(c) - 1))
    half = scipy_stats.t.ppf(0.975, df) * math.sqrt(vt + vc)
    diff = t.mean() - c.mean()
    with unit_of_work(engine, write=False) as session:
        (report,) = journey_uplift(session, brand_id=brand_id, now=AS_OF, journey_key="win_back")
    comparison = report.comparison
    assert comparison is not None
    assert (comparison.treated.eligible, comparison.control.eligible) == (len(t), len(c))
    incremental = comparison.incremental_revenue
    assert abs(incremental.value_minor - round(diff * len(t))) <= 1
    assert abs(incremental.ci_low_minor - round((diff - half) * len(t))) <= 1
    assert abs(incremental.ci_high_minor - round((diff + half) * len(t))) <= 1
