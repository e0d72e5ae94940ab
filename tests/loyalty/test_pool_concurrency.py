"""Two buyers of one company account earn and redeem at once on the pooled balance.

Afterwards the pool's cached balance equals its ledger, every order earned once into the
pool, every redemption spent exactly its cost from the pool's lots, and each buyer's
visible contribution equals the orders that buyer placed.
"""

from __future__ import annotations

import random
import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from recompra.db import unit_of_work
from recompra.errors import InsufficientBalance
from recompra.loyalty import create_reward, earn_for_order, find_account, redeem, verify_account
from recompra.loyalty.pools import pool_summary
from recompra.models import LoyaltyAllocation, LoyaltyMovement, LoyaltyRedemption, Order
from recompra.models.base import utcnow

from .b2b_world import company
from .conftest import World

THREADS_PER_BUYER = 2
OPS = 120


@pytest.mark.slow
def test_two_buyers_earning_and_redeeming_at_once_on_one_pool(world: World) -> None:
    brand, program = world.program()
    company_id, buyers = company(world, brand, ["owner", "buyer"])
    at = utcnow() - timedelta(days=1)
    orders: dict[int, list[tuple[int, int]]] = {}
    with unit_of_work(world.engine) as s:
        create_reward(s, program_id=program, code="cafe", name="Café", cost_points=7)
        for buyer in buyers:
            rows = [
                Order(
                    brand_id=brand,
                    source="pool",
                    external_id=uuid.uuid4().hex,
                    customer_id=buyer,
                    status="approved",
                    purchased_at=at,
                    items_total_minor=1_000 + n % 5 * 100,
                    total_minor=1_000 + n % 5 * 100,
                )
                for n in range(OPS)
            ]
            s.add_all(rows)
            s.flush()
            orders[buyer] = [(o.id, o.items_total_minor) for o in rows]
    redeemed = [0] * (THREADS_PER_BUYER * len(buyers))
    errors: list[BaseException] = []
    start = threading.Barrier(len(redeemed))

    def worker(index: int) -> None:
        buyer = buyers[index % len(buyers)]
        # Both threads of a buyer post every one of the buyer's orders: each earns once.
        mine = list(orders[buyer])
        rng = random.Random(index)
        start.wait()
        try:
            for n in range(OPS):
                if rng.random() < 0.5 and mine:
                    with unit_of_work(world.engine) as s:
                        earn_for_order(s, program_id=program, order_id=mine.pop(0)[0])
                    continue
                try:
                    with unit_of_work(world.engine) as s:
                        redeem(
                            s,
                            program_id=program,
                            customer_id=buyer,
                            reward_code="cafe",
                            request_key=f"p{index}-{n}",
                        )
                    redeemed[index] += 1
                except InsufficientBalance:
                    pass
            for order_id, _ in mine:
                with unit_of_work(world.engine) as s:
                    earn_for_order(s, program_id=program, order_id=order_id)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(redeemed))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors[:3]

    with unit_of_work(world.engine, write=False) as s:
        pool = find_account(s, program_id=program, customer_id=buyers[1])
        assert pool is not None
        assert pool.company_account_id == company_id
        report = verify_account(s, account_id=pool.id)
        assert report["ok"], report
        issued = s.scalar(
            select(func.count())
            .select_from(LoyaltyRedemption)
            .where(LoyaltyRedemption.account_id == pool.id)
        )
        spent = s.scalar(
            select(func.coalesce(func.sum(LoyaltyAllocation.points), 0))
            .join(LoyaltyMovement, LoyaltyMovement.id == LoyaltyAllocation.movement_id)
            .where(LoyaltyMovement.account_id == pool.id, LoyaltyMovement.kind == "spend")
        )
        assert issued == sum(redeemed)
        assert spent == 7 * issued
        summary = pool_summary(s, program_id=program, company_account_id=company_id, now=utcnow())
    # 1 point per R$ 1.00: each buyer's contribution from their own order amounts.
    expected = {buyer: sum(amount // 100 for _, amount in orders[buyer]) for buyer in buyers}
    assert {c.customer_id: c.earned for c in summary.contributions} == expected
    assert summary.balance == sum(expected.values()) - 7 * issued
    assert sum(c.redeemed for c in summary.contributions) == 7 * issued
