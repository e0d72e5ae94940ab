"""Record-level ingest: valid records are written, bad ones rejected with index and field."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy import event as sqlalchemy_event

from dbtest import BACKENDS, create_test_engine
from recompra.db import unit_of_work
from recompra.hub.brands import ensure_brand
from recompra.hub.ingest.aftersale import ingest_events, ingest_returns, ingest_reviews
from recompra.hub.ingest.batch import IngestReject, IngestResult
from recompra.hub.ingest.customers import ingest_customers
from recompra.hub.ingest.orders import ingest_orders
from recompra.models import Customer, Event, Order, OrderItem, Return, Review
from recompra.segments.live import reevaluate_written


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    yield from create_test_engine("sqlite", tmp_path)


@pytest.fixture
def brand(engine: Engine) -> int:
    with unit_of_work(engine) as session:
        return ensure_brand(session).id


def _order(order_id: str, **changes: Any) -> dict[str, Any]:
    order: dict[str, Any] = {
        "order_id": order_id,
        "purchased_at": "2024-03-01T10:00:00Z",
        "status": "delivered",
        "customer": {"id": "c1", "email": "Ana@Example.com", "name": "Ana"},
        "payment_type": "pix",
        "items": [
            {"product_id": "p1", "product_name": "Caneca", "unit_price_minor": 5890},
            {"product_id": "p2", "quantity": 2, "unit_price_minor": 1000, "freight_minor": 500},
        ],
    }
    order.update(changes)
    return order


def _ingest(engine: Engine, function: Callable[..., IngestResult], **kwargs: Any) -> IngestResult:
    """Run one ingest call in its own unit of work, as one API request does."""
    with unit_of_work(engine) as session:
        return function(session, **kwargs)


def _count(engine: Engine, model: Any) -> int:
    with unit_of_work(engine, write=False) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_orders_valid_written_bad_rejected_with_index_and_field(engine: Engine, brand: int) -> None:
    bad_item = _order("o2")
    bad_item["items"][1]["unit_price_minor"] = "12,5"
    result = _ingest(
        engine,
        ingest_orders,
        brand_id=brand,
        source="api",
        orders=[
            _order("o1"),
            bad_item,
            _order("o3", purchased_at="yesterday"),
            _order("o4", customer={}),
            _order("o1"),
        ],
    )
    assert (result.received, result.accepted, result.rejected) == (5, 1, 4)
    assert result.rejects == [
        IngestReject(1, "items[1].unit_price_minor", "12,5", "not a whole number"),
        IngestReject(
            2,
            "purchased_at",
            "yesterday",
            "not a date/time in the format %Y-%m-%dT%H:%M:%S or %Y-%m-%d %H:%M:%S or %Y-%m-%d",
        ),
        IngestReject(
            3, "customer", "", "no customer identity: id, e-mail, CPF/CNPJ or phone is required"
        ),
        IngestReject(4, "order_id", "o1", "repeats the order at index 0"),
    ]
    assert result.ids[1:] == [None, None, None, None]
    with unit_of_work(engine, write=False) as session:
        order = session.scalars(select(Order)).one()
        assert (order.id, order.external_id, order.total_minor) == (result.ids[0], "o1", 8390)
        customer = session.get(Customer, order.customer_id)
        assert customer is not None
        assert (customer.email, customer.name) == ("ana@example.com", "Ana")
    # The valid sibling item of the rejected order o2 was not written either.
    assert _count(engine, OrderItem) == 2
    items = result.counts["order_items"]
    assert (items.read, items.inserted, items.rejected) == (10, 2, 8)
    assert items.reconciles


def test_orders_resent_write_nothing(engine: Engine, brand: int) -> None:
    first = _ingest(engine, ingest_orders, brand_id=brand, source="api", orders=[_order("o1")])
    again = _ingest(engine, ingest_orders, brand_id=brand, source="api", orders=[_order("o1")])
    assert again.ids == first.ids
    orders = again.counts["orders"]
    assert (orders.inserted, orders.updated, orders.unchanged) == (0, 0, 1)


def test_order_without_items_and_repeated_line_numbers(engine: Engine, brand: int) -> None:
    repeated = _order("o2")
    for item in repeated["items"]:
        item["line_number"] = 1
    result = _ingest(
        engine,
        ingest_orders,
        brand_id=brand,
        source="api",
        orders=[_order("o1", items=[]), repeated],
    )
    assert [(r.index, r.field, r.reason) for r in result.rejects] == [
        (0, "items", "an order needs at least one item"),
        (1, "items", "line_number repeats within the order"),
    ]
    assert _count(engine, Order) == 0


def test_too_long_text_is_a_reject_not_a_database_error(engine: Engine, brand: int) -> None:
    result = _ingest(
        engine,
        ingest_orders,
        brand_id=brand,
        source="api",
        orders=[_order("x" * 200), _order("ok")],
    )
    assert [(r.index, r.field, r.reason) for r in result.rejects] == [
        (0, "order_id", "order_id is longer than 128 characters")
    ]
    assert result.accepted == 1


def test_customers(engine: Engine, brand: int) -> None:
    result = _ingest(
        engine,
        ingest_customers,
        brand_id=brand,
        source="api",
        customers=[
            {"id": "c1", "email": "ana@example.com", "name": "Ana", "state": "SP"},
            {"email": "not-an-email"},
            {"name": "Nobody"},
            {"document": "529.982.247-25", "email": "ana@example.com"},
            {"id": "c9", "birth_date": "31/02/1990"},
        ],
    )
    assert [(r.index, r.field) for r in result.rejects] == [
        (1, "email"),
        (2, "id"),
        (4, "birth_date"),
    ]
    # Records 0 and 3 share an e-mail: one person.
    assert result.ids[0] == result.ids[3] is not None
    counts = result.counts["customers"]
    assert (counts.read, counts.inserted, counts.duplicate, counts.rejected) == (5, 1, 1, 3)
    assert _count(engine, Customer) == 1


def test_returns_need_an_existing_order_and_at_most_its_total(engine: Engine, brand: int) -> None:
    _ingest(
        engine, ingest_orders, brand_id=brand, source="api", orders=[_order("o1")]
    )  # total 8390
    base = {"created_at": "2024-03-05", "kind": "return"}
    result = _ingest(
        engine,
        ingest_returns,
        brand_id=brand,
        source="api",
        returns=[
            {**base, "return_id": "r1", "order_id": "o1", "amount_minor": 5000},
            {**base, "return_id": "r2", "order_id": "o1", "amount_minor": 4000},
            {**base, "return_id": "r3", "order_id": "nope", "amount_minor": 10},
            {**base, "return_id": "r4", "order_id": "o1", "amount_minor": -1},
            {**base, "return_id": "r5", "order_id": "o1", "amount_minor": 3390},
            {**base, "return_id": "r6", "order_id": "o1", "amount_minor": 1, "kind": "x"},
        ],
    )
    assert [(r.index, r.field, r.reason) for r in result.rejects] == [
        (1, "amount_minor", "returns of order 'o1' would total 9000, more than its total 8390"),
        (2, "order_id", "no order 'nope' from source 'api' in this brand"),
        (3, "amount_minor", "must be at least 0"),
        (5, "kind", "must be one of return, cancellation"),
    ]
    assert result.ids[0] is not None
    assert result.ids[4] is not None
    with unit_of_work(engine, write=False) as session:
        stored = session.execute(select(Return.external_id, Return.amount_minor)).all()
    assert sorted(stored) == [("r1", 5000), ("r5", 3390)]
    # Re-sending r1 with a new amount replaces it (not added to what was returned).
    again = _ingest(
        engine,
        ingest_returns,
        brand_id=brand,
        source="api",
        returns=[{**base, "return_id": "r1", "order_id": "o1", "amount_minor": 5000}],
    )
    assert again.rejects == []
    assert again.counts["returns"].unchanged == 1


def test_returns_of_another_brands_order_are_rejected(engine: Engine, brand: int) -> None:
    with unit_of_work(engine) as session:
        other = ensure_brand(session, "outra").id
    _ingest(engine, ingest_orders, brand_id=other, source="api", orders=[_order("o1")])
    result = _ingest(
        engine,
        ingest_returns,
        brand_id=brand,
        source="api",
        returns=[
            {"return_id": "r1", "order_id": "o1", "amount_minor": 1, "created_at": "2024-03-05"}
        ],
    )
    assert [(r.field, r.reason) for r in result.rejects] == [
        ("order_id", "no order 'o1' from source 'api' in this brand")
    ]
    assert _count(engine, Return) == 0


def test_reviews_score_range_and_references(engine: Engine, brand: int) -> None:
    _ingest(engine, ingest_orders, brand_id=brand, source="api", orders=[_order("o1")])
    base = {"created_at": "2024-03-06T12:00:00"}
    result = _ingest(
        engine,
        ingest_reviews,
        brand_id=brand,
        source="api",
        reviews=[
            {**base, "review_id": "v1", "order_id": "o1", "score": 5, "comment": "Ótimo"},
            {**base, "review_id": "v2", "order_id": "o1", "score": 6},
            {**base, "review_id": "v3", "order_id": "o1", "score": 0},
            {**base, "review_id": "v4", "customer_id": "c1", "score": 3},
            {**base, "review_id": "v5", "customer_id": "zz", "score": 3},
            {**base, "review_id": "v6", "score": 3},
            {**base, "review_id": "v1", "order_id": "o1", "score": 4},
        ],
    )
    assert [(r.index, r.field, r.reason) for r in result.rejects] == [
        (1, "score", "must be at most 5"),
        (2, "score", "must be at least 1"),
        (4, "customer_id", "no customer 'zz' from source 'api'"),
        (5, "order_id", "order_id or customer_id is required"),
        (6, "review_id", "repeats the record at index 0"),
    ]
    with unit_of_work(engine, write=False) as session:
        rows = session.execute(
            select(Review.external_id, Review.score, Review.customer_id).order_by(Review.id)
        ).all()
        owner = session.scalar(select(Order.customer_id))
    assert rows == [("v1", 5, owner), ("v4", 3, owner)]
    assert result.counts["reviews"].reconciles


def test_events_with_and_without_ids(engine: Engine, brand: int) -> None:
    _ingest(
        engine,
        ingest_customers,
        brand_id=brand,
        source="api",
        customers=[{"id": "c1", "email": "a@b.com"}],
    )
    base = {"type": "page_view", "occurred_at": "2024-03-06 10:00:00"}
    events = [
        {**base, "event_id": "e1", "customer_id": "c1", "payload": {"url": "/p/1"}},
        {**base, "email": "A@B.com"},
        {**base},
        {**base, "customer_id": "ghost"},
        {"type": "", "occurred_at": "2024-03-06"},
    ]
    result = _ingest(engine, ingest_events, brand_id=brand, source="api", events=events)
    assert [(r.index, r.field, r.reason) for r in result.rejects] == [
        (3, "customer_id", "no customer 'ghost' in this brand"),
        (4, "type", "required value is missing"),
    ]
    with unit_of_work(engine, write=False) as session:
        rows = session.execute(
            select(Event.external_id, Event.customer_id, Event.payload).order_by(Event.id)
        ).all()
    customer = rows[0][1]
    assert customer is not None
    assert rows == [("e1", customer, {"url": "/p/1"}), (None, customer, {}), (None, None, {})]
    again = _ingest(engine, ingest_events, brand_id=brand, source="api", events=events[:1])
    assert again.counts["events"].unchanged == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_events_batch_costs_the_same_statements_whatever_its_size(
    backend: str, tmp_path: Path
) -> None:
    # The API's events batch, re-evaluation included: as many statements for 50 events
    # as for 5, and on PostgreSQL the same texts (a list of ids is one array parameter:
    # an expanded IN list was rendered by SQLAlchemy and parsed by psycopg every batch).
    engines = create_test_engine(backend, tmp_path)
    engine = next(engines)
    with unit_of_work(engine) as session:
        brand = ensure_brand(session).id
    people = [{"id": f"c{n}", "email": f"c{n}@example.com"} for n in range(50)]
    _ingest(engine, ingest_customers, brand_id=brand, source="api", customers=people)

    def statements(first: int, size: int) -> list[str]:
        texts: list[str] = []

        def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            texts.append(statement)

        events = [
            {
                "event_id": f"e{n}",
                "type": "visit",
                "occurred_at": "2024-03-06 10:00:00",
                "customer_id": f"c{n % 50}",
            }
            for n in range(first, first + size)
        ]
        sqlalchemy_event.listen(engine, "before_cursor_execute", record)
        try:
            with unit_of_work(engine) as session:
                result = ingest_events(session, brand_id=brand, source="api", events=events)
                reevaluate_written(session, brand, "events", result.ids)
        finally:
            sqlalchemy_event.remove(engine, "before_cursor_execute", record)
        assert None not in result.ids
        return texts

    statements(0, 5)  # the first batch of a connection may read the catalog once
    five, fifty = statements(5, 5), statements(10, 50)
    assert len(five) == len(fifty)
    if backend != "sqlite":
        assert five == fifty
    next(engines, None)  # drops the database
