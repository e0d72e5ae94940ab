"""The uplift report read from a real journey's runs, outbox and orders (both backends).

The journey runs through the real worker (triggers, decisions, delivery claim); the
expected figures are recomputed here from the orders the test placed and the holdout
hash, with Welch's formula written out."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import timedelta

from automationtest import NOON, add_order, apply, context, make_store, thank_you
from scipy import stats as scipy_stats
from sqlalchemy import Engine, func, select, update

from recompra.automation.delivery import claim
from recompra.automation.schedule import in_holdout
from recompra.automation.worker import decide_due, ingest_triggers
from recompra.db import unit_of_work
from recompra.measurement.attribution import Response
from recompra.measurement.service import uplift_report
from recompra.measurement.uplift import journey_uplift
from recompra.models import CustomerScore, Event, Order
from recompra.models.automation import JourneyRun, OutboxMessage

CUSTOMERS = 120
LATER = NOON + timedelta(days=60)


def _journey() -> dict[str, object]:
    journey = thank_you(start="hold")
    journey["nodes"]["hold"] = {"type": "holdout", "percent": 50, "next": "send"}  # type: ignore[index]
    return journey


def _follow_up(index: int) -> int | None:
    """The amount a customer spends 3 days after entry (``None``: no order)."""
    return 10_000 + 37 * index if index % 3 == 0 else None


def test_the_report_compares_arms_over_the_window_and_holdout_gets_no_delivery(
    engine: Engine,
) -> None:
    store = make_store(engine, customers=CUSTOMERS, points=0)
    apply(engine, store, _journey())
    with unit_of_work(engine) as session:
        for i, customer in enumerate(store.customers):
            add_order(session, store, customer, f"E-{i}")
    ingest_triggers(engine, now=NOON)
    decide_due(engine, context(), now=NOON)
    held = {c for c in store.customers if in_holdout("thanks", c, 50)}
    # The delivery worker claims what it would send: no holdout member is among them.
    claimed = claim(engine, now=NOON, limit=10_000)
    with unit_of_work(engine, write=False) as session:
        customer_of = dict(
            session.execute(select(OutboxMessage.id, OutboxMessage.customer_id)).all()
        )
    assert {customer_of[c.id] for c in claimed} == set(store.customers) - held
    with unit_of_work(engine) as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.state == "sending")
            .values(state="sent", sent_at=NOON)
        )
        for i, customer in enumerate(store.customers):
            amount = _follow_up(i)
            if amount is not None:
                add_order(
                    session,
                    store,
                    customer,
                    f"F-{i}",
                    at=NOON + timedelta(days=3),
                    total_minor=amount,
                )
            if i % 5 == 0:  # outside the 30-day window
                add_order(session, store, customer, f"L-{i}", at=NOON + timedelta(days=40))
            if i % 7 == 0:  # canceled orders never count
                order_id = add_order(
                    session, store, customer, f"C-{i}", at=NOON + timedelta(days=2)
                )
                session.get_one(Order, order_id).status = "canceled"
        session.add(
            Event(
                brand_id=store.brand_id,
                customer_id=store.customers[3],
                type="email_clicked",
                occurred_at=NOON + timedelta(days=1),
                payload={"journey": "thanks", "node": "send"},
            )
        )
        # Two customers with a stored segment: the response KPI per segment.
        for customer, segment in (
            (store.customers[3], "champions"),
            (store.customers[4], "at_risk"),
        ):
            session.add(
                CustomerScore(
                    brand_id=store.brand_id,
                    customer_id=customer,
                    as_of=NOON.date(),
                    segment=segment,
                )
            )
    with unit_of_work(engine, write=False) as session:
        assert session.scalar(select(JourneyRun.id).where(JourneyRun.holdout.is_(True)).limit(1))
        (report,) = journey_uplift(session, brand_id=store.brand_id, now=LATER)
        # What the CLI's --json and the API print: strict JSON (no NaN), the same report.
        plain = json.loads(
            json.dumps(uplift_report(session, brand_id=store.brand_id, now=LATER), allow_nan=False)
        )
    assert report.comparison is not None
    incremental = plain["journeys"][0]["comparison"]["incremental_revenue"]
    assert incremental == dataclasses.asdict(report.comparison.incremental_revenue)

    revenue = {"treated": [], "control": []}  # type: dict[str, list[float]]
    for i, customer in enumerate(store.customers):
        arm = "control" if customer in held else "treated"
        revenue[arm].append(float(_follow_up(i) or 0))
    t, c = revenue["treated"], revenue["control"]
    comparison = report.comparison
    assert comparison is not None
    assert (comparison.treated.eligible, comparison.control.eligible) == (len(t), len(c))
    assert comparison.treated.converted == sum(1 for x in t if x)
    assert comparison.control.revenue_minor == sum(c)
    rate = sum(1 for x in t if x) / len(t) - sum(1 for x in c if x) / len(c)
    assert math.isclose(comparison.conversion_lift.value, rate)
    money = comparison.incremental_revenue
    assert (money.value_minor, money.ci_low_minor, money.ci_high_minor) == _welch_incremental(t, c)
    assert comparison.revenue_per_eligible.value_minor == round(sum(t) / len(t) - sum(c) / len(c))
    assert 0 <= comparison.srm_p_value <= 1
    assert comparison.mde.conversion_mde > 0
    assert comparison.decision in ("better", "worse", "inconclusive")
    # A few dozen converters per arm: too few to fit uplift models, and the report says so.
    assert (report.targeting, report.targeting_reason) == ([], "too_little_holdout_data")
    # Attribution sits next to it: one click, one order inside its 5 days.
    assert report.response.delivered == len(t)
    assert report.response.clicks == 1
    assert report.response.attributed_orders == 1
    assert report.response.attributed_revenue_minor == _follow_up(3)
    assert report.response.response_rate == 1 / len(t)
    assert report.response.click_rate == 1 / len(t)
    # Per segment: the two scored customers' own deliveries; the rest are unsegmented.
    sent = {c: int(c not in held) for c in store.customers[3:5]}
    # A segment with neither a delivery nor a response has no row.
    champions = report.segments["champions"]
    at_risk = report.segments.get("at_risk", Response())
    assert (champions.delivered, champions.clicks, champions.attributed_orders) == (
        sent[store.customers[3]],
        1,
        1,
    )
    assert champions.response_rate == (
        1 / sent[store.customers[3]] if sent[store.customers[3]] else None
    )
    assert (at_risk.delivered, at_risk.attributed_orders) == (sent[store.customers[4]], 0)
    assert report.segments["unsegmented"].delivered == len(t) - sum(sent.values())
    assert report.segments["unsegmented"].attributed_orders == 0
    (node,) = report.nodes
    assert node.node == "send"
    assert node.response.attributed_orders == 1
    assert node.comparison is not None
    assert node.comparison.treated.eligible == len(t)


def test_a_journey_without_a_holdout_says_why_there_is_no_comparison(engine: Engine) -> None:
    store = make_store(engine, customers=2, points=0)
    apply(engine, store, thank_you())
    with unit_of_work(engine) as session:
        add_order(session, store, store.customers[0], "E-0")
    ingest_triggers(engine, now=NOON)
    with unit_of_work(engine, write=False) as session:
        (report,) = journey_uplift(session, brand_id=store.brand_id, now=LATER)
    assert (report.comparison, report.reason) == (None, "no_holdout")


def _welch_incremental(treated: list[float], control: list[float]) -> tuple[int, int, int]:
    """Incremental revenue and its 95% CI: Welch's difference of means (SE from each arm's
    variance, Satterthwaite's df) times ``n_t``."""
    mt, mc = sum(treated) / len(treated), sum(control) / len(control)
    vt = sum((x - mt) ** 2 for x in treated) / (len(treated) - 1) / len(treated)
    vc = sum((x - mc) ** 2 for x in control) / (len(control) - 1) / len(control)
    df = (vt + vc) ** 2 / (vt**2 / (len(treated) - 1) + vc**2 / (len(control) - 1))
    half = scipy_stats.t.ppf(0.975, df) * math.sqrt(vt + vc)
    n = len(treated)
    return round((mt - mc) * n), round((mt - mc - half) * n), round((mt - mc + half) * n)


