"""Returns and cancellations: pro-rata clawback, debt, repayment by later earnings."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from recompra.db import unit_of_work
from recompra.loyalty import create_reward, earn_for_order, redeem, reverse_order
from recompra.models import LoyaltyDebt

from .conftest import T0, World


def _earn(world: World, program: int, order: int, now: Any = T0) -> Any:
    with unit_of_work(world.engine) as s:
        return earn_for_order(s, program_id=program, order_id=order, now=now)


def _reverse(world: World, program: int, order: int, key: str, amount: int | None) -> Any:
    with unit_of_work(world.engine) as s:
        return reverse_order(
            s, program_id=program, order_id=order, return_key=key, returned_minor=amount, now=T0
        )


def test_partial_returns_claw_back_pro_rata_and_a_full_return_everything(
    world: World, state: Any
) -> None:
    # given an order of BRL 100.00 that earned 100 spendable points
    brand, program = world.program()
    customer = world.customer()
    order = world.order(brand, customer, amount=10_000)
    earned = _earn(world, program, order)
    # when a third of it is returned
    first = _reverse(world, program, order, "r1", 3_333)
    # then floor(100 * 3333 / 10000) = 33 points are reversed
    assert (first.points, first.from_balance, first.debt) == (33, 33, 0)
    assert state(earned.account_id)["balance"] == 67
    # when the same return is posted again: nothing more
    assert _reverse(world, program, order, "r1", 3_333).duplicate is True
    # when the rest is returned, the total reversed is exactly 100
    rest = _reverse(world, program, order, "r2", 6_667)
    assert rest.points == 67
    assert state(earned.account_id)["balance"] == 0


def test_cancelling_a_pending_order_removes_its_pending_points(world: World, state: Any) -> None:
    brand, program = world.program(return_window_days=30)
    customer = world.customer()
    order = world.order(brand, customer, amount=4_000)
    earned = _earn(world, program, order)
    result = _reverse(world, program, order, "cancel-1", None)
    assert (result.points, result.from_pending) == (40, 40)
    report = state(earned.account_id)
    assert (report["balance"], report["pending"], report["debt"]) == (0, 0, 0)


def test_spent_points_become_debt_repaid_first_by_future_earnings(world: World, state: Any) -> None:
    # given 100 points earned and 90 of them spent on a reward
    brand, program = world.program()
    customer = world.customer()
    order = world.order(brand, customer, amount=10_000)
    earned = _earn(world, program, order)
    with unit_of_work(world.engine) as s:
        create_reward(s, program_id=program, code="mug", name="Mug", cost_points=90)
    with unit_of_work(world.engine) as s:
        redeem(
            s, program_id=program, customer_id=customer, reward_code="mug", request_key="k1", now=T0
        )
    # when the whole order is returned
    result = _reverse(world, program, order, "ret-1", None)
    # then 10 come from the balance and the 90 already spent become debt
    assert (result.points, result.from_balance, result.debt) == (100, 10, 90)
    report = state(earned.account_id)
    assert (report["balance"], report["debt"]) == (0, 90)
    # when the customer earns 50 on a new order, all of it repays the debt
    _earn(
        world,
        program,
        world.order(brand, customer, amount=5_000, at=T0 + timedelta(1)),
        now=T0 + timedelta(1),
    )
    report = state(earned.account_id)
    assert (report["balance"], report["debt"]) == (0, 40)
    # and 70 more: 40 repay the rest, 30 are spendable
    _earn(
        world,
        program,
        world.order(brand, customer, amount=7_000, at=T0 + timedelta(2)),
        now=T0 + timedelta(2),
    )
    report = state(earned.account_id)
    assert (report["balance"], report["debt"]) == (30, 0)
    with unit_of_work(world.engine, write=False) as s:
        debt = s.scalars(select(LoyaltyDebt).where(LoyaltyDebt.order_id == order)).one()
        assert (debt.points, debt.outstanding, debt.settled_at is not None) == (90, 0, True)


def test_return_takes_from_other_lots_before_creating_debt(world: World, state: Any) -> None:
    brand, program = world.program()
    customer = world.customer()
    first = world.order(brand, customer, amount=10_000)
    earned = _earn(world, program, first)
    _earn(
        world,
        program,
        world.order(brand, customer, amount=8_000, at=T0 + timedelta(1)),
        now=T0 + timedelta(1),
    )
    with unit_of_work(world.engine) as s:
        create_reward(s, program_id=program, code="kit", name="Kit", cost_points=120)
    with unit_of_work(world.engine) as s:
        redeem(
            s,
            program_id=program,
            customer_id=customer,
            reward_code="kit",
            request_key="k2",
            now=T0 + timedelta(2),
        )
    # the first lot (100) was used up, the second has 60 left; returning order 1 claws 100
    result = _reverse(world, program, first, "ret-2", None)
    assert (result.from_balance, result.debt) == (60, 40)
    assert (state(earned.account_id)["balance"], state(earned.account_id)["debt"]) == (0, 40)


def test_return_of_an_order_that_never_earned_reverses_nothing(world: World) -> None:
    brand, program = world.program()
    customer = world.customer()
    order = world.order(brand, customer)
    result = _reverse(world, program, order, "ret-3", 100)
    assert (result.points, result.debt) == (0, 0)
