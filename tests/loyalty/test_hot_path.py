"""The hot path's statement budget, its prepared statements' events and the stock
decrement under concurrent redemptions."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, event, select

from recompra.db import unit_of_work
from recompra.loyalty import (
    adjust,
    create_reward,
    earn_for_order,
    get_account,
    redeem,
)
from recompra.loyalty.errors import RewardUnavailable
from recompra.models import LoyaltyReward

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
