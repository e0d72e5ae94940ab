"""Loyalty endpoints: program, earn, balance, simulate, redeem, cancel, catalogue, isolation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from apitest import Keys, auth
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from recompra.api.routers import loyalty as loyalty_router
from recompra.db import unit_of_work
from recompra.loyalty import create_program, create_reward, define_tier, publish_rules
from recompra.models import IdempotencyRecord, Order
from samplestore import SampleStore

READ_PATHS = (
    "/v1/loyalty/program",
    "/v1/loyalty/summary",
    "/v1/loyalty/tiers",
    "/v1/loyalty/rewards",
)
CUSTOMER_PATHS = ("/v1/loyalty/customers/{id}", "/v1/loyalty/customers/{id}/history")


@pytest.fixture
def program(engine: Engine, store: SampleStore) -> int:
    """Brand A's program: 1 point per real, points usable at once, a tier, two rewards."""
    with unit_of_work(engine) as session:
        program = create_program(
            session,
            brand_id=store.brand_a,
            name="Clube A",
            return_window_days=0,
            expiry_days=100_000,  # the sample orders are old: keep their points valid
        )
        publish_rules(
            session,
            program_id=program.id,
            rules=[{"type": "base", "points_per_unit": 1}],
            effective_from=datetime(2000, 1, 1, tzinfo=UTC),
        )
        define_tier(
            session,
            program_id=program.id,
            code="ouro",
            name="Ouro",
            rank=1,
            metric="points",
            threshold=10**9,
        )
        create_reward(session, program_id=program.id, code="cupom5", name="Cupom", cost_points=5)
        create_reward(
            session, program_id=program.id, code="viagem", name="Viagem", cost_points=10**9
        )
        return program.id


def _order_of_a(engine: Engine, store: SampleStore) -> tuple[int, int, int]:
    """Brand A's largest delivered order: id, customer, total."""
    with unit_of_work(engine, write=False) as session:
        row = session.execute(
            select(Order.id, Order.customer_id, Order.total_minor)
            .where(Order.brand_id == store.brand_a, Order.status == "delivered")
            .order_by(Order.total_minor.desc())
            .limit(1)
        ).one()
    return int(row[0]), int(row[1]), int(row[2])


def test_a_write_resolves_its_brand_once_then_remembers_it(
    client: TestClient,
    keys: Keys,
    store: SampleStore,
    engine: Engine,
    program: int,
    statements: list[str],
) -> None:
    """A loyalty write with no brand remembered reads it in its own session and
    remembers it: the next writes within the TTL do not read the brands table."""
    headers = auth(keys.loyalty_a)
    order_id, _, _ = _order_of_a(engine, store)
    for _ in range(3):
        assert client.post(f"/v1/loyalty/orders/{order_id}/earn", headers=headers).is_success
    assert sum(1 for sql in statements if "FROM brands" in sql) == 1


def test_no_program_is_404(client: TestClient, keys: Keys) -> None:
    response = client.get("/v1/loyalty/program", headers=auth(keys.loyalty_a))
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "this brand runs no active loyalty program"


