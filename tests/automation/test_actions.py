"""Coupon and property nodes, waits until a date property, exits on order stages (both
backends)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from automationtest import (
    NOON,
    Store,
    add_order,
    apply,
    context,
    make_store,
    set_properties,
    thank_you,
)
from sqlalchemy import Engine, select, update
from typer.testing import CliRunner

from recompra.automation.actions import give_coupon, load_pool
from recompra.automation.board import journey_board
from recompra.automation.worker import decide_due, ingest_triggers
from recompra.cli.main import app
from recompra.config import get_settings
from recompra.db import dispose_engines, unit_of_work
from recompra.hub.properties import MAX_PROPERTIES, set_property
from recompra.models import CustomerProperty, Order
from recompra.models.automation import Coupon, JourneyRun, JourneyTimer, OutboxMessage
from recompra.models.segments import SegmentMembershipEvent
from recompra.segments.definition import parse_definition
from recompra.segments.service import apply_definition

#: A property node that tags the customer, then the e-mail.
TAG_NODE = {"type": "update_property", "property": "segment_tag", "set": "thanked", "next": "send"}


def _with_coupon(pool: str = "generated", **fields: Any) -> dict[str, Any]:
    """Order placed -> coupon -> the win-back e-mail (which shows the coupon)."""
    document = thank_you(start="coupon")
    document["nodes"]["coupon"] = {"type": "coupon", "pool": pool, "next": "send", **fields}
    document["nodes"]["send"]["template"] = "win_back"
    return document


def _orders(engine: Engine, store: Store, *customers: int) -> list[int]:
    with unit_of_work(engine) as session:
        return [add_order(session, store, c, f"O-{i}") for i, c in enumerate(customers)]


def _outbox(engine: Engine) -> list[OutboxMessage]:
    with unit_of_work(engine, write=False) as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def _coupons(engine: Engine) -> list[Coupon]:
    with unit_of_work(engine, write=False) as session:
        return list(session.scalars(select(Coupon).order_by(Coupon.id)))


def test_generated_coupons_are_unique_one_per_run_and_shown_in_the_message(
    engine: Engine,
) -> None:
    store = make_store(engine, customers=2)
    apply(engine, store, _with_coupon(prefix="VOLTA-", valid_for="30d"))
    _orders(engine, store, store.customers[0], store.customers[0], store.customers[1])
    ingest_triggers(engine, now=NOON)
    assert decide_due(engine, context(), now=NOON) == 3
    coupons = _coupons(engine)
    assert len(coupons) == 3
    assert len({c.code for c in coupons}) == 3
    assert all(c.code.startswith("VOLTA-") for c in coupons)
    assert all(c.expires_at == NOON + timedelta(days=30) for c in coupons)
    by_run = {c.run_id: c.code for c in coupons}
    for row in _outbox(engine):
        assert f"<strong>{by_run[row.run_id]}</strong>" in row.payload["html"]
        assert "(válido até 17/07/2026)" in row.payload["text"]
    # Replaying the feed and the worker gives no coupon again.
    ingest_triggers(engine, now=NOON)
    decide_due(engine, context(), now=NOON)
    assert len(_coupons(engine)) == 3
    with unit_of_work(engine, write=False) as session:
        (board,) = journey_board(session, brand_id=store.brand_id)
    assert [(n.name, n.type, n.detail) for n in board.nodes][:2] == [
        ("coupon", "coupon", "generated"),
        ("send", "send", "win_back"),
    ]


def test_a_retried_coupon_decision_gives_the_same_code(engine: Engine) -> None:
    store = make_store(engine, customers=1)
    node = {"type": "coupon", "pool": "generated", "prefix": "", "valid_for": None}
    with unit_of_work(engine) as session:
        given = [
            give_coupon(
                session,
                brand_id=store.brand_id,
                run_id=None,
                customer_id=store.customers[0],
                execution_key="1:1:x:coupon:1",
                node=node,
                now=NOON,
            )
            for _ in range(2)
        ]
        codes = {(c.id, c.code) for c in given if c is not None}
    assert len(codes) == 1
    assert None not in given


def test_pool_codes_are_given_once_in_order_skipping_expired_ones(engine: Engine) -> None:
    store = make_store(engine, customers=3)
    with unit_of_work(engine) as session:
        assert (
            load_pool(
                session,
                brand_id=store.brand_id,
                pool="vip",
                codes=["OLD-1"],
                expires_at=NOON - timedelta(days=1),
                now=NOON,
            )
            == 1
        )
        assert (
            load_pool(
                session,
                brand_id=store.brand_id,
                pool="vip",
                codes=["VIP-A", "VIP-B", "VIP-A", " "],
                expires_at=None,
                now=NOON,
            )
            == 2
        )
    apply(engine, store, _with_coupon(pool="vip"))
    _orders(engine, store, *store.customers)
    ingest_triggers(engine, now=NOON)
    assert decide_due(engine, context(), now=NOON) == 3
    given = {c.code: c.customer_id for c in _coupons(engine) if c.execution_key}
    assert given == {"VIP-A": store.customers[0], "VIP-B": store.customers[1]}
    rows = _outbox(engine)
    assert "VIP-A" in rows[0].payload["html"]
    # The pool ran dry: the third message goes out without a coupon.
    assert "cupom" not in rows[2].payload["html"]


def test_property_nodes_set_and_increment_through_one_write_path(engine: Engine) -> None:
    store = make_store(engine, customers=1)
    document = thank_you(start="count")
    document["nodes"]["count"] = {
        "type": "update_property",
        "property": "journey_orders",
        "increment": 1,
        "next": "tag",
    }
    document["nodes"]["tag"] = dict(TAG_NODE)
    apply(engine, store, document)
    _orders(engine, store, store.customers[0], store.customers[0])
    ingest_triggers(engine, now=NOON)
    decide_due(engine, context(), now=NOON)
    with unit_of_work(engine) as session:
        values = {
            p.name: p.text_value if p.number_value is None else p.number_value
            for p in session.scalars(
                select(CustomerProperty).where(CustomerProperty.customer_id == store.customers[0])
            )
        }
        assert values == {"journey_orders": 2, "segment_tag": "thanked"}
        # A text value incremented counts from 0.
        assert (
            set_property(
                session,
                brand_id=store.brand_id,
                customer_id=store.customers[0],
                name="segment_tag",
                increment=5,
                now=NOON,
            )
            == 5
        )


def test_a_property_node_past_the_limit_is_recorded_and_the_run_goes_on(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A customer holding MAX_PROPERTIES: the node's new property is not written, the
    run records why (a suppressed outbox row the journeys page and ``journeys show``
    count) and goes on to its e-mail; the other customer gets the property."""
    store = make_store(engine, customers=2)
    full, other = store.customers
    with unit_of_work(engine) as session:
        session.add_all(
            CustomerProperty(
                brand_id=store.brand_id, customer_id=full, name=f"p{i}", number_value=i
            )
            for i in range(MAX_PROPERTIES)
        )
    document = thank_you(start="tag")
    document["nodes"]["tag"] = dict(TAG_NODE)
    apply(engine, store, document)
    _orders(engine, store, full, other)
    ingest_triggers(engine, now=NOON)
    assert decide_due(engine, context(), now=NOON) == 2
    rows = [(r.customer_id, r.channel, r.state, r.payload) for r in _outbox(engine)]
    left_out = {"node": "tag", "reason": "property_limit", "property": "segment_tag"}
    assert sorted((c, ch, st) for c, ch, st, _ in rows) == sorted(
        [(full, "property", "suppressed"), (full, "email", "pending"), (other, "email", "pending")]
    )
    assert [p for c, ch, _, p in rows if ch == "property"] == [left_out]
    with unit_of_work(engine, write=False) as session:
        held = {
            p.customer_id: p.name
            for p in session.scalars(
                select(CustomerProperty).where(CustomerProperty.name == "segment_tag")
            )
        }
        runs = {r.customer_id: r.state for r in session.scalars(select(JourneyRun))}
        (board,) = journey_board(session, brand_id=store.brand_id)
    assert held == {other: "segment_tag"}
    assert runs == {full: "completed", other: "completed"}
    (tag,) = [n for n in board.nodes if n.name == "tag"]
    assert tag.count("property_limit") == 1
    monkeypatch.setenv("RECOMPRA_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    shown = CliRunner().invoke(app, ["journeys", "show", "thanks", "--brand", "loja"])
    dispose_engines()
    get_settings.cache_clear()
    assert shown.exit_code == 0, shown.output
    assert "# tag: property_limit 1\n" in shown.output
    # Replaying decides nothing twice: one record per run and node.
    ingest_triggers(engine, now=NOON)
    decide_due(engine, context(), now=NOON)
    assert len(_outbox(engine)) == 3


@pytest.mark.parametrize("named", ["renews_on", "property.renews_on"])
def test_a_wait_until_a_date_property_ends_at_its_local_time_with_the_offset(
    engine: Engine, named: str
) -> None:
    store = make_store(engine, customers=2)
    with unit_of_work(engine) as session:
        set_property(
            session,
            brand_id=store.brand_id,
            customer_id=store.customers[0],
            name="renews_on",
            value="2026-07-10",
            now=NOON,
        )
    document = thank_you(start="before")
    document["nodes"]["before"] = {
        "type": "wait",
        "until": {"property": named, "offset_days": -2, "at": "10:30"},
        "next": "send",
    }
    apply(engine, store, document)
    _orders(engine, store, *store.customers)
    ingest_triggers(engine, now=NOON)
    decide_due(engine, context(), now=NOON)
    with unit_of_work(engine, write=False) as session:
        due = dict(
            session.execute(
                select(JourneyRun.customer_id, JourneyTimer.due_at)
                .join(JourneyRun, JourneyRun.id == JourneyTimer.run_id)
                .where(JourneyTimer.state == "pending")
            ).all()
        )
    # 8 July 2026, 10:30 in São Paulo (UTC-3, no daylight saving) is 13:30 UTC.
    assert due[store.customers[0]] == datetime(2026, 7, 8, 13, 30, tzinfo=UTC)
    # Without the property the wait ends at once (the send is due now).
    assert due[store.customers[1]] == NOON


def test_a_birthday_wait_aims_at_the_next_anniversary(engine: Engine) -> None:
    store = make_store(engine, customers=1)
    with unit_of_work(engine) as session:
        from recompra.models import Customer

        customer = session.get(Customer, store.customers[0])
        assert customer is not None
        customer.birth_date = date(1990, 3, 5)  # this year's has passed
    document = thank_you(start="before")
    document["nodes"]["before"] = {
        "type": "wait",
        "until": {"property": "birth_date", "offset_days": -1},
        "next": "send",
    }
    apply(engine, store, document)
    _orders(engine, store, store.customers[0])
    ingest_triggers(engine, now=NOON)
    decide_due(engine, context(), now=NOON)
    with unit_of_work(engine, write=False) as session:
        due = session.scalar(select(JourneyTimer.due_at).where(JourneyTimer.state == "pending"))
    # 4 March 2027 at 09:00 (the default) in São Paulo = 12:00 UTC.
    assert due == datetime(2027, 3, 4, 12, 0, tzinfo=UTC)


def _review_request() -> dict[str, Any]:
    document = thank_you(start="later", exit_when=[{"type": "order_canceled"}])
    document["nodes"]["later"] = {"type": "wait", "duration": "3d", "next": "send"}
    return document


def test_a_canceled_order_ends_its_run_from_the_stage_feed(engine: Engine) -> None:
    store = make_store(engine, customers=1)
    apply(engine, store, _review_request())
    kept, canceled = _orders(engine, store, store.customers[0], store.customers[0])
    ingest_triggers(engine, now=NOON)
    decide_due(engine, context(), now=NOON)
    with unit_of_work(engine) as session:
        session.execute(
            update(Order)
            .where(Order.id == canceled)
            .values(status="canceled", updated_at=NOON + timedelta(minutes=1))
        )
    ingest_triggers(engine, now=NOON + timedelta(minutes=2))
    with unit_of_work(engine, write=False) as session:
        runs = {r.order_id: (r.state, r.exit_reason) for r in session.scalars(select(JourneyRun))}
        pending = session.scalars(
            select(JourneyRun.order_id)
            .join(JourneyTimer, JourneyTimer.run_id == JourneyRun.id)
            .where(JourneyTimer.state == "pending")
        ).all()
    # Only the canceled order's run leaves; the other order's run keeps waiting.
    assert runs == {kept: ("active", None), canceled: ("exited", "order_canceled")}
    assert pending == [kept]


def test_the_order_stage_is_checked_again_before_the_send(engine: Engine) -> None:
    store = make_store(engine, customers=1)
    apply(engine, store, _review_request())
    (order,) = _orders(engine, store, store.customers[0])
    ingest_triggers(engine, now=NOON)
    decide_due(engine, context(), now=NOON)
    # Canceled without the stage feed being read (the worker only decides).
    with unit_of_work(engine) as session:
        session.execute(update(Order).where(Order.id == order).values(status="canceled"))
    assert decide_due(engine, context(), now=NOON + timedelta(days=3)) == 1
    assert _outbox(engine) == []
    with unit_of_work(engine, write=False) as session:
        run = session.scalars(select(JourneyRun)).one()
    assert (run.state, run.exit_reason) == ("exited", "order_canceled")


def test_a_wait_until_an_order_date_takes_its_local_day(engine: Engine) -> None:
    store = make_store(engine, customers=1)
    document = thank_you(start="week_after")
    document["nodes"]["week_after"] = {
        "type": "wait",
        "until": {"property": "order.purchased_at", "offset_days": 7, "at": "10:00"},
        "next": "send",
    }
    apply(engine, store, document)
    with unit_of_work(engine) as session:
        # 02:30 UTC on the 18th is still the 17th (23:30) in São Paulo.
        add_order(
            session, store, store.customers[0], "L-1", at=datetime(2026, 6, 18, 2, 30, tzinfo=UTC)
        )
    later = datetime(2026, 6, 18, 3, 0, tzinfo=UTC)
    ingest_triggers(engine, now=later)
    decide_due(engine, context(), now=later)
    with unit_of_work(engine, write=False) as session:
        due = session.scalar(select(JourneyTimer.due_at).where(JourneyTimer.state == "pending"))
    # 17 + 7 = 24 June, 10:00 in São Paulo = 13:00 UTC.
    assert due == datetime(2026, 6, 24, 13, 0, tzinfo=UTC)


def test_a_condition_branches_on_a_property_and_the_property_node_moves_segments(
    engine: Engine,
) -> None:
    store = make_store(engine, customers=3)
    gold, silver, unset = store.customers
    set_properties(engine, store, "plan", {gold: "gold", silver: "silver"})
    with unit_of_work(engine) as session:
        tagged = {"field": "property.segment_tag", "op": "eq", "value": "not_gold"}
        apply_definition(
            session,
            brand_id=store.brand_id,
            definition=parse_definition(
                {"key": "tagged", "name": {"pt-BR": "Marcados", "en": "Tagged"}, "rule": tagged}
            ),
            now=NOON,
        )
    document = thank_you(start="check")
    document["nodes"]["check"] = {
        "type": "condition",
        "rule": {"field": "property.plan", "op": "eq", "value": "gold"},
        "then": "send",
        "else": "tag",
    }
    document["nodes"]["tag"] = {
        "type": "update_property",
        "property": "segment_tag",
        "set": "not_gold",
        "next": "done",
    }
    apply(engine, store, document)
    _orders(engine, store, gold, silver, unset)
    ingest_triggers(engine, now=NOON)
    decide_due(engine, context(), now=NOON)
    assert [row.customer_id for row in _outbox(engine)] == [gold]
    with unit_of_work(engine, write=False) as session:
        entered = session.execute(
            select(SegmentMembershipEvent.customer_id, SegmentMembershipEvent.type).order_by(
                SegmentMembershipEvent.customer_id
            )
        ).all()
    # The update_property node wrote the tag and the live segment took it in at once.
    assert [tuple(row) for row in entered] == [
        (silver, "segment_entered"),
        (unset, "segment_entered"),
    ]
