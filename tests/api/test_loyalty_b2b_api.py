"""Through the API: two buyers of a company account pool points and the account reaches
a tier; a coalition program earns in brand A and B and redeems in B with the cost
allocated to the brands whose lots were spent; brand isolation still holds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from apitest import Keys, auth
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from recompra.auth.keys import create_api_key
from recompra.db import unit_of_work
from recompra.loyalty import create_program, create_reward, define_tier, publish_rules
from recompra.models import LoyaltyProgram, Order, OrderItem
from recompra.reads.loyalty_redemptions import recent_redemptions
from samplestore import SampleStore


@pytest.fixture
def program(engine: Engine, store: SampleStore) -> int:
    """Brand A's program: 1 point per real, points usable at once, valid for decades."""
    with unit_of_work(engine) as session:
        program = create_program(
            session,
            brand_id=store.brand_a,
            name="Clube",
            return_window_days=0,
            expiry_days=100_000,
            tier_window_days=100_000,  # the sample orders are years old
        )
        publish_rules(
            session,
            program_id=program.id,
            rules=[{"type": "base", "points_per_unit": 1}],
            effective_from=datetime(2000, 1, 1, tzinfo=UTC),
        )
        return program.id


def _points_of(engine: Engine, order_id: int) -> int:
    """The base rule computed here: floor(sum of the lines' net amounts / R$ 1.00)."""
    with unit_of_work(engine, write=False) as s:
        lines = s.execute(
            select(OrderItem.quantity, OrderItem.unit_price_minor, OrderItem.discount_minor).where(
                OrderItem.order_id == order_id
            )
        ).all()
        if not lines:
            order = s.get_one(Order, order_id)
            return max(0, order.items_total_minor - order.discount_total_minor) // 100
    return sum(max(0, q * p - d) for q, p, d in lines) // 100


def _orders_of(engine: Engine, brand: int, customers: list[int]) -> dict[int, int]:
    """One earning order per customer (the first by id), as customer -> order."""
    with unit_of_work(engine, write=False) as s:
        rows = s.execute(
            select(Order.customer_id, func.min(Order.id))
            .where(
                Order.brand_id == brand,
                Order.customer_id.in_(customers),
                Order.status.in_(("delivered", "approved", "shipped", "invoiced")),
            )
            .group_by(Order.customer_id)
        ).all()
    return {int(c): int(o) for c, o in rows}


def test_two_buyers_pool_points_and_the_company_reaches_a_tier(
    client: TestClient, keys: Keys, store: SampleStore, engine: Engine, program: int
) -> None:
    headers = auth(keys.loyalty_a)
    orders = _orders_of(engine, store.brand_a, store.customers_a[:40])
    (owner, first), (buyer, second) = list(orders.items())[:2]
    points = {owner: _points_of(engine, first), buyer: _points_of(engine, second)}
    with unit_of_work(engine) as s:
        # Reached only by the two buyers together.
        define_tier(
            s,
            program_id=program,
            code="empresa",
            name="Empresa",
            rank=1,
            metric="points",
            threshold=max(points.values()) + 1,
        )
    assert sum(points.values()) >= max(points.values()) + 1
    created = client.post(
        "/v1/loyalty/companies",
        headers=headers,
        json={
            "name": "ACME Ltda",
            "free_shipping": True,
            "price_list_ref": "B2B",
            "manager_name": "Bia",
        },
    )
    assert created.status_code == 201, created.text
    company = created.json()["id"]
    for customer, role in ((owner, "owner"), (buyer, "buyer")):
        member = client.put(
            f"/v1/loyalty/companies/{company}/members/{customer}",
            headers=headers,
            json={"role": role},
        )
        assert member.status_code == 200, member.text
    for order in (first, second):
        assert client.post(f"/v1/loyalty/orders/{order}/earn", headers=headers).status_code == 200
    pool = client.get(f"/v1/loyalty/companies/{company}", headers=headers).json()
    assert pool["balance"] == sum(points.values())
    assert pool["tier_code"] == "empresa"
    assert pool["benefits"]["free_shipping"] is True
    assert {c["customer_id"]: c["earned"] for c in pool["contributions"]} == points
    # Each buyer's balance is the pool.
    balance = client.get(f"/v1/loyalty/customers/{buyer}", headers=headers).json()
    assert balance["account_id"] == pool["account_id"]
    assert balance["balance"] == sum(points.values())
    as_of = client.get(f"/v1/loyalty/customers/{owner}/points", headers=headers).json()
    assert (as_of["available"], as_of["pending"]) == (sum(points.values()), 0)
    figures = client.get("/v1/loyalty/analytics", headers=headers).json()
    assert (figures["members"], figures["issued"]) == (1, sum(points.values()))
    assert figures["liability_points"] == sum(points.values())
    with unit_of_work(engine, write=False) as s:
        revenue = s.scalar(
            select(func.sum(Order.total_minor)).where(
                Order.brand_id == store.brand_a,
                Order.customer_id.in_((owner, buyer)),
                Order.status.not_in(("canceled", "unavailable")),
            )
        )
    # The pool is one member: its CLTV is both buyers' revenue at the brand.
    assert figures["cltv_by_tier"] == [
        {"tier_code": "empresa", "members": 1, "revenue_minor": revenue, "cltv_minor": revenue}
    ]
    # Another brand's key does not find the company.
    other = client.get(f"/v1/loyalty/companies/{company}", headers=auth(keys.read_b))
    assert other.status_code in (403, 404)