def test_earn_balance_simulate_redeem_cancel(
    client: TestClient, keys: Keys, store: SampleStore, engine: Engine, program: int
) -> None:
    headers = auth(keys.loyalty_a)
    order_id, customer_id, _ = _order_of_a(engine, store)

    config = client.get("/v1/loyalty/program", headers=headers).json()
    assert (config["id"], config["name"], config["rule_version"]) == (program, "Clube A", 1)

    simulated = client.post("/v1/loyalty/simulate", json={"order_id": order_id}, headers=headers)
    assert simulated.status_code == 200
    expected = simulated.json()["points"]  # one point per real of the items, freight excluded
    assert expected > 5

    earned = client.post(f"/v1/loyalty/orders/{order_id}/earn", headers=headers).json()
    assert (earned["points"], earned["state"], earned["duplicate"]) == (expected, "active", False)
    again = client.post(f"/v1/loyalty/orders/{order_id}/earn", headers=headers).json()
    assert (again["points"], again["duplicate"]) == (expected, True)

    balance = client.get(f"/v1/loyalty/customers/{customer_id}", headers=headers).json()
    assert (balance["balance"], balance["pending"], balance["debt"]) == (expected, 0, 0)

    redeemed = client.post(
        "/v1/loyalty/redemptions",
        json={"customer_id": customer_id, "reward_code": "cupom5"},
        headers=headers,
    )
    assert redeemed.status_code == 201, redeemed.json()
    coupon = redeemed.json()["coupon_code"]
    after = client.get(f"/v1/loyalty/customers/{customer_id}", headers=headers).json()
    assert after["balance"] == expected - 5

    too_dear = client.post(
        "/v1/loyalty/redemptions",
        json={"customer_id": customer_id, "reward_code": "viagem"},
        headers=headers,
    )
    assert too_dear.status_code == 409
    assert too_dear.json()["error"]["code"] == "insufficient_balance"
    unknown = client.post(
        "/v1/loyalty/redemptions",
        json={"customer_id": customer_id, "reward_code": "nada"},
        headers=headers,
    )
    assert unknown.status_code == 404

    cancelled = client.post(f"/v1/loyalty/redemptions/{coupon}/cancel", headers=headers).json()
    assert cancelled["status"] == "cancelled"
    restored = client.get(f"/v1/loyalty/customers/{customer_id}", headers=headers).json()
    assert restored["balance"] == expected

    history = client.get(f"/v1/loyalty/customers/{customer_id}/history", headers=headers).json()
    assert [m["kind"] for m in history["items"]] == ["refund", "spend", "earn"]
    assert [m["points"] for m in history["items"]] == [5, -5, expected]

    rewards = client.get("/v1/loyalty/rewards", headers=headers).json()
    assert [(r["code"], r["redemptions"]) for r in rewards] == [("cupom5", 0), ("viagem", 0)]
    totals = client.get("/v1/loyalty/summary", headers=headers).json()
    assert totals == {
        "accounts": 1,
        "issued": expected,
        "redeemed": 0,
        "expired": 0,
        "reversed": 0,
        "adjusted": 0,
        "balance": expected,
        "pending": 0,
        "outstanding": expected,
        "debt": 0,
    }
    tiers = client.get("/v1/loyalty/tiers", headers=headers).json()
    assert [(t["code"], t["accounts"]) for t in tiers] == [("ouro", 0)]


def test_hypothetical_order_simulation(
    client: TestClient, keys: Keys, store: SampleStore, program: int
) -> None:
    response = client.post(
        "/v1/loyalty/simulate",
        json={"customer_id": store.customers_a[0], "lines": [{"amount_minor": 12345}]},
        headers=auth(keys.loyalty_a),
    )
    assert response.status_code == 200
    assert response.json()["points"] == 123
    missing = client.post("/v1/loyalty/simulate", json={"lines": []}, headers=auth(keys.loyalty_a))
    assert missing.status_code == 400


def test_loyalty_needs_its_scope(client: TestClient, keys: Keys, program: int) -> None:
    assert client.get("/v1/loyalty/program", headers=auth(keys.read_a)).status_code == 403


@pytest.mark.parametrize("path", READ_PATHS)
def test_naming_another_brand_is_404(
    client: TestClient, keys: Keys, store: SampleStore, program: int, path: str
) -> None:
    response = client.get(f"{path}?brand_id={store.brand_b}", headers=auth(keys.loyalty_a))
    assert response.status_code == 404
    assert response.json()["error"]["field"] == "brand_id"


@pytest.mark.parametrize("path", CUSTOMER_PATHS)
def test_other_brands_customers_are_404(
    client: TestClient, keys: Keys, store: SampleStore, program: int, path: str
) -> None:
    for customer_id in store.customers_b:
        response = client.get(path.format(id=customer_id), headers=auth(keys.loyalty_a))
        assert response.status_code == 404


def test_other_brands_orders_and_customers_cannot_earn_or_redeem(
    client: TestClient, keys: Keys, store: SampleStore, program: int
) -> None:
    headers = auth(keys.loyalty_a)
    earn = client.post(f"/v1/loyalty/orders/{store.orders_b[0]}/earn", headers=headers)
    assert earn.status_code == 404
    simulate = client.post(
        "/v1/loyalty/simulate", json={"order_id": store.orders_b[0]}, headers=headers
    )
    assert simulate.status_code == 404
    redeem = client.post(
        "/v1/loyalty/redemptions",
        json={"customer_id": store.customers_b[0], "reward_code": "cupom5"},
        headers=headers,
    )
    assert redeem.status_code == 404


def _idempotency_records(engine: Engine) -> list[tuple[str, int, Any]]:
    with unit_of_work(engine, write=False) as session:
        rows = session.execute(
            select(
                IdempotencyRecord.idempotency_key,
                IdempotencyRecord.status_code,
                IdempotencyRecord.body,
            ).order_by(IdempotencyRecord.idempotency_key)
        ).all()
    return [(key, status, body["content"]) for key, status, body in rows]


