"""The hot path's statement budget, its prepared statements' events, the stock decrement
under concurrent redemptions, and the expiry job's batches."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select

from recompra.db import unit_of_work
from recompra.loyalty import (
    adjust,
    create_reward,
    earn_for_order,
    expire_in_batches,
    expire_lots,
    get_account,
    redeem,
)
from recompra.loyalty import expiry as expiry_module
from recompra.loyalty.errors import RewardUnavailable
from recompra.models import LoyaltyAllocation, LoyaltyLot, LoyaltyMovement, LoyaltyReward

from .conftest import T0, World

#: Statements per write, BEGIN included (SQLite sends it as a statement), COMMIT not.
#: Earn: head, lock, key and due lots, order lines, balances, movement, event, lot, key.
EARN_STATEMENTS = 10
#: Redeem: lock, reward, key and due lots, redemption, balances, movement, event, the
#: allocations, the lots, the redemption's movement, key.
REDEEM_STATEMENTS = 12


@contextmanager
def _statements(engine: Engine) -> Iterator[list[str]]:
    """The statements the engine's connections send meanwhile (seen by its listeners)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(engine, "after_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "after_cursor_execute", record)


def _without_begin(statements: list[str]) -> list[str]:
    return [s for s in statements if not s.startswith("BEGIN")]


def test_earn_and_redeem_stay_within_their_statement_budget(world: World) -> None:
    brand, program = world.program()
    customer = world.customer()
    first, second = world.order(brand, customer), world.order(brand, customer)
    with unit_of_work(world.engine) as s:
        earn_for_order(s, program_id=program, order_id=first, now=T0 + timedelta(1))
        create_reward(s, program_id=program, code="mug", name="Mug", cost_points=10)
    with _statements(world.engine) as earned, unit_of_work(world.engine) as s:
        earn_for_order(s, program_id=program, order_id=second, now=T0 + timedelta(1))
    with _statements(world.engine) as redeemed, unit_of_work(world.engine) as s:
        redeem(
            s,
            program_id=program,
            customer_id=customer,
            reward_code="mug",
            request_key="r1",
            now=T0 + timedelta(1),
        )
    # The prepared statements still reach the engine's listeners (automation wake-ups).
    assert any(s.startswith("INSERT INTO loyalty_lots") for s in earned)
    assert len(_without_begin(earned)) <= EARN_STATEMENTS - 1, earned
    assert len(_without_begin(redeemed)) <= REDEEM_STATEMENTS - 1, redeemed


def test_concurrent_redemptions_never_take_more_than_the_stock(world: World) -> None:
    _brand, program = world.program()
    buyers = [world.customer() for _ in range(6)]
    with unit_of_work(world.engine) as s:
        create_reward(s, program_id=program, code="seat", name="Seat", cost_points=10, stock=2)
        for buyer in buyers:
            adjust(
                s,
                program_id=program,
                customer_id=buyer,
                points=50,
                request_key=f"fund-{buyer}",
                reason="test",
                now=T0,
            )
    outcomes: list[str] = []
    barrier = threading.Barrier(len(buyers))

    def attempt(buyer: int) -> None:
        barrier.wait()
        try:
            with unit_of_work(world.engine) as s:
                redeem(
                    s,
                    program_id=program,
                    customer_id=buyer,
                    reward_code="seat",
                    request_key=f"seat-{buyer}",
                    now=T0 + timedelta(1),
                )
            outcomes.append("issued")
        except RewardUnavailable:
            outcomes.append("sold out")

    threads = [threading.Thread(target=attempt, args=(b,)) for b in buyers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["issued"] * 2 + ["sold out"] * 4
    with unit_of_work(world.engine, write=False) as s:
        stock = s.scalar(select(LoyaltyReward.stock).where(LoyaltyReward.program_id == program))
        spent = [get_account(s, program_id=program, customer_id=b).balance for b in buyers]
    assert stock == 0
    assert sorted(spent) == [40, 40, 50, 50, 50, 50]


def _accounts_with_lots(world: World, program: int, points: list[int]) -> list[int]:
    """One customer per entry, each with lots of 10 and ``entry`` points (due at T0+10)."""
    accounts = []
    for n, extra in enumerate(points):
        customer = world.customer()
        with unit_of_work(world.engine) as s:
            for key, amount in (("a", 10), ("b", extra)):
                adjust(
                    s,
                    program_id=program,
                    customer_id=customer,
                    points=amount,
                    request_key=f"{key}{n}",
                    reason="t",
                    now=T0,
                )
            accounts.append(get_account(s, program_id=program, customer_id=customer).id)
    return accounts


@pytest.mark.parametrize("committed_per_batch", [False, True])
def test_expiry_in_small_batches_expires_exactly_the_programs_due_lots(
    world: World, state: Any, monkeypatch: pytest.MonkeyPatch, committed_per_batch: bool
) -> None:
    _brand, program = world.program(expiry_days=10)
    _other_brand, other = world.program(expiry_days=10)
    points = [5, 7, 11, 13, 17]
    mine = _accounts_with_lots(world, program, points)
    theirs = _accounts_with_lots(world, other, [19])
    monkeypatch.setattr(expiry_module, "EXPIRY_BATCH_ACCOUNTS", 2)
    now = T0 + timedelta(11)
    if committed_per_batch:
        report = expire_in_batches(world.engine, now=now, program_id=program)
    else:
        with unit_of_work(world.engine) as s:
            report = expire_lots(s, now=now, program_id=program)
    assert (report.accounts, report.lots, report.points) == (5, 10, 5 * 10 + sum(points))
    for account in mine:
        assert state(account)["balance"] == 0
    assert state(theirs[0])["balance"] == 10 + 19
    with unit_of_work(world.engine, write=False) as s:
        movements = s.scalar(
            select(func.count())
            .select_from(LoyaltyMovement)
            .where(LoyaltyMovement.batch_id == report.batch_id)
        )
        # Each expired lot points to its account's movement by (account, expired_at).
        allocated = s.scalar(
            select(func.sum(LoyaltyLot.expired_points))
            .join(
                LoyaltyMovement,
                (LoyaltyMovement.account_id == LoyaltyLot.account_id)
                & (LoyaltyMovement.created_at == LoyaltyLot.expired_at),
            )
            .where(LoyaltyMovement.batch_id == report.batch_id)
        )
        expired = s.scalar(
            select(func.count())
            .select_from(LoyaltyLot)
            .where(LoyaltyLot.account_id.in_(mine), LoyaltyLot.state == "expired")
        )
    assert (movements, allocated, expired) == (5, 5 * 10 + sum(points), 10)