def test_coalition_earns_in_a_and_b_redeems_in_b_and_a_pays(
    client: TestClient, keys: Keys, store: SampleStore, engine: Engine, program: int
) -> None:
    with unit_of_work(engine) as s:
        _, loyalty_b = create_api_key(s, scopes=["loyalty", "read"], brand_id=store.brand_b)
    joined = client.post(
        f"/v1/loyalty/coalition/members?brand_id={store.brand_a}",
        headers=auth(keys.admin),
        json={"member_brand_id": store.brand_b, "earn_rate_pct": 50},
    )
    assert joined.status_code == 201, joined.text
    shared = store.shared_customer
    in_a = _orders_of(engine, store.brand_a, [shared])[shared]
    in_b = _orders_of(engine, store.brand_b, [shared])[shared]
    earned_a = client.post(f"/v1/loyalty/orders/{in_a}/earn", headers=auth(keys.loyalty_a))
    earned_b = client.post(f"/v1/loyalty/orders/{in_b}/earn", headers=auth(loyalty_b))
    assert earned_a.json()["points"] == _points_of(engine, in_a)
    assert earned_b.json()["points"] == _points_of(engine, in_b) * 50 // 100
    with unit_of_work(engine) as s:
        a_points = earned_a.json()["points"]
        create_reward(s, program_id=program, code="vale", name="Vale", cost_points=a_points)
        purchased = {o: s.get_one(Order, o).purchased_at for o in (in_a, in_b)}
    redeemed = client.post(
        "/v1/loyalty/redemptions",
        headers=auth(loyalty_b),
        json={"customer_id": shared, "reward_code": "vale"},
    )
    assert redeemed.status_code == 201, redeemed.text
    # Oldest lot first (both lots live as long): the expected split, computed here.
    lots = sorted(
        [
            (purchased[in_a], store.brand_a, a_points),
            (purchased[in_b], store.brand_b, earned_b.json()["points"]),
        ]
    )
    left, expected = a_points, {}
    for _, brand, available in lots:
        used = min(left, available)
        left -= used
        if used:
            expected[brand] = used
    report = client.get("/v1/loyalty/coalition", headers=auth(loyalty_b)).json()
    by_brand = {row["brand_id"]: row for row in report}
    assert {
        b: r["points_paid_for"] for b, r in by_brand.items() if r["points_paid_for"]
    } == expected
    assert by_brand[store.brand_b]["points_redeemed_here"] == a_points
    # Brand B reads the shared member's loyalty balance, never A-only customers' profiles.
    only_a = next(c for c in store.customers_a if c != shared)
    assert client.get(f"/v1/customers/{only_a}", headers=auth(loyalty_b)).status_code == 404
    assert client.get(f"/v1/loyalty/customers/{only_a}", headers=auth(loyalty_b)).status_code == 404
    # B sees the points A's order earned, never that order's id.
    seen_by_b = client.get(f"/v1/loyalty/customers/{shared}/history", headers=auth(loyalty_b))
    order_ids = {m["order_id"] for m in seen_by_b.json()["items"]}
    assert in_a not in order_ids
    assert in_b in order_ids
    seen_by_a = client.get(f"/v1/loyalty/customers/{shared}/history", headers=auth(keys.loyalty_a))
    assert in_a in {m["order_id"] for m in seen_by_a.json()["items"]}
    balance = client.get(f"/v1/loyalty/customers/{shared}", headers=auth(loyalty_b)).json()
    assert balance["balance"] == a_points + earned_b.json()["points"] - a_points


def test_a_buyers_profile_shows_the_pool_and_a_pooled_redemption_names_the_buyer(
    client: TestClient, keys: Keys, store: SampleStore, engine: Engine, program: int
) -> None:
    headers = auth(keys.loyalty_a)
    orders = _orders_of(engine, store.brand_a, store.customers_a[:40])
    (owner, first), (buyer, second) = list(orders.items())[:2]
    company = client.post("/v1/loyalty/companies", headers=headers, json={"name": "Beta SA"})
    company_id = company.json()["id"]
    for customer, role in ((owner, "owner"), (buyer, "buyer")):
        client.put(
            f"/v1/loyalty/companies/{company_id}/members/{customer}",
            headers=headers,
            json={"role": role},
        )
    for order in (first, second):
        assert client.post(f"/v1/loyalty/orders/{order}/earn", headers=headers).status_code == 200
    pooled = _points_of(engine, first) + _points_of(engine, second)
    # The buyer's API profile reads the pool (before: None, since the pool's row carries
    # the owner's customer id).
    profile = client.get(f"/v1/customers/{buyer}", headers=auth(keys.read_a)).json()
    assert profile["points"]["balance"] == pooled
    assert profile["points"]["company_account_id"] == company_id
    with unit_of_work(engine) as s:
        create_reward(s, program_id=program, code="caneca", name="Caneca", cost_points=1)
    redeemed = client.post(
        "/v1/loyalty/redemptions",
        headers=headers,
        json={"customer_id": buyer, "reward_code": "caneca"},
    )
    assert redeemed.status_code == 201, redeemed.text
    with unit_of_work(engine, write=False) as s:
        rows = recent_redemptions(s, program=s.get_one(LoyaltyProgram, program), limit=5)
    mine = [r for r in rows if r.coupon_code == redeemed.json()["coupon_code"]]
    assert [r.customer_id for r in mine] == [buyer]
