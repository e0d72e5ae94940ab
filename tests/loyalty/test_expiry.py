"""Expiry per lot (bulk job in batches and lazily on write), the job run twice and a crash
mid-run, warnings before expiry, release job."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recompra.db import unit_of_work
from recompra.errors import InsufficientBalance
from recompra.loyalty import (
    adjust,
    earn_for_order,
    expire_in_batches,
    expire_lots,
    get_account,
    release_due,
    run_jobs,
    verify_account,
    warn_expiring,
)
from recompra.loyalty import expiry as expiry_module
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


@pytest.mark.parametrize("run", ["one_transaction", "per_batch", "two_workers"])
def test_expiry_in_small_batches_expires_exactly_the_programs_due_lots(
    world: World, state: Any, monkeypatch: pytest.MonkeyPatch, run: str
) -> None:
    _brand, program = world.program(expiry_days=10)
    _other_brand, other = world.program(expiry_days=10)
    points = [5, 7, 11, 13, 17]
    mine = _accounts_with_lots(world, program, points)
    theirs = _accounts_with_lots(world, other, [19])
    monkeypatch.setattr(expiry_module, "EXPIRY_BATCH_ACCOUNTS", 2)
    now = T0 + timedelta(11)
    if run != "one_transaction":
        # Two workers: two account ranges (three accounts and two), expired at once.
        workers = 2 if run == "two_workers" else 1
        report = expire_in_batches(world.engine, now=now, program_id=program, workers=workers)
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


def _ledger_rows(world: World, accounts: list[int]) -> tuple[int, int, int]:
    """Movements, events and allocations of these accounts (what a run may write)."""
    with unit_of_work(world.engine, write=False) as s:
        movements = s.scalar(
            select(func.count())
            .select_from(LoyaltyMovement)
            .where(LoyaltyMovement.account_id.in_(accounts))
        )
        events = s.scalar(
            select(func.count())
            .select_from(LoyaltyEvent)
            .where(LoyaltyEvent.account_id.in_(accounts))
        )
        allocations = s.scalar(
            select(func.count())
            .select_from(LoyaltyAllocation)
            .join(LoyaltyMovement, LoyaltyMovement.id == LoyaltyAllocation.movement_id)
            .where(LoyaltyMovement.account_id.in_(accounts))
        )
    return int(movements or 0), int(events or 0), int(allocations or 0)


def test_expiry_run_twice_writes_nothing_the_second_time(world: World, state: Any) -> None:
    _brand, program = world.program(expiry_days=10)
    mine = _accounts_with_lots(world, program, [3, 4, 6])
    now = T0 + timedelta(11)
    first = expire_in_batches(world.engine, now=now, program_id=program)
    written = _ledger_rows(world, mine)
    second = expire_in_batches(world.engine, now=now, program_id=program)
    assert (first.accounts, first.lots, first.points) == (3, 6, 30 + 13)
    assert (second.accounts, second.lots, second.points) == (0, 0, 0)
    assert _ledger_rows(world, mine) == written
    for account in mine:
        assert state(account)["balance"] == 0


class _Crash(Exception):
    """Stands for the process dying between a batch's statements and its commit."""


def test_crash_mid_expiry_leaves_whole_batches_and_a_rerun_finishes(
    world: World, state: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _brand, program = world.program(expiry_days=10)
    mine = _accounts_with_lots(world, program, [1, 2, 3, 4, 5])
    monkeypatch.setattr(expiry_module, "EXPIRY_BATCH_ACCOUNTS", 2)
    real_batch = expiry_module._expire_batch
    batches = 0

    def crash_in_second_batch(session: Session, **kwargs: Any) -> Any:
        # The second batch runs all its statements, then dies before its commit.
        nonlocal batches
        batches += 1
        done = real_batch(session, **kwargs)
        if batches == 2:
            raise _Crash
        return done

    monkeypatch.setattr(expiry_module, "_expire_batch", crash_in_second_batch)
    now = T0 + timedelta(11)
    with pytest.raises(_Crash):
        expire_in_batches(world.engine, now=now, program_id=program)
    # The first batch (two accounts) is applied in full, the rest not at all.
    balances = [state(account)["balance"] for account in mine]
    assert balances == [0, 0, 10 + 3, 10 + 4, 10 + 5]
    with unit_of_work(world.engine, write=False) as s:
        open_lots = s.scalar(
            select(func.count())
            .select_from(LoyaltyLot)
            .where(LoyaltyLot.account_id.in_(mine[2:]), LoyaltyLot.state == "active")
        )
        expire_moves = s.scalar(
            select(func.count())
            .select_from(LoyaltyMovement)
            .where(LoyaltyMovement.account_id.in_(mine), LoyaltyMovement.kind == "expire")
        )
    assert (open_lots, expire_moves) == (6, 2)
    monkeypatch.setattr(expiry_module, "_expire_batch", real_batch)
    rerun = expire_in_batches(world.engine, now=now, program_id=program)
    assert (rerun.accounts, rerun.lots, rerun.points) == (3, 6, 30 + 12)
    assert [state(account)["balance"] for account in mine] == [0] * 5


def test_two_expiry_workers_beside_an_online_writer_expire_each_lot_once(
    world: World, state: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job's two connections and a writer crediting the same accounts (in the opposite
    order) at the same time: no deadlock, every due lot expired once, by one of them."""
    _brand, program = world.program(expiry_days=10)
    customers = [world.customer() for _ in range(6)]
    with unit_of_work(world.engine) as s:
        for n, customer in enumerate(customers):
            adjust(
                s,
                program_id=program,
                customer_id=customer,
                points=10 + n,
                request_key=f"old{n}",
                reason="t",
                now=T0,
            )
        accounts = [get_account(s, program_id=program, customer_id=c).id for c in customers]
    monkeypatch.setattr(expiry_module, "EXPIRY_BATCH_ACCOUNTS", 1)
    now = T0 + timedelta(11)
    errors: list[BaseException] = []

    def credit_in_reverse() -> None:
        # A write settles the account's due lots first: it races the job for them.
        try:
            for n, customer in reversed(list(enumerate(customers))):
                with unit_of_work(world.engine) as s:
                    adjust(
                        s,
                        program_id=program,
                        customer_id=customer,
                        points=5,
                        request_key=f"new{n}",
                        reason="t",
                        now=now,
                    )
        except BaseException as error:  # reported below, on the test's thread
            errors.append(error)

    writer = threading.Thread(target=credit_in_reverse)
    writer.start()
    expire_in_batches(world.engine, now=now, program_id=program, workers=2)
    writer.join()
    assert not errors, errors
    with unit_of_work(world.engine, write=False) as s:
        for account in accounts:
            assert verify_account(s, account_id=account)["ok"]
        expired = s.scalars(
            select(func.sum(LoyaltyMovement.points))
            .where(LoyaltyMovement.account_id.in_(accounts), LoyaltyMovement.kind == "expire")
            .group_by(LoyaltyMovement.account_id)
            .order_by(LoyaltyMovement.account_id)
        ).all()
    assert expired == [-(10 + n) for n in range(6)]
    assert [state(account)["balance"] for account in accounts] == [5] * 6