def test_a_message_after_a_wait_reports_the_journeys_incremental_revenue(
    engine: Engine,
) -> None:
    # Every entrant reaches the one message, two days after entering: the message's row
    # and the journey must show one figure, outcomes counted from entry (an order
    # between entry and send counts; one 31 days after entry does not).
    store = make_store(engine, customers=40, points=0)
    journey = _journey()
    journey["nodes"]["hold"]["next"] = "later"  # type: ignore[index]
    journey["nodes"]["later"] = {"type": "wait", "duration": "2d", "next": "send"}  # type: ignore[index]
    apply(engine, store, journey)
    with unit_of_work(engine) as session:
        for i, customer in enumerate(store.customers):
            add_order(session, store, customer, f"E-{i}")
    ingest_triggers(engine, now=NOON)
    decide_due(engine, context(), now=NOON)
    decide_due(engine, context(), now=NOON + timedelta(days=2, minutes=1))
    revenue: dict[str, list[float]] = {"treated": [], "control": []}
    with unit_of_work(engine) as session:
        entered = session.scalars(select(JourneyRun.started_at)).all()
        decided = session.scalar(select(func.min(OutboxMessage.decided_at)))
        for i, customer in enumerate(store.customers):
            amount = 5_000 + 101 * i
            before_send = i % 3 == 0
            at = NOON + timedelta(days=1) if before_send else NOON + timedelta(days=31)
            add_order(session, store, customer, f"F-{i}", at=at, total_minor=amount)
            arm = "control" if in_holdout("thanks", customer, 50) else "treated"
            revenue[arm].append(float(amount if before_send else 0))
    assert decided is not None
    assert decided > max(entered)
    with unit_of_work(engine, write=False) as session:
        (report,) = journey_uplift(session, brand_id=store.brand_id, now=LATER)
    (node,) = report.nodes
    assert report.comparison is not None
    assert node.comparison is not None
    expected = _welch_incremental(revenue["treated"], revenue["control"])
    for comparison in (report.comparison, node.comparison):
        money = comparison.incremental_revenue
        assert (money.value_minor, money.ci_low_minor, money.ci_high_minor) == expected
        assert (comparison.treated.eligible, comparison.control.eligible) == (
            len(revenue["treated"]),
            len(revenue["control"]),
        )
