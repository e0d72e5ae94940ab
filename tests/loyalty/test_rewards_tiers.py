"""Rewards (stock, validity, limits, tiers, coupons, cancel) and tiers (up, grace, down)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from recompra.db import unit_of_work
from recompra.errors import InsufficientBalance
from recompra.loyalty import (
    adjust,
    cancel_redemption,
    create_reward,
    define_tier,
    earn_for_order,
    get_account,
    redeem,
    review_tiers,
    set_override,
)
from recompra.loyalty.errors import RedemptionLimitReached, RewardUnavailable, TierRequired
from recompra.loyalty.rewards.catalog import COUPON_ALPHABET
from recompra.models import LoyaltyReward, LoyaltyTier, LoyaltyTierChange

from .conftest import T0, World


def _funded(world: World, points: int, **reward: Any) -> tuple[int, int]:
    """A program with one reward and a customer holding ``points``: (program, customer)."""
    _brand, program = world.program()
    customer = world.customer()
    with unit_of_work(world.engine) as s:
        adjust(
            s,
            program_id=program,
            customer_id=customer,
            points=points,
            request_key="fund",
            reason="test",
            now=T0,
        )
        create_reward(s, program_id=program, code="mug", name="Mug", **reward)
    return program, customer


def _redeem(world: World, program: int, customer: int, key: str, now: Any = T0) -> Any:
    with unit_of_work(world.engine) as s:
        return redeem(
            s, program_id=program, customer_id=customer, reward_code="mug", request_key=key, now=now
        )


def _stock(world: World, program: int) -> int | None:
    with unit_of_work(world.engine, write=False) as s:
        return s.scalars(
            select(LoyaltyReward.stock).where(LoyaltyReward.program_id == program)
        ).one()


def test_redeem_spends_points_takes_stock_and_issues_a_coupon(world: World, state: Any) -> None:
    program, customer = _funded(world, 500, cost_points=200, stock=3)
    result = _redeem(world, program, customer, "req-1")
    assert (result.points, result.status) == (200, "issued")
    code = result.coupon_code
    assert len(code) == 14
    assert code[4] == code[9] == "-"
    assert set(code.replace("-", "")) <= set(COUPON_ALPHABET)
    assert state(result.account_id)["balance"] == 300
    assert _stock(world, program) == 2
    # the same request again is replayed, not redeemed twice
    again = _redeem(world, program, customer, "req-1")
    assert (again.duplicate, again.coupon_code) == (True, code)
    assert state(result.account_id)["balance"] == 300
    assert _stock(world, program) == 2


def test_cancel_returns_points_and_stock(world: World, state: Any) -> None:
    program, customer = _funded(world, 500, cost_points=200, stock=1)
    result = _redeem(world, program, customer, "req-1")
    with unit_of_work(world.engine) as s:
        cancelled = cancel_redemption(
            s, program_id=program, coupon_code=result.coupon_code, now=T0 + timedelta(1)
        )
    assert cancelled.status == "cancelled"
    assert state(result.account_id)["balance"] == 500
    assert _stock(world, program) == 1
    with unit_of_work(world.engine) as s:  # cancelling twice changes nothing
        twice = cancel_redemption(s, program_id=program, coupon_code=result.coupon_code)
    assert twice.duplicate is True
    assert state(result.account_id)["balance"] == 500


@pytest.mark.parametrize(
    ("reward", "error"),
    [
        ({"cost_points": 501}, InsufficientBalance),
        ({"cost_points": 10, "stock": 0}, RewardUnavailable),
        ({"cost_points": 10, "valid_until": T0}, RewardUnavailable),
        ({"cost_points": 10, "valid_from": T0 + timedelta(1)}, RewardUnavailable),
        ({"cost_points": 10, "min_tier_rank": 1}, TierRequired),
    ],
)
def test_rejected_redemption_changes_nothing(
    world: World, state: Any, reward: dict[str, Any], error: type[Exception]
) -> None:
    program, customer = _funded(world, 500, **reward)
    with unit_of_work(world.engine, write=False) as s:
        account_id = get_account(s, program_id=program, customer_id=customer).id
    before = state(account_id)
    stock = _stock(world, program)
    with pytest.raises(error):
        _redeem(world, program, customer, "req-x")
    assert state(account_id) == before
    assert _stock(world, program) == stock


def test_per_customer_limit(world: World) -> None:
    program, customer = _funded(world, 500, cost_points=100, per_customer_limit=2)
    _redeem(world, program, customer, "a")
    _redeem(world, program, customer, "b")
    with pytest.raises(RedemptionLimitReached):
        _redeem(world, program, customer, "c")


def _tiers(world: World, program: int) -> None:
    with unit_of_work(world.engine) as s:
        define_tier(
            s,
            program_id=program,
            code="silver",
            name="Prata",
            rank=1,
            metric="spend",
            threshold=50_000,
            earn_multiplier_pct=120,
        )
        define_tier(
            s,
            program_id=program,
            code="gold",
            name="Ouro",
            rank=2,
            metric="spend",
            threshold=100_000,
            earn_multiplier_pct=150,
        )


def _tier_code(world: World, program: int, customer: int) -> str | None:
    with unit_of_work(world.engine, write=False) as s:
        account = get_account(s, program_id=program, customer_id=customer)
        tier = s.get(LoyaltyTier, account.tier_id) if account.tier_id else None
        return tier.code if tier else None


def test_tier_upgrade_is_immediate_and_multiplies_later_orders(world: World) -> None:
    brand, program = world.program(
        rules=[{"type": "base", "points_per_unit": 1}, {"type": "tier_multiplier"}]
    )
    _tiers(world, program)
    customer = world.customer()
    big = world.order(brand, customer, amount=60_000)
    small = world.order(brand, customer, amount=10_000, at=T0 + timedelta(1))
    with unit_of_work(world.engine) as s:
        first = earn_for_order(s, program_id=program, order_id=big, now=T0)
    assert first.points == 600
    assert _tier_code(world, program, customer) == "silver"
    with unit_of_work(world.engine) as s:
        second = earn_for_order(
            s,
            program_id=program,
            order_id=small,
            now=T0 + timedelta(1),
        )
    assert second.points == 120  # 100 x 1.2 (silver)


def test_downgrade_only_at_review_after_grace(world: World) -> None:
    brand, program = world.program(tier_window_days=365, tier_review_days=365, tier_grace_days=30)
    _tiers(world, program)
    customer = world.customer()
    order = world.order(brand, customer, amount=120_000)
    with unit_of_work(world.engine) as s:
        earn_for_order(s, program_id=program, order_id=order, now=T0)
    assert _tier_code(world, program, customer) == "gold"
    # before the review date nothing happens, even though the window has moved on
    with unit_of_work(world.engine) as s:
        assert review_tiers(s, program_id=program, now=T0 + timedelta(days=364)) == {}
    # at the review date the spend fell out of the window: grace starts, tier kept
    with unit_of_work(world.engine) as s:
        assert review_tiers(s, program_id=program, now=T0 + timedelta(days=366)) == {"grace": 1}
    assert _tier_code(world, program, customer) == "gold"
    # after the grace period: downgraded to what the window qualifies for (none)
    with unit_of_work(world.engine) as s:
        out = review_tiers(s, program_id=program, now=T0 + timedelta(days=397))
    assert out == {"downgraded": 1}
    assert _tier_code(world, program, customer) is None
    with unit_of_work(world.engine, write=False) as s:
        reasons = s.scalars(
            select(LoyaltyTierChange.reason)
            .join(LoyaltyTier, LoyaltyTier.id == LoyaltyTierChange.from_tier_id)
            .where(LoyaltyTier.program_id == program)
            .order_by(LoyaltyTierChange.id)
        ).all()
    assert reasons == ["downgrade"]


def test_manual_override_until_an_end_date(world: World) -> None:
    _brand, program = world.program()
    _tiers(world, program)
    program_id, customer = program, world.customer()
    with unit_of_work(world.engine) as s:
        adjust(
            s,
            program_id=program_id,
            customer_id=customer,
            points=1_000,
            request_key="f",
            reason="t",
            now=T0,
        )
        create_reward(
            s, program_id=program_id, code="mug", name="VIP mug", cost_points=10, min_tier_rank=2
        )
        account = get_account(s, program_id=program_id, customer_id=customer)
        set_override(s, account_id=account.id, tier_code="gold", until=T0 + timedelta(10), now=T0)
    assert _redeem(world, program_id, customer, "vip-1", now=T0 + timedelta(1)).points == 10
    with pytest.raises(TierRequired):
        _redeem(world, program_id, customer, "vip-2", now=T0 + timedelta(11))
