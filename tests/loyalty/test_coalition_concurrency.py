"""A coalition account earned in two brands and redeemed in both at once (issue 19).

Four threads share one customer's coalition account: each posts every order of its brand
(each earns once, whichever thread gets there first) and redeems at its brand between
them. Afterwards the account's cached balances equal its ledger, every order earned
exactly once at its brand's rate, every redemption spent exactly its cost, and the cost
allocation splits each brand's redemptions among the brands whose lots they consumed,
none paying for more points than its orders earned.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from recompra.db import unit_of_work
from recompra.errors import InsufficientBalance
from recompra.loyalty import create_reward, earn_for_order, redeem, verify_account
from recompra.loyalty.coalition import cost_allocation, join_coalition
from recompra.models import LoyaltyMovement, LoyaltyRedemption

from .b2b_world import brand_customer
from .conftest import T0, World

ORDERS_PER_BRAND = 40
OPS_PER_THREAD = 60
COST = 9
#: Brand B earns at half the program's rate (1 point per R$ 1.00 at brand A).
B_RATE_PCT = 50


@pytest.mark.slow
def test_redemptions_in_two_brands_at_once_on_one_coalition_account(world: World) -> None:
    brand_a, program = world.program()
    brand_b = world.brand()
    with unit_of_work(world.engine) as s:
        join_coalition(s, program_id=program, brand_id=brand_b, earn_rate_pct=B_RATE_PCT)
        create_reward(s, program_id=program, code="vale", name="Vale", cost_points=COST)
    customer = brand_customer(world, brand_a)
    amounts = [1_000 + n % 5 * 100 for n in range(ORDERS_PER_BRAND)]
    orders = {
        brand: [
            world.order(brand, customer, amount=amount, at=T0 + timedelta(minutes=n))
            for n, amount in enumerate(amounts)
        ]
        for brand in (brand_a, brand_b)
    }
    now = T0 + timedelta(days=2)
    thread_brands = [brand_a, brand_b, brand_a, brand_b]
    issued_at: Counter[int] = Counter()
    errors: list[BaseException] = []
    start = threading.Barrier(len(thread_brands))
    lock = threading.Lock()

    def worker(index: int) -> None:
        brand = thread_brands[index]
        mine = list(orders[brand])
        rng = random.Random(index)
        start.wait()
        try:
            for n in range(OPS_PER_THREAD):
                if rng.random() < 0.5 and mine:
                    with unit_of_work(world.engine) as s:
                        earn_for_order(s, program_id=program, order_id=mine.pop(0), now=now)
                    continue
                try:
                    with unit_of_work(world.engine) as s:
                        redeem(
                            s,
                            program_id=program,
                            customer_id=customer,
                            reward_code="vale",
                            request_key=f"c{index}-{n}",
                            now=now,
                            brand_id=brand,
                        )
                    with lock:
                        issued_at[brand] += 1
                except InsufficientBalance:
                    pass
            for order_id in mine:
                with unit_of_work(world.engine) as s:
                    earn_for_order(s, program_id=program, order_id=order_id, now=now)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(thread_brands))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors[:3]
    assert sum(issued_at.values()) > 0  # the mix did redeem, in both brands below

    # Each order's points at its brand's rate, computed here from the amounts.
    earned_by = {
        brand_a: sum(amount // 100 for amount in amounts),
        brand_b: sum(amount // 100 * B_RATE_PCT // 100 for amount in amounts),
    }
    with unit_of_work(world.engine, write=False) as s:
        account_ids = s.scalars(
            select(LoyaltyMovement.account_id).where(LoyaltyMovement.kind == "earn").distinct()
        ).all()
        assert len(account_ids) == 1  # one account, whichever brand earned
        report = verify_account(s, account_id=account_ids[0])
        assert report["ok"], report
        earns = s.scalar(
            select(func.count())
            .select_from(LoyaltyMovement)
            .where(LoyaltyMovement.account_id == account_ids[0], LoyaltyMovement.kind == "earn")
        )
        issued = s.scalar(
            select(func.count())
            .select_from(LoyaltyRedemption)
            .where(LoyaltyRedemption.status == "issued")
        )
        allocation = cost_allocation(s, program_id=program)
    assert earns == 2 * ORDERS_PER_BRAND
    assert issued == sum(issued_at.values())
    assert report["balance"] == sum(earned_by.values()) - COST * issued
    for at in (brand_a, brand_b):
        assert issued_at[at] > 0
        redeemed_here = sum(points for (where, _), points in allocation.items() if where == at)
        assert redeemed_here == COST * issued_at[at]
    for payer in (brand_a, brand_b):
        paid = sum(points for (_, who), points in allocation.items() if who == payer)
        assert paid <= earned_by[payer]
