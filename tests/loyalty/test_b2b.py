"""B2B company accounts: buyers pool points into one account balance through the ledger's
posting path, the pool reaches a tier on its total volume, roles decide who may redeem,
and the B2B earning rules (volume, early adoption, survey) credit the pool."""

from __future__ import annotations

from datetime import timedelta

import pytest

from recompra.db import unit_of_work
from recompra.hub.accounts import add_buyer
from recompra.loyalty import (
    award_bonus,
    create_reward,
    define_tier,
    earn_for_order,
    find_account,
    redeem,
    reverse_order,
)
from recompra.loyalty.coalition import join_coalition
from recompra.loyalty.errors import RoleCannotRedeem
from recompra.loyalty.pools import pool_summary
from recompra.models import BrandCustomer, LoyaltyAccount, Product

from .b2b_world import NOW, brand_customer, company
from .conftest import T0, World


def test_buyers_pool_points_and_the_account_reaches_a_tier(world: World, state: object) -> None:
    brand, program = world.program()
    with unit_of_work(world.engine) as s:
        define_tier(
            s,
            program_id=program,
            code="gold",
            name="Ouro",
            rank=1,
            metric="spend",
            threshold=30_000,
            benefits={"lounge": True},
        )
    account_id, (owner, buyer) = company(
        world,
        brand,
        ["owner", "buyer"],
        price_list_ref="B2B-1",
        discount_bps=500,
        free_shipping=True,
        manager_name="Bia",
    )
    amounts = {owner: 12_000, buyer: 20_000}
    for customer, amount in amounts.items():
        order = world.order(brand, customer, amount=amount)
        with unit_of_work(world.engine) as s:
            earn_for_order(s, program_id=program, order_id=order, now=NOW)
    with unit_of_work(world.engine, write=False) as s:
        pool = find_account(s, program_id=program, customer_id=buyer)
        assert pool is not None
        assert find_account(s, program_id=program, customer_id=owner) is pool
        assert pool.company_account_id == account_id
        # The pool is addressed to the company's owner (journeys about it reach them).
        assert pool.customer_id == owner
        summary = pool_summary(s, program_id=program, company_account_id=account_id, now=NOW)
    # 1 point per R$ 1.00 of each order, computed here from the amounts.
    assert summary.balance == sum(amount // 100 for amount in amounts.values())
    # Neither buyer alone reached R$ 300, together they did.
    assert max(amounts.values()) < 30_000 <= sum(amounts.values())
    assert summary.tier_code == "gold"
    assert summary.benefits["free_shipping"] is True
    assert summary.benefits["discount_bps"] == 500
    assert summary.benefits["lounge"] is True
    by_buyer = {c.customer_id: (c.role, c.earned) for c in summary.contributions}
    assert by_buyer == {owner: ("owner", 120), buyer: ("buyer", 200)}
    state(pool.id)  # type: ignore[operator]


def test_only_owners_and_buyers_may_spend_the_pool(world: World, state: object) -> None:
    brand, program = world.program()
    _, (owner, buyer, viewer) = company(world, brand, ["owner", "buyer", "viewer"])
    order = world.order(brand, buyer, amount=50_000)
    with unit_of_work(world.engine) as s:
        earn_for_order(s, program_id=program, order_id=order, now=NOW)
        create_reward(s, program_id=program, code="kit", name="Kit", cost_points=100)
    with pytest.raises(RoleCannotRedeem), unit_of_work(world.engine) as s:
        redeem(
            s, program_id=program, customer_id=viewer, reward_code="kit", request_key="v-1", now=NOW
        )
    for who, key in ((owner, "o-1"), (buyer, "b-1")):
        with unit_of_work(world.engine) as s:
            redeem(
                s, program_id=program, customer_id=who, reward_code="kit", request_key=key, now=NOW
            )
    with unit_of_work(world.engine, write=False) as s:
        pool = find_account(s, program_id=program, customer_id=viewer)
        assert pool is not None
        assert pool.balance == 500 - 2 * 100
        pool_id = pool.id
    state(pool_id)  # type: ignore[operator]


def test_an_order_earned_before_joining_is_reversed_in_the_buyers_own_account(
    world: World, state: object
) -> None:
    brand, program = world.program()
    early = brand_customer(world, brand)
    before = world.order(brand, early, amount=10_000)
    with unit_of_work(world.engine) as s:
        own = earn_for_order(s, program_id=program, order_id=before, now=NOW).account_id
    account_id, _ = company(world, brand, ["owner"])
    with unit_of_work(world.engine) as s:
        from recompra.hub.accounts import add_buyer

        add_buyer(s, brand_id=brand, account_id=account_id, customer_id=early)
    after = world.order(brand, early, amount=20_000)
    with unit_of_work(world.engine) as s:
        pooled = earn_for_order(s, program_id=program, order_id=after, now=NOW).account_id
        reverse_order(s, program_id=program, order_id=before, return_key="r-1", now=NOW)
    assert pooled != own
    with unit_of_work(world.engine, write=False) as s:
        assert s.get_one(LoyaltyAccount, own).balance == 0
        assert s.get_one(LoyaltyAccount, pooled).balance == 200
    state(own)  # type: ignore[operator]
    state(pooled)  # type: ignore[operator]


def test_b2b_earning_rules_volume_early_adoption_and_survey(world: World) -> None:
    rules = [
        {"type": "base", "points_per_unit": 1},
        {
            "type": "volume_bonus",
            "steps": [
                {"min_amount_minor": 100_000, "points": 50},
                {"min_amount_minor": 500_000, "points": 400},
            ],
        },
        {"type": "new_product_bonus", "days": 30, "points": 70},
        {"type": "survey_bonus", "points": 25},
    ]
    brand, program = world.program(rules=rules)
    _, (buyer,) = company(world, brand, ["buyer"])
    new = world.product(brand, ref="novo")
    old = world.product(brand, ref="antigo")
    with unit_of_work(world.engine) as s:
        s.get_one(Product, new).created_at = T0 - timedelta(days=10)
        s.get_one(Product, old).created_at = T0 - timedelta(days=90)
    big = world.order(brand, buyer, lines=[(old, 450_000), (new, 60_000)])
    small = world.order(brand, buyer, lines=[(old, 120_000)])
    with unit_of_work(world.engine) as s:
        first = earn_for_order(s, program_id=program, order_id=big, now=NOW)
        second = earn_for_order(s, program_id=program, order_id=small, now=NOW)
        survey = award_bonus(
            s, program_id=program, customer_id=buyer, trigger="survey", key="answer-9", at=NOW
        )
        again = award_bonus(
            s, program_id=program, customer_id=buyer, trigger="survey", key="answer-9", at=NOW
        )
    # R$ 5,100 -> 5,100 base + 400 (>= R$ 5,000) + 70 (a product 10 days old).
    assert first.points == 5_100 + 400 + 70
    # R$ 1,200 -> 1,200 base + 50 (>= R$ 1,000); the product is 90 days old.
    assert second.points == 1_200 + 50
    assert survey.points == 25
    assert again.duplicate or again.points == 25
    assert first.account_id == second.account_id == survey.account_id


def test_a_buyer_for_two_pools_of_one_program_uses_the_lower_account(
    world: World, state: object
) -> None:
    """A customer may buy for a company at each brand of a coalition program: the pool
    with the lowest company account id holds their points, whichever they joined first."""
    brand_a, program = world.program()
    brand_b = world.brand()
    with unit_of_work(world.engine) as s:
        join_coalition(s, program_id=program, brand_id=brand_b, earn_rate_pct=100)
    lower, _ = company(world, brand_a, ["owner"])
    higher, _ = company(world, brand_b, ["owner"])
    assert lower < higher
    customer = brand_customer(world, brand_b)
    with unit_of_work(world.engine) as s:
        s.add(BrandCustomer(brand_id=brand_a, customer_id=customer, first_seen_at=T0))
    with unit_of_work(world.engine) as s:
        add_buyer(s, brand_id=brand_b, account_id=higher, customer_id=customer)
        add_buyer(s, brand_id=brand_a, account_id=lower, customer_id=customer)
    order = world.order(brand_b, customer, amount=10_000, at=T0)
    with unit_of_work(world.engine) as s:
        earned = earn_for_order(s, program_id=program, order_id=order, now=NOW)
        holder = s.get(LoyaltyAccount, earned.account_id)
        assert holder is not None
        assert holder.company_account_id == lower