def test_a_keyed_earn_is_one_transaction_that_records_its_key(
    client: TestClient,
    keys: Keys,
    store: SampleStore,
    engine: Engine,
    program: int,
    statements: list[str],
) -> None:
    """The earn, redeem and cancel endpoints record their Idempotency-Key in their own
    write unit of work: no placeholder transaction before, no store transaction after."""
    order_id, customer_id, _ = _order_of_a(engine, store)
    headers = auth(keys.loyalty_a)
    # Warm-up: the key's and the brand's per-process caches.
    client.post(f"/v1/loyalty/orders/{order_id}/earn", headers=headers)
    statements.clear()
    keyed = {**headers, "Idempotency-Key": "earn-1"}
    first = client.post(f"/v1/loyalty/orders/{order_id}/earn", headers=keyed)
    assert first.status_code == 200
    assert first.json()["duplicate"] is True  # earned by the warm-up
    assert sum(s.startswith("BEGIN IMMEDIATE") for s in statements) == 1
    assert _idempotency_records(engine) == [("earn-1", 200, first.json())]

    replayed = client.post(f"/v1/loyalty/orders/{order_id}/earn", headers=keyed)
    assert replayed.headers["idempotent-replayed"] == "true"
    assert replayed.json() == first.json()
    other = client.post("/v1/loyalty/orders/1/earn", headers=keyed)
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_conflict"

    redeem = {"customer_id": customer_id, "reward_code": "cupom5"}
    redeem_headers = {**headers, "Idempotency-Key": "redeem-1"}
    redeemed = client.post("/v1/loyalty/redemptions", json=redeem, headers=redeem_headers)
    assert redeemed.status_code == 201
    again = client.post("/v1/loyalty/redemptions", json=redeem, headers=redeem_headers)
    assert (again.status_code, again.json()) == (201, redeemed.json())
    coupon = redeemed.json()["coupon_code"]
    cancel_headers = {**headers, "Idempotency-Key": "cancel-1"}
    cancelled = client.post(f"/v1/loyalty/redemptions/{coupon}/cancel", headers=cancel_headers)
    assert cancelled.json()["status"] == "cancelled"
    assert _idempotency_records(engine) == [
        ("cancel-1", 200, cancelled.json()),
        ("earn-1", 200, first.json()),
        ("redeem-1", 201, redeemed.json()),
    ]
    balance = client.get(f"/v1/loyalty/customers/{customer_id}", headers=headers).json()
    history = client.get(f"/v1/loyalty/customers/{customer_id}/history", headers=headers).json()
    assert [m["kind"] for m in history["items"]] == ["refund", "spend", "earn"]  # spent once
    assert balance["balance"] == history["items"][-1]["points"]


def test_a_keyed_earn_that_fails_leaves_no_record_and_an_error_answer_is_replayed(
    client: TestClient,
    keys: Keys,
    store: SampleStore,
    engine: Engine,
    program: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    order_id, _, _ = _order_of_a(engine, store)
    keyed = {**auth(keys.loyalty_a), "Idempotency-Key": "crash-1"}

    def crash(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("the process died mid-write")

    monkeypatch.setattr(loyalty_router, "reevaluate_loyalty", crash)
    with TestClient(client.app, raise_server_exceptions=False) as crashing:
        assert (
            crashing.post(f"/v1/loyalty/orders/{order_id}/earn", headers=keyed).status_code == 500
        )
    assert _idempotency_records(engine) == []  # rolled back with the write: no lease to wait
    monkeypatch.undo()
    retried = client.post(f"/v1/loyalty/orders/{order_id}/earn", headers=keyed)
    assert (retried.status_code, retried.json()["duplicate"]) == (200, False)

    missing = {**auth(keys.loyalty_a), "Idempotency-Key": "missing-1"}
    unknown = client.post(f"/v1/loyalty/orders/{store.orders_b[0]}/earn", headers=missing)
    assert unknown.status_code == 404
    replayed = client.post(f"/v1/loyalty/orders/{store.orders_b[0]}/earn", headers=missing)
    assert (replayed.status_code, replayed.headers["idempotent-replayed"]) == (404, "true")
    assert [(k, s) for k, s, _ in _idempotency_records(engine)] == [
        ("crash-1", 200),
        ("missing-1", 404),
    ]
