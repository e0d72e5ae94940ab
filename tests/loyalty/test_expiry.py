"""Expiry per lot (bulk job and lazily on write), warnings before expiry, release job."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from recompra.db import unit_of_work
from recompra.errors import InsufficientBalance
from recompra.loyalty import (
    adjust,
    earn_for_order,
    expire_lots,
    get_account,
    release_due,
    run_jobs,
    warn_expiring,
)
from recompra.models import LoyaltyAllocation, LoyaltyEvent, LoyaltyLot, LoyaltyMovement

from .conftest import T0, World


def _two_lots(world: World) -> tuple[int, int, int]:
    """Lots of 30 (expiring T0+10) and 70 (expiring T0+15): (program, customer, account)."""
    _brand, program = world.program(expiry_days=10, expiry_warning_days=5)
    customer = world.customer()
    with unit_of_work(world.engine) as s:
        adjust(
            s,
            program_id=program,
            customer_id=customer,
            points=30,
            request_key="a",
            reason="t",
            now=T0,
        )
        adjust(
            s,
            program_id=program,
            customer_id=customer,
            points=70,
            request_key="b",
            reason="t",
            now=T0 + timedelta(5),
        )
        account = get_account(s, program_id=program, customer_id=customer)
    return program, customer, account.id


def test_expiry_job_expires_each_lot_past_its_date(world: World, state: Any) -> None:
    program, _customer, account = _two_lots(world)
    with unit_of_work(world.engine) as s:
        report = expire_lots(s, now=T0 + timedelta(11), program_id=program)
    assert (report.accounts, report.lots, report.points) == (1, 1, 30)
    assert state(account)["balance"] == 70
    with unit_of_work(world.engine, write=False) as s:
        lots = s.execute(
            select(LoyaltyLot.state, LoyaltyLot.remaining, LoyaltyLot.expired_points)
            .where(LoyaltyLot.account_id == account)
            .order_by(LoyaltyLot.id)
        ).all()
        assert [tuple(r) for r in lots] == [("expired", 0, 30), ("active", 70, 0)]
        move = s.scalars(
            select(LoyaltyMovement).where(LoyaltyMovement.batch_id == report.batch_id)
        ).one()
        assert (move.kind, move.points) == ("expire", -30)
        # The job writes no allocation row: the lot's expiry time links it to the movement.
        alloc = s.scalars(
            select(LoyaltyAllocation.points).where(LoyaltyAllocation.movement_id == move.id)
        ).all()
        assert alloc == []
        expired_at = s.scalars(
            select(LoyaltyLot.expired_at).where(
                LoyaltyLot.state == "expired", LoyaltyLot.account_id == account
            )
        ).one()
        assert expired_at == move.created_at == T0 + timedelta(11)
        event = s.scalars(select(LoyaltyEvent).where(LoyaltyEvent.movement_id == move.id)).one()
        assert (event.type, event.points, event.payload["balance"]) == ("points_expired", -30, 70)
    with unit_of_work(world.engine) as s:  # a second run finds nothing
        again = expire_lots(s, now=T0 + timedelta(11), program_id=program)
    assert (again.accounts, again.lots, again.points) == (0, 0, 0)


def test_expired_lot_is_never_spent_even_before_the_job_runs(world: World, state: Any) -> None:
    program, customer, account = _two_lots(world)
    # at T0+11 the 30-point lot is past its date: only 70 can be spent
    with pytest.raises(InsufficientBalance), unit_of_work(world.engine) as s:
        adjust(
            s,
            program_id=program,
            customer_id=customer,
            points=-71,
            request_key="x",
            reason="t",
            now=T0 + timedelta(11),
        )
    with unit_of_work(world.engine) as s:
        adjust(
            s,
            program_id=program,
            customer_id=customer,
            points=-70,
            request_key="y",
            reason="t",
            now=T0 + timedelta(11),
        )
    assert state(account)["balance"] == 0


def test_warning_once_before_lots_expire(world: World) -> None:
    program, _customer, account = _two_lots(world)
    with unit_of_work(world.engine) as s:
        assert warn_expiring(s, now=T0 + timedelta(4), program_id=program) == 0
        assert warn_expiring(s, now=T0 + timedelta(6), program_id=program) == 1
        assert warn_expiring(s, now=T0 + timedelta(7), program_id=program) == 0
    with unit_of_work(world.engine, write=False) as s:
        event = s.scalars(
            select(LoyaltyEvent).where(
                LoyaltyEvent.account_id == account, LoyaltyEvent.type == "points_expiring"
            )
        ).one()
    assert event.points == 30
    assert event.payload["days"] == 5


def test_release_job_and_daily_run(world: World, state: Any) -> None:
    brand, program = world.program(return_window_days=7, expiry_days=10)
    customer = world.customer()
    order = world.order(brand, customer, amount=2_500)
    with unit_of_work(world.engine) as s:
        earned = earn_for_order(s, program_id=program, order_id=order, now=T0)
    with unit_of_work(world.engine) as s:
        assert release_due(s, now=T0 + timedelta(6), program_id=program) == 0
    with unit_of_work(world.engine) as s:
        assert release_due(s, now=T0 + timedelta(7), program_id=program) == 1
    assert state(earned.account_id)["balance"] == 25
    # the lot expires 10 days after its release (T0+17)
    summary = run_jobs(world.engine, now=T0 + timedelta(18))
    assert summary["expired_points"] >= 25
    assert state(earned.account_id)["balance"] == 0
