"""The triggers beyond "order placed", on SQLite and PostgreSQL: order stages (keyed per
order), returns, reviews with a score range, milestones, tier changes, score crossings
and dates; and their validation."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from automationtest import (
    NOON,
    Store,
    add_order,
    apply,
    counted_statements,
    make_store,
    set_properties,
    thank_you,
)
from sqlalchemy import Engine, select, update

from recompra.automation.definition import InvalidJourney, parse_journey
from recompra.automation.worker import ingest_triggers
from recompra.db import unit_of_work
from recompra.loyalty.tiers.service import define_tier
from recompra.models import (
    Customer,
    CustomerScore,
    Event,
    LoyaltyAccount,
    Order,
    Return,
    Review,
)
from recompra.models.automation import JourneyRun
from recompra.models.loyalty import LoyaltyTierChange


def _runs(engine: Engine) -> list[tuple[int, str, int | None]]:
    """(customer, entry key, order) of every run, in creation order."""
    with unit_of_work(engine, write=False) as session:
        return [
            (r.customer_id, r.entry_key, r.order_id)
            for r in session.scalars(select(JourneyRun).order_by(JourneyRun.id))
        ]


def _journey(trigger: dict[str, Any], **entry: Any) -> dict[str, Any]:
    return thank_you(trigger=trigger, entry=entry or {"key": "customer"})


def _orders(engine: Engine, store: Store, specs: list[tuple[int, str, int]]) -> list[int]:
    """Orders (customer index, external id, total) created and changed 5 minutes before NOON."""
    with unit_of_work(engine) as session:
        ids = [
            add_order(session, store, store.customers[c], ext, total_minor=total)
            for c, ext, total in specs
        ]
        session.execute(
            update(Order).where(Order.id.in_(ids)).values(updated_at=NOON - timedelta(minutes=5))
        )
    return ids


def _change(engine: Engine, order_id: int, at_minutes: int, **values: Any) -> None:
    """Change an order as a re-import does (``updated_at`` moves)."""
    with unit_of_work(engine) as session:
        session.execute(
            update(Order)
            .where(Order.id == order_id)
            .values(updated_at=NOON + timedelta(minutes=at_minutes), **values)
        )


def test_delivery_starts_one_run_per_order_and_rereading_starts_none(engine: Engine) -> None:
    store = make_store(engine, customers=1)
    apply(engine, store, _journey({"type": "order_delivered"}, key="order"))
    first, second = _orders(engine, store, [(0, "D-1", 5000), (0, "D-2", 7000)])
    for order_id in (first, second):
        _change(engine, order_id, 0, status="shipped", delivered_at=None)
    ingest_triggers(engine, now=NOON + timedelta(minutes=1))
    assert _runs(engine) == []  # shipped is not delivered
    _change(engine, first, 2, status="delivered", delivered_at=NOON)
    _change(engine, second, 3, status="delivered", delivered_at=NOON)
    ingest_triggers(engine, now=NOON + timedelta(minutes=5))
    customer = store.customers[0]
    assert _runs(engine) == [
        (customer, f"order:{first}", first),
        (customer, f"order:{second}", second),
    ]
    # A later change of a delivered order (a re-import) starts nothing again.
    _change(engine, first, 6, status="delivered", total_minor=5100)
    ingest_triggers(engine, now=NOON + timedelta(minutes=10))
    assert len(_runs(engine)) == 2


def test_paid_shipped_and_canceled_stages(engine: Engine) -> None:
    store = make_store(engine, customers=3)
    for stage in ("order_paid", "order_shipped", "order_canceled"):
        apply(engine, store, {**_journey({"type": stage}, key="order"), "key": stage})
    paid, shipped, canceled = _orders(
        engine, store, [(0, "P-1", 100), (1, "S-1", 100), (2, "C-1", 100)]
    )
    _change(engine, paid, 1, status="approved", approved_at=NOON)
    _change(engine, shipped, 1, status="shipped", approved_at=NOON, shipped_at=NOON)
    _change(engine, canceled, 1, status="canceled")
    ingest_triggers(engine, now=NOON + timedelta(minutes=2))
    with unit_of_work(engine, write=False) as session:
        started = sorted(
            session.execute(
                select(JourneyRun.order_id, JourneyRun.journey_id).order_by(JourneyRun.id)
            ).all()
        )
    per_order: dict[int, int] = {}
    for order_id, _ in started:
        per_order[order_id] = per_order.get(order_id, 0) + 1
    # paid: paid; shipped: paid + shipped; canceled: canceled.
    assert per_order == {paid: 1, shipped: 2, canceled: 1}


def test_a_recorded_return_starts_the_returned_journey(engine: Engine) -> None:
    store = make_store(engine, customers=1)
    apply(engine, store, _journey({"type": "order_returned"}, key="order"))
    (order_id,) = _orders(engine, store, [(0, "R-1", 9000)])
    with unit_of_work(engine) as session:
        session.add(
            Return(
                brand_id=store.brand_id,
                source="test",
                external_id="ret-1",
                order_id=order_id,
                kind="return",
                amount_minor=9000,
                created_at=NOON,
            )
        )
    ingest_triggers(engine, now=NOON)
    assert _runs(engine) == [(store.customers[0], f"order:{order_id}", order_id)]


def test_reviews_start_journeys_within_their_score_range_and_end_waiting_runs(
    engine: Engine,
) -> None:
    store = make_store(engine, customers=2)
    detractors = _journey({"type": "review_received", "max_score": 2}, key="order")
    apply(engine, store, {**detractors, "key": "detractors"})
    waiting = thank_you(
        key="ask_review",
        exit_when=[{"type": "review_received"}],
        start="wait",
        nodes={
            "wait": {"type": "wait", "duration": "3d", "next": "send"},
            **thank_you()["nodes"],
        },
    )
    apply(engine, store, waiting)
    low, high = _orders(engine, store, [(0, "V-1", 100), (1, "V-2", 100)])
    ingest_triggers(engine, now=NOON)  # both customers enter ask_review
    with unit_of_work(engine) as session:
        for n, (order_id, score) in enumerate(((low, 1), (high, 5))):
            session.add(
                Review(
                    brand_id=store.brand_id,
                    source="test",
                    external_id=f"rev-{n}",
                    order_id=order_id,
                    score=score,
                    created_at=NOON,
                )
            )
    ingest_triggers(engine, now=NOON + timedelta(minutes=1))
    with unit_of_work(engine, write=False) as session:
        rows = session.execute(
            select(
                JourneyRun.customer_id,
                JourneyRun.state,
                JourneyRun.exit_reason,
                JourneyRun.order_id,
            ).order_by(JourneyRun.id)
        ).all()
    assert rows == [
        (store.customers[0], "exited", "review_received", low),
        (store.customers[1], "exited", "review_received", high),
        (store.customers[0], "active", None, low),  # only the 1-star review
    ]


def test_milestones_the_second_purchase_and_lifetime_spend_crossed(engine: Engine) -> None:
    store = make_store(engine, customers=1)
    second_purchase = _journey({"type": "milestone", "orders": 2}, key="order")
    apply(engine, store, {**second_purchase, "key": "second"})
    big_spender = _journey({"type": "milestone", "spend_minor": 50_000}, key="order")
    apply(engine, store, {**big_spender, "key": "vip"})
    first, second, third = _orders(
        engine, store, [(0, "M-1", 30_000), (0, "M-2", 15_000), (0, "M-3", 10_000)]
    )
    ingest_triggers(engine, now=NOON)
    with unit_of_work(engine, write=False) as session:
        runs = dict(
            session.execute(
                select(JourneyRun.journey_id, JourneyRun.order_id).order_by(JourneyRun.id)
            ).all()
        )
    # 30,000 + 15,000 = 45,000 (not yet 50,000); + 10,000 = 55,000 crosses it.
    assert sorted(runs.values()) == [second, third]
    assert first not in runs.values()


def test_tier_changes_match_their_target_and_direction(engine: Engine) -> None:
    store = make_store(engine, customers=2)
    apply(engine, store, _journey({"type": "tier_changed", "to": "ouro", "direction": "up"}))
    with unit_of_work(engine) as session:
        prata = define_tier(
            session, program_id=store.program_id, code="prata", name="Prata", rank=1,
            metric="points", threshold=100,
        )  # fmt: skip
        ouro = define_tier(
            session, program_id=store.program_id, code="ouro", name="Ouro", rank=2,
            metric="points", threshold=1000,
        )  # fmt: skip
        accounts = dict(
            session.execute(select(LoyaltyAccount.customer_id, LoyaltyAccount.id)).all()
        )
        first, second = store.customers
        for account, before, after in (
            (accounts[first], prata.id, ouro.id),  # up to ouro: starts
            (accounts[second], ouro.id, prata.id),  # down: does not
            (accounts[second], None, prata.id),  # up, but not to ouro: does not
        ):
            session.add(
                LoyaltyTierChange(
                    account_id=account, from_tier_id=before, to_tier_id=after, reason="review"
                )
            )
    ingest_triggers(engine, now=NOON)
    assert [customer for customer, _, _ in _runs(engine)] == [store.customers[0]]


def _scores(engine: Engine, store: Store, as_of: date, p_alive: list[float]) -> None:
    with unit_of_work(engine) as session:
        for customer_id, value in zip(store.customers, p_alive, strict=True):
            session.add(
                CustomerScore(
                    brand_id=store.brand_id, customer_id=customer_id, as_of=as_of, p_alive=value
                )
            )


def test_p_alive_dropping_below_a_threshold_between_two_scorings(engine: Engine) -> None:
    store = make_store(engine, customers=3)
    _scores(engine, store, date(2026, 5, 1), [0.8, 0.8, 0.2])
    trigger = {"type": "score_crossed", "score": "p_alive", "threshold": 0.3}
    apply(engine, store, _journey(trigger, reentry="cooldown", cooldown_days=30))
    ingest_triggers(engine, now=NOON)
    assert _runs(engine) == []  # the first look only notes the latest scoring
    _scores(engine, store, date(2026, 6, 1), [0.2, 0.7, 0.1])
    ingest_triggers(engine, now=NOON)
    ingest_triggers(engine, now=NOON + timedelta(hours=1))  # the same scoring: nothing new
    # Customer 0 crossed (0.8 -> 0.2); 1 stayed above; 2 was already below.
    assert _runs(engine) == [(store.customers[0], "p_alive:2026-06-01", None)]


def test_birthdays_start_on_the_local_day_once_a_year(engine: Engine) -> None:
    store = make_store(engine, customers=3)
    local_today = date(2026, 6, 17)  # NOON is 15:00 on 17 June in São Paulo
    with unit_of_work(engine) as session:
        births = [date(1990, 6, 17), date(1985, 6, 18), None]
        for customer_id, birth in zip(store.customers, births, strict=True):
            session.execute(
                update(Customer).where(Customer.id == customer_id).values(birth_date=birth)
            )
    apply(engine, store, _journey({"type": "birthday"}, reentry="cooldown", cooldown_days=300))
    before = {"type": "date_property", "property": "birth_date", "offset_days": -1}
    apply(engine, store, {**_journey(before, reentry="cooldown", cooldown_days=300), "key": "eve"})
    ingest_triggers(engine, now=NOON)
    ingest_triggers(engine, now=NOON + timedelta(hours=2))  # the same day: nothing new
    runs = _runs(engine)
    assert sorted(runs) == sorted(
        [
            (store.customers[0], "birth_date:2026", None),  # birthday today
            (store.customers[1], "birth_date:2026", None),  # the eve of the 18th
        ]
    )
    assert local_today.isoformat() == "2026-06-17"


def test_a_custom_date_property_starts_on_its_anniversary(engine: Engine) -> None:
    store = make_store(engine, customers=4)
    # 17 June is the local day at NOON; a text that is not a date never matches.
    values = ["2019-06-17", "2019-06-18", "17/06/2019", None]
    set_properties(
        engine,
        store,
        "anniversary",
        {c: v for c, v in zip(store.customers, values, strict=True) if v is not None},
    )
    trigger = {"type": "date_property", "property": "property.anniversary", "offset_days": 0}
    apply(engine, store, _journey(trigger, reentry="cooldown", cooldown_days=300))
    ingest_triggers(engine, now=NOON)
    assert _runs(engine) == [(store.customers[0], "property.anniversary:2026", None)]


@pytest.mark.parametrize(
    ("trigger", "problem"),
    [
        ({"type": "review_received", "min_score": 4, "max_score": 2}, "trigger.min_score"),
        ({"type": "score_crossed", "score": "p_alive", "threshold": 1.5}, "trigger.threshold"),
        ({"type": "score_crossed", "threshold": 0.3}, "trigger.score"),
        ({"type": "milestone", "orders": 2, "spend_minor": 100}, "trigger.orders"),
        ({"type": "date_property", "property": "phone"}, "trigger.property"),
        ({"type": "date_property", "property": "property.Bad Name"}, "trigger.property"),
        ({"type": "birthday", "offset_days": 400}, "trigger.offset_days"),
        ({"type": "order_paid", "days": 3}, "trigger.days"),
    ],
)
def test_malformed_triggers_are_refused_with_their_path(
    trigger: dict[str, Any], problem: str
) -> None:
    with pytest.raises(InvalidJourney) as refused:
        parse_journey(_journey(trigger))
    assert [p.path for p in refused.value.problems] == [problem]


def test_defaults_are_written_into_the_stored_trigger() -> None:
    document = parse_journey(_journey({"type": "score_crossed", "score": "churn_risk",
                                       "threshold": 0.7})).document  # fmt: skip
    assert document["trigger"] == {
        "type": "score_crossed",
        "score": "churn_risk",
        "threshold": 0.7,
        "direction": "above",
    }


def _events(engine: Engine, store: Store, specs: list[tuple[int, str]]) -> None:
    """Custom events (customer index, type), in this order, in one transaction."""
    with unit_of_work(engine) as session:
        session.add_all(
            Event(
                brand_id=store.brand_id, customer_id=store.customers[c], type=kind, occurred_at=NOON
            )
            for c, kind in specs
        )


def test_an_event_ends_a_run_an_earlier_event_of_the_same_slice_started(engine: Engine) -> None:
    store = make_store(engine, customers=2)
    journey = _journey({"type": "event", "event": "visited"})
    journey["exit_when"] = [{"type": "event", "event": "complained"}]
    apply(engine, store, journey)
    _events(engine, store, [(0, "visited"), (0, "complained"), (1, "visited")])
    assert ingest_triggers(engine, now=NOON) == 3  # one slice
    with unit_of_work(engine, write=False) as session:
        runs = session.execute(
            select(JourneyRun.customer_id, JourneyRun.state, JourneyRun.exit_reason).order_by(
                JourneyRun.customer_id
            )
        ).all()
    assert runs == [
        (store.customers[0], "exited", "event:complained"),
        (store.customers[1], "active", None),
    ]


def test_events_of_customers_no_event_can_reach_cost_no_statement_each(engine: Engine) -> None:
    # Customers inside a journey that neither exits on an event nor waits for one: their
    # events start runs elsewhere, and no exit or wake-up is looked up per event.
    store = make_store(engine, customers=3)
    apply(engine, store, _journey({"type": "event", "event": "visited"}))
    second = _journey({"type": "event", "event": "clicked"})
    second["key"] = "clicks"
    apply(engine, store, second)

    def statements_for(specs: list[tuple[int, str]]) -> int:
        _events(engine, store, specs)
        with counted_statements(engine) as counted:
            assert ingest_triggers(engine, now=NOON) == len(specs)
        return counted[0]

    statements_for([(c, "visited") for c in range(3)])  # now all three are in a journey
    one = statements_for([(0, "clicked")])
    five = statements_for([(1, "other"), (2, "other"), (1, "clicked"), (2, "clicked"), (2, "x")])
    assert one == five
    assert len(_runs(engine)) == 6
