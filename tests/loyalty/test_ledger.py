"""Ledger: earning, pending points, release, idempotency, adjustments (given/when/then)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from recompra.db import unit_of_work
from recompra.errors import Conflict, InsufficientBalance, InvalidInput
from recompra.loyalty import (
    adjust,
    create_program,
    earn_for_order,
    get_account,
    release_order,
)
from recompra.loyalty.ledger.settlement import settle_account
from recompra.loyalty.programs import get_program
from recompra.models import LoyaltyAllocation, LoyaltyEvent, LoyaltyLot, LoyaltyMovement

from .conftest import T0, World


def _earn(engine: Engine, program_id: int, order_id: int, now: Any = T0) -> Any:
    with unit_of_work(engine) as s:
        return earn_for_order(s, program_id=program_id, order_id=order_id, now=now)


def _account_id(engine: Engine, program_id: int, customer_id: int) -> int:
    with unit_of_work(engine, write=False) as s:
        return get_account(s, program_id=program_id, customer_id=customer_id).id


def test_order_earns_one_point_per_currency_unit_rounded_down(world: World, state: Any) -> None:
    # given a program earning 1 point per BRL 1.00 and spendable at once
    brand, program = world.program()
    customer = world.customer()
    order = world.order(brand, customer, amount=12_399)  # BRL 123.99
    # when the order is earned
    result = _earn(world.engine, program, order)
    # then it earns 123 points, spendable, and the ledger agrees with the account
    assert (result.points, result.state, result.duplicate) == (123, "active", False)
    report = state(result.account_id)
    assert (report["balance"], report["pending"], report["debt"]) == (123, 0, 0)


def test_same_order_posted_twice_earns_once(world: World, state: Any) -> None:
    brand, program = world.program()
    customer = world.customer()
    order = world.order(brand, customer, amount=5_000)
    first = _earn(world.engine, program, order)
    second = _earn(world.engine, program, order)
    assert second.duplicate is True
    assert (second.points, second.lot_id, second.movement_id) == (
        first.points,
        first.lot_id,
        first.movement_id,
    )
    assert state(first.account_id)["balance"] == 50
    with unit_of_work(world.engine, write=False) as s:
        lots = s.scalar(
            select(func.count()).select_from(LoyaltyLot).where(LoyaltyLot.order_id == order)
        )
    assert lots == 1


def test_points_are_pending_until_the_return_window_ends(world: World, state: Any) -> None:
    # given a 7-day return window
    brand, program = world.program(return_window_days=7)
    customer = world.customer()
    order = world.order(brand, customer, amount=20_000, at=T0)
    # when the order is earned on the day of purchase
    result = _earn(world.engine, program, order, now=T0)
    # then the points are pending, not spendable
    assert (result.points, result.state) == (200, "pending")
    assert (state(result.account_id)["balance"], state(result.account_id)["pending"]) == (0, 200)
    # when a write touches the account after the window
    with unit_of_work(world.engine) as s:
        account = get_account(s, program_id=program, customer_id=customer)
        settle_account(
            s, account=account, program=get_program(s, program_id=program), now=T0 + timedelta(7)
        )
    # then they are released and their expiry clock started when the window ended
    report = state(result.account_id)
    assert (report["balance"], report["pending"]) == (200, 0)
    with unit_of_work(world.engine, write=False) as s:
        lot = s.get(LoyaltyLot, result.lot_id)
        assert lot is not None
        assert lot.state == "active"
        assert lot.expires_at == T0 + timedelta(days=7 + 365)


def test_delivery_releases_pending_points(world: World, state: Any) -> None:
    brand, program = world.program(release_on="delivery")
    customer = world.customer()
    order = world.order(brand, customer, amount=3_000)
    result = _earn(world.engine, program, order)
    assert result.state == "pending"
    with unit_of_work(world.engine) as s:
        released = release_order(s, program_id=program, order_id=order, now=T0 + timedelta(2))
    assert released == 30
    assert state(result.account_id)["balance"] == 30
    with unit_of_work(world.engine) as s:  # delivered twice: nothing more
        assert release_order(s, program_id=program, order_id=order) == 0


def test_every_balance_change_writes_one_movement_and_one_event(world: World) -> None:
    brand, program = world.program(return_window_days=7)
    customer = world.customer()
    order = world.order(brand, customer, amount=1_000)
    result = _earn(world.engine, program, order)
    with unit_of_work(world.engine) as s:
        release_order(s, program_id=program, order_id=order)
    with unit_of_work(world.engine, write=False) as s:
        moves = s.scalars(
            select(LoyaltyMovement.kind)
            .where(LoyaltyMovement.account_id == result.account_id)
            .order_by(LoyaltyMovement.id)
        ).all()
        events = s.scalars(
            select(LoyaltyEvent.type)
            .where(LoyaltyEvent.account_id == result.account_id)
            .order_by(LoyaltyEvent.id)
        ).all()
    assert moves == ["earn", "release"]
    assert events == ["points_earned", "points_released"]


def test_order_of_another_brand_is_refused_and_changes_nothing(world: World) -> None:
    _brand, program = world.program()
    other_brand = world.brand()
    customer = world.customer()
    order = world.order(other_brand, customer)
    with pytest.raises(InvalidInput), unit_of_work(world.engine) as s:
        earn_for_order(s, program_id=program, order_id=order)
    with unit_of_work(world.engine, write=False) as s:
        assert (
            s.scalar(
                select(func.count()).select_from(LoyaltyLot).where(LoyaltyLot.order_id == order)
            )
            == 0
        )


def test_cancelled_order_earns_nothing(world: World) -> None:
    brand, program = world.program()
    customer = world.customer()
    order = world.order(brand, customer, status="canceled")
    with pytest.raises(Conflict), unit_of_work(world.engine) as s:
        earn_for_order(s, program_id=program, order_id=order)


def test_brands_share_customers_but_not_balances(world: World, state: Any) -> None:
    brand_a, program_a = world.program()
    brand_b, program_b = world.program()
    customer = world.customer()
    a = _earn(world.engine, program_a, world.order(brand_a, customer, amount=1_000))
    b = _earn(world.engine, program_b, world.order(brand_b, customer, amount=7_000))
    assert a.account_id != b.account_id
    assert (state(a.account_id)["balance"], state(b.account_id)["balance"]) == (10, 70)


def test_a_brand_runs_at_most_one_active_program(world: World) -> None:
    brand, _program = world.program()
    with pytest.raises(Conflict), unit_of_work(world.engine) as s:
        create_program(s, brand_id=brand, name="Second")


def test_adjustments_credit_a_lot_and_debit_oldest_first(world: World, state: Any) -> None:
    _brand, program = world.program()
    customer = world.customer()
    with unit_of_work(world.engine) as s:
        adjust(
            s,
            program_id=program,
            customer_id=customer,
            points=40,
            request_key="a1",
            reason="goodwill",
            now=T0,
        )
        adjust(
            s,
            program_id=program,
            customer_id=customer,
            points=60,
            request_key="a2",
            reason="goodwill",
            now=T0 + timedelta(1),
        )
    with unit_of_work(world.engine) as s:
        debit = adjust(
            s,
            program_id=program,
            customer_id=customer,
            points=-50,
            request_key="a3",
            reason="fix",
            now=T0 + timedelta(2),
        )
    account = _account_id(world.engine, program, customer)
    assert state(account)["balance"] == 50
    with unit_of_work(world.engine, write=False) as s:
        remaining = s.scalars(
            select(LoyaltyLot.remaining)
            .where(LoyaltyLot.account_id == account)
            .order_by(LoyaltyLot.id)
        ).all()
    assert remaining == [0, 50]  # the older lot went first
    assert debit.points == -50


def test_rejected_debit_changes_nothing(world: World, state: Any) -> None:
    _brand, program = world.program()
    customer = world.customer()
    with unit_of_work(world.engine) as s:
        adjust(
            s,
            program_id=program,
            customer_id=customer,
            points=10,
            request_key="c1",
            reason="x",
            now=T0,
        )
    account = _account_id(world.engine, program, customer)
    before = state(account)
    with unit_of_work(world.engine, write=False) as s:
        events_before = s.scalar(
            select(func.count()).select_from(LoyaltyEvent).where(LoyaltyEvent.account_id == account)
        )
    with pytest.raises(InsufficientBalance), unit_of_work(world.engine) as s:
        adjust(
            s,
            program_id=program,
            customer_id=customer,
            points=-11,
            request_key="c2",
            reason="x",
            now=T0,
        )
    assert state(account) == before
    with unit_of_work(world.engine, write=False) as s:
        assert (
            s.scalar(
                select(func.count())
                .select_from(LoyaltyEvent)
                .where(LoyaltyEvent.account_id == account)
            )
            == events_before
        )


def _credit(engine: Engine, program: int, customer: int, points: int, key: str, now: Any) -> None:
    with unit_of_work(engine) as s:
        adjust(
            s, program_id=program, customer_id=customer, points=points, request_key=key,
            reason="x", now=now,
        )  # fmt: skip


def test_debits_take_lots_by_expiry_then_age_and_only_what_they_need(
    world: World, state: Any
) -> None:
    """Lots credited at three times (three of them at once: the same expiry, taken by
    age), then two debits that each span several lots: every lot's ``remaining`` and
    every allocation equal a first-to-expire, then oldest, greedy take computed here."""
    _brand, program = world.program()
    customer = world.customer()
    credits = [(7, 0), (5, 0), (9, 0), (4, 1), (6, 2)]  # (points, days after T0)
    for n, (points, day) in enumerate(credits):
        _credit(world.engine, program, customer, points, f"c{n}", T0 + timedelta(days=day))
    account = _account_id(world.engine, program, customer)
    with unit_of_work(world.engine, write=False) as s:
        lots = s.execute(
            select(LoyaltyLot.id, LoyaltyLot.expires_at, LoyaltyLot.remaining).where(
                LoyaltyLot.account_id == account
            )
        ).all()
    expected = {lot.id: lot.remaining for lot in lots}
    spend_order = [lot.id for lot in sorted(lots, key=lambda lot: (lot.expires_at, lot.id))]
    for n, debit in enumerate([20, 6]):
        with unit_of_work(world.engine) as s:
            movement = adjust(
                s, program_id=program, customer_id=customer, points=-debit,
                request_key=f"d{n}", reason="x", now=T0 + timedelta(days=3),
            ).movement_id  # fmt: skip
        taken: list[tuple[int, int]] = []
        left = debit
        for lot_id in spend_order:
            if left and expected[lot_id]:
                used = min(left, expected[lot_id])
                expected[lot_id] -= used
                left -= used
                taken.append((lot_id, used))
        with unit_of_work(world.engine, write=False) as s:
            allocations = s.execute(
                select(LoyaltyAllocation.lot_id, LoyaltyAllocation.points)
                .where(LoyaltyAllocation.movement_id == movement)
                .order_by(LoyaltyAllocation.id)
            ).all()
            remaining = dict(
                s.execute(
                    select(LoyaltyLot.id, LoyaltyLot.remaining).where(
                        LoyaltyLot.account_id == account
                    )
                ).all()
            )
        assert [tuple(row) for row in allocations] == taken
        assert remaining == expected
    assert sorted(expected.values()) == [0, 0, 0, 0, 5]  # 31 credited, 26 debited
    assert state(account)["balance"] == 5
