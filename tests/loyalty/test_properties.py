"""Property test: any sequence of earn / release / spend / return / expire / cancel keeps
the ledger consistent and never spends an expired or pending lot."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from recompra.db import unit_of_work
from recompra.errors import InsufficientBalance
from recompra.loyalty import (
    cancel_redemption,
    create_reward,
    earn_for_order,
    expire_lots,
    redeem,
    release_order,
    reverse_order,
    verify_account,
)
from recompra.models import LoyaltyAllocation, LoyaltyLot, LoyaltyMovement

from .conftest import T0, World

op = st.one_of(
    st.tuples(st.just("earn"), st.integers(100, 30_000)),
    st.tuples(st.just("release"), st.integers(0, 20)),
    st.tuples(st.just("spend"), st.sampled_from(["r10", "r50", "r200"])),
    st.tuples(st.just("return"), st.integers(0, 20), st.integers(0, 30_000)),
    st.tuples(st.just("expire"), st.integers(1, 15)),
    st.tuples(st.just("cancel"), st.integers(0, 20)),
    st.tuples(st.just("wait"), st.integers(1, 10)),
)


def check_invariants(engine: Engine, account_id: int) -> None:
    """Lots, debts, caches and movement sums agree; debits only touched spendable lots."""
    with unit_of_work(engine, write=False) as s:
        report = verify_account(s, account_id=account_id)
        assert report["ok"], report
        # sum(remaining of spendable lots) - debt == balance - debt, and balance >= 0
        assert report["active_lots"] - report["open_debts"] == report["balance"] - report["debt"]
        assert report["balance"] >= 0
        bad = s.scalar(
            select(func.count())
            .select_from(LoyaltyAllocation)
            .join(LoyaltyMovement, LoyaltyMovement.id == LoyaltyAllocation.movement_id)
            .join(LoyaltyLot, LoyaltyLot.id == LoyaltyAllocation.lot_id)
            .where(
                LoyaltyMovement.account_id == account_id,
                LoyaltyMovement.kind.in_(["spend", "debt_repay", "adjust"]),
                (LoyaltyLot.released_at.is_(None))
                | (LoyaltyLot.released_at > LoyaltyMovement.created_at)
                | (LoyaltyLot.expires_at <= LoyaltyMovement.created_at),
            )
        )
        assert bad == 0, "a pending or expired lot was spent"


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(op, min_size=1, max_size=25))
def test_any_sequence_keeps_the_ledger_consistent(world: World, ops: list[Any]) -> None:
    brand, program = world.program(return_window_days=3, expiry_days=20)
    customer = world.customer()
    with unit_of_work(world.engine) as s:
        for cost in (10, 50, 200):
            create_reward(s, program_id=program, code=f"r{cost}", name="r", cost_points=cost)
    now = T0
    orders: list[int] = []
    coupons: list[str] = []
    account_id = None
    for step, action in enumerate(ops):
        kind = action[0]
        if kind == "wait":
            now += timedelta(days=action[1])
            continue
        if kind == "earn":
            order = world.order(brand, customer, amount=action[1], at=now)
            orders.append(order)
            with unit_of_work(world.engine) as s:
                earned = earn_for_order(s, program_id=program, order_id=order, now=now)
            account_id = earned.account_id
        elif kind == "expire":
            now += timedelta(days=action[1])
            with unit_of_work(world.engine) as s:
                expire_lots(s, now=now, program_id=program)
        elif kind == "release" and orders:
            with unit_of_work(world.engine) as s:
                order = orders[action[1] % len(orders)]
                release_order(s, program_id=program, order_id=order, now=now)
        elif kind == "spend" and account_id is not None:
            try:
                with unit_of_work(world.engine) as s:
                    redeemed = redeem(
                        s,
                        program_id=program,
                        customer_id=customer,
                        reward_code=action[1],
                        request_key=f"k{step}",
                        now=now,
                    )
                coupons.append(redeemed.coupon_code)
            except InsufficientBalance:
                pass
        elif kind == "return" and orders:
            with unit_of_work(world.engine) as s:
                reverse_order(
                    s,
                    program_id=program,
                    order_id=orders[action[1] % len(orders)],
                    return_key=f"ret{step}",
                    returned_minor=action[2],
                    now=now,
                )
        elif kind == "cancel" and coupons:
            with unit_of_work(world.engine) as s:
                code = coupons[action[1] % len(coupons)]
                cancel_redemption(s, program_id=program, coupon_code=code, now=now)
        if account_id is not None:
            check_invariants(world.engine, account_id)
