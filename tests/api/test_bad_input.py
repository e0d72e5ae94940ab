"""One bad record rejects only that record (issue 20, 1b): the tester's records, via the API.

Each case is a batch of three good orders and one bad one: the answer is 207 with exactly
one reject naming the field and the reason, and the three good orders are stored.
"""

from __future__ import annotations

from typing import Any

import pytest
from apitest import Keys, auth
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from recompra.api.settings import ApiSettings
from recompra.db import unit_of_work
from recompra.models import Event, Order

# The documented bounds (docs/importing.md, "Bounds and currencies").
MAX_MINOR = 10**12
MAX_QUANTITY = 100_000


def _order(order_id: str, **item: Any) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "purchased_at": "2024-03-01T10:00:00Z",
        "customer": {"id": f"c-{order_id}", "email": f"{order_id}@example.com"},
        "items": [{"product_id": "p1", "unit_price_minor": 5890, **item}],
    }


def _without(record: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != key}


BAD_ORDERS = [
    pytest.param(
        _without(_order("bad"), "purchased_at"),
        "purchased_at",
        "required value is missing",
        id="no-date",
    ),
    pytest.param(
        _order("bad", discount_minor=5891),
        "items[0].discount_minor",
        "discount is larger than the line's amount (5890)",
        id="discount-over-price",
    ),
    pytest.param(
        _order("bad", quantity=2**62),
        "items[0].quantity",
        f"must be at most {MAX_QUANTITY}",
        id="huge-quantity",
    ),
    pytest.param(
        _order("bad", freight_minor=2**62),
        "items[0].freight_minor",
        f"must be at most {MAX_MINOR}",
        id="huge-freight",
    ),
    pytest.param(
        _order("bad", unit_price_minor=2**62),
        "items[0].unit_price_minor",
        f"must be at most {MAX_MINOR}",
        id="huge-price",
    ),
    pytest.param(
        _order("bad", quantity=1000, unit_price_minor=MAX_MINOR),
        "items[0].quantity",
        f"the line's amount is more than {MAX_MINOR}",
        id="huge-line-amount",
    ),
    pytest.param(
        {**_order("bad"), "currency": "XYZ"},
        "currency",
        "not an ISO 4217 currency code",
        id="unknown-currency",
    ),
    pytest.param(
        {**_order("bad"), "currency": "USD"},
        "currency",
        "the brand's currency is BRL; convert the amounts before sending them",
        id="foreign-currency",
    ),
    pytest.param(
        {**_order("bad"), "payment_fingerprint": "4111 1111 1111 1111"},
        "payment_fingerprint",
        "this looks like a card number: send the provider's fingerprint",
        id="card-number-as-fingerprint",
    ),
    pytest.param(
        {**_order("bad"), "payment_fingerprint": "short"},
        "payment_fingerprint",
        "a payment fingerprint is 8-128 letters, digits or . _ : / + = -",
        id="malformed-fingerprint",
    ),
]


@pytest.mark.parametrize(("bad", "field", "reason"), BAD_ORDERS)
def test_one_bad_order_rejects_only_itself(
    client: TestClient, keys: Keys, engine: Engine, bad: dict[str, Any], field: str, reason: str
) -> None:
    good = [_order(f"good-{i}") for i in range(3)]
    response = client.post(
        "/v1/ingest/orders/batch",
        json={"items": [good[0], good[1], bad, good[2]]},
        headers=auth(keys.ingest_a),
    )
    assert response.status_code == 207, response.text
    rejects = response.json()["rejects"]
    assert [(r["index"], r["field"], r["reason"]) for r in rejects] == [(2, field, reason)]
    with unit_of_work(engine, write=False) as session:
        stored = session.scalars(
            select(Order.external_id).where(Order.source == "api").order_by(Order.external_id)
        )
        assert list(stored) == ["good-0", "good-1", "good-2"]


def test_an_event_without_occurred_at_is_rejected_alone(
    client: TestClient, keys: Keys, engine: Engine
) -> None:
    with unit_of_work(engine, write=False) as session:
        before = session.scalar(select(func.count()).select_from(Event))
    client.post(
        "/v1/ingest/customers?source=api",
        json={"id": "ev-1", "email": "ev@example.com"},
        headers=auth(keys.ingest_a),
    )
    good = {"event_id": "e1", "type": "page_view", "occurred_at": "2024-03-01T10:00:00Z"}
    bad = {"event_id": "e2", "type": "page_view"}
    response = client.post(
        "/v1/ingest/events/batch",
        json={"items": [{**good, "customer_id": "ev-1"}, {**bad, "customer_id": "ev-1"}]},
        headers=auth(keys.ingest_a),
    )
    assert response.status_code == 207, response.text
    rejects = response.json()["rejects"]
    assert [(r["index"], r["field"], r["reason"]) for r in rejects] == [
        (1, "occurred_at", "required value is missing")
    ]
    with unit_of_work(engine, write=False) as session:
        assert session.scalar(select(func.count()).select_from(Event)) == before + 1


@pytest.mark.parametrize(
    "record",
    [
        _order("b", quantity=True),
        _order("b", unit_price_minor=False),
        {**_order("b"), "installments": True},
        {**_order("b"), "customer": {"id": True}},
    ],
)
def test_booleans_are_not_numbers(client: TestClient, keys: Keys, record: dict[str, Any]) -> None:
    response = client.post("/v1/ingest/orders", json=record, headers=auth(keys.ingest_a))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


def test_an_oversized_event_payload_is_refused(client: TestClient, keys: Keys) -> None:
    event = {
        "event_id": "big",
        "type": "page_view",
        "occurred_at": "2024-03-01T10:00:00Z",
        "payload": {"blob": "x" * 20_000},
    }
    response = client.post("/v1/ingest/events", json=event, headers=auth(keys.ingest_a))
    assert response.status_code == 422


def test_an_oversized_body_is_413_before_it_is_parsed(client: TestClient, keys: Keys) -> None:
    copies = ApiSettings().max_body_bytes // 18 + 1
    body = b'{"items": [' + b'{"order_id": "x"},' * copies + b'{"order_id": "y"}]}'
    response = client.post(
        "/v1/ingest/orders/batch",
        content=body,
        headers={**auth(keys.ingest_a), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_a_payment_fingerprint_is_stored_with_its_order(
    client: TestClient, keys: Keys, engine: Engine
) -> None:
    body = {**_order("paid"), "payment_fingerprint": "pm_fp:1a2B3c4D"}
    response = client.post("/v1/ingest/orders", json=body, headers=auth(keys.ingest_a))
    assert response.status_code in (200, 201), response.text
    with unit_of_work(engine, write=False) as session:
        stored = session.scalar(
            select(Order.payment_fingerprint).where(Order.external_id == "paid")
        )
    assert stored == "pm_fp:1a2B3c4D"
