"""Referrals: codes, held two-sided rewards released after the return window, fraud guards."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from recompra.db import unit_of_work
from recompra.errors import NotFound
from recompra.loyalty import get_account, verify_account
from recompra.loyalty.referrals.guards import mailbox
from recompra.loyalty.referrals.service import (
    ClaimResult,
    SettleReport,
    claim_referral,
    configure_referrals,
    referral_code,
    referral_stats,
    settle_referrals,
)
from recompra.models import Customer, Order, Return
from recompra.models.engagement import EngagementReferral

from .conftest import World

T = datetime(2025, 3, 1, 12, tzinfo=UTC)
WINDOW = 7


def _program(world: World, **terms: int) -> tuple[int, int]:
    brand, program = world.program(return_window_days=WINDOW)
    with unit_of_work(world.engine) as s:
        configure_referrals(s, program_id=program, referrer_points=100, friend_points=40, **terms)
    return brand, program


def _person(world: World, **contact: Any) -> int:
    customer = world.customer()
    with unit_of_work(world.engine) as s:
        row = s.get(Customer, customer)
        assert row is not None
        for name, value in contact.items():
            setattr(row, name, value)
    return customer


def _code(world: World, program: int, customer: int) -> str:
    with unit_of_work(world.engine) as s:
        return referral_code(s, program_id=program, customer_id=customer, now=T)


def _claim(world: World, program: int, code: str, friend: int, at: datetime = T) -> ClaimResult:
    with unit_of_work(world.engine) as s:
        return claim_referral(s, program_id=program, code=code, friend_id=friend, now=at)


def _settle(world: World, program: int, at: datetime) -> SettleReport:
    with unit_of_work(world.engine) as s:
        return settle_referrals(s, program_id=program, now=at)


def _points(world: World, program: int, customer: int) -> tuple[int, int]:
    """(balance, pending) of the customer, after checking the account reconciles."""
    with unit_of_work(world.engine, write=False) as s:
        account = get_account(s, program_id=program, customer_id=customer)
        assert verify_account(s, account_id=account.id)["ok"]
        return account.balance, account.pending


def test_code_is_stable_and_unknown_codes_are_404(world: World) -> None:
    _brand, program = _program(world)
    ana = world.customer()
    code = _code(world, program, ana)
    assert len(code) == 8
    assert _code(world, program, ana) == code
    with pytest.raises(NotFound):
        _claim(world, program, "NOPE2345", world.customer())


def test_rewards_are_held_then_released_after_the_return_window(world: World) -> None:
    brand, program = _program(world)
    ana, bia = world.customer(), world.customer()
    claim = _claim(world, program, _code(world, program, ana).lower(), bia)
    assert (claim.status, claim.reason) == ("claimed", None)
    assert _settle(world, program, T + timedelta(days=1)) == SettleReport(0, 0, 0)
    world.order(brand, bia, at=T + timedelta(days=2))
    assert _settle(world, program, T + timedelta(days=3)) == SettleReport(1, 0, 0)
    assert _points(world, program, ana) == (0, 100)
    assert _points(world, program, bia) == (0, 40)
    # The window ends 7 days after the purchase, not before.
    assert _settle(world, program, T + timedelta(days=2 + WINDOW) - timedelta(seconds=1)) == (
        SettleReport(0, 0, 0)
    )
    assert _settle(world, program, T + timedelta(days=2 + WINDOW)) == SettleReport(0, 1, 0)
    assert _points(world, program, ana) == (100, 0)
    assert _points(world, program, bia) == (40, 0)
    assert _settle(world, program, T + timedelta(days=30)) == SettleReport(0, 0, 0)
    with unit_of_work(world.engine, write=False) as s:
        stats = referral_stats(s, program_id=program)
    assert (stats.claims, stats.released, stats.conversion) == (1, 1, 1.0)


def test_a_returned_first_order_voids_both_rewards(world: World) -> None:
    brand, program = _program(world)
    ana, bia = world.customer(), world.customer()
    _claim(world, program, _code(world, program, ana), bia)
    order = world.order(brand, bia, at=T + timedelta(days=1))
    _settle(world, program, T + timedelta(days=2))
    with unit_of_work(world.engine) as s:
        s.add(
            Return(
                brand_id=brand,
                source="t",
                external_id="r1",
                order_id=order,
                kind="return",
                amount_minor=10_000,
                created_at=T + timedelta(days=3),
            )
        )
    assert _settle(world, program, T + timedelta(days=20)) == SettleReport(0, 0, 1)
    assert _points(world, program, ana) == (0, 0)
    assert _points(world, program, bia) == (0, 0)
    with unit_of_work(world.engine, write=False) as s:
        referral = s.scalars(
            select(EngagementReferral).where(EngagementReferral.friend_id == bia)
        ).one()
        stats = referral_stats(s, program_id=program)
    assert (referral.status, referral.reason) == ("void", "order_returned")
    assert (stats.void, stats.conversion) == (1, 0.0)


@pytest.mark.parametrize(
    ("referrer", "friend", "reason"),
    [
        ({"email": "Ana@Mail.com"}, {"email": " ana@mail.com"}, "same_email"),
        ({"email": "ana.b@gmail.com"}, {"email": "anab+x@gmail.com"}, "same_email"),
        ({"document": "123.456.789-09"}, {"document": "12345678909"}, "same_document"),
        ({"phone": "+55 11 99999-0000"}, {"phone": "5511999990000"}, "same_phone"),
        (
            {"zip_prefix": "01310", "city": "São Paulo", "state": "SP"},
            {"zip_prefix": "01310", "city": "são paulo", "state": "SP"},
            "same_address",
        ),
    ],
)
def test_shared_contact_details_are_rejected_with_reason(
    world: World, referrer: dict[str, str], friend: dict[str, str], reason: str
) -> None:
    _brand, program = _program(world)
    ana, bia = _person(world, **referrer), _person(world, **friend)
    claim = _claim(world, program, _code(world, program, ana), bia)
    assert (claim.status, claim.reason) == ("rejected", reason)
    with unit_of_work(world.engine, write=False) as s:
        stored = s.get(EngagementReferral, claim.referral_id)
        assert stored is not None
        assert (stored.status, stored.reason) == ("rejected", reason)


def test_different_mailboxes_are_not_the_same_person() -> None:
    assert mailbox("ana.b@mail.com") != mailbox("anab@mail.com")  # dots matter off Gmail
    assert mailbox("Ana+loja@Mail.com") == "ana@mail.com"
    assert mailbox("sem-arroba") == ""


def test_self_existing_repeat_limit_and_burst_guards(world: World) -> None:
    brand, program = _program(world, max_per_referrer=3, burst_limit=2, burst_window_hours=24)
    ana = world.customer()
    code = _code(world, program, ana)
    assert _claim(world, program, code, ana).reason == "self_referral"
    buyer = world.customer()
    world.order(brand, buyer, at=T - timedelta(days=30))
    assert _claim(world, program, code, buyer).reason == "existing_customer"
    # The two refusals above count towards the burst: a third claim that day is refused.
    first = world.customer()
    assert _claim(world, program, code, first).reason == "burst"
    later = T + timedelta(days=2)
    assert _claim(world, program, code, first, later).status == "claimed"
    assert _claim(world, program, code, first, later + timedelta(days=2)).reason == (
        "already_referred"
    )
    for day in (6, 8):
        friend = world.customer()
        assert _claim(world, program, code, friend, T + timedelta(days=day)).status == "claimed"
    # Three accepted claims: the referrer's limit.
    assert _claim(world, program, code, world.customer(), T + timedelta(days=10)).reason == (
        "referrer_limit"
    )
    with unit_of_work(world.engine, write=False) as s:
        stats = referral_stats(s, program_id=program)
    assert (stats.claims, stats.rejected, stats.waiting, stats.conversion) == (8, 5, 3, 0.0)


def _pay_with(world: World, order_id: int, fingerprint: str) -> None:
    with unit_of_work(world.engine) as s:
        s.get_one(Order, order_id).payment_fingerprint = fingerprint


def test_a_friend_paying_with_the_referrers_card_is_rejected_at_settlement(
    world: World,
) -> None:
    brand, program = _program(world)
    ana, bia, caio = world.customer(), world.customer(), world.customer()
    code = _code(world, program, ana)
    _pay_with(world, world.order(brand, ana, at=T - timedelta(days=40)), "pm_fp_ana_visa_01")
    assert _claim(world, program, code, bia).status == "claimed"
    assert _claim(world, program, code, caio).status == "claimed"
    _pay_with(world, world.order(brand, bia, at=T + timedelta(days=1)), "pm_fp_ana_visa_01")
    _pay_with(world, world.order(brand, caio, at=T + timedelta(days=1)), "pm_fp_caio_master")
    # Only Caio's referral is held; Bia's is refused with the reason stored.
    assert _settle(world, program, T + timedelta(days=2)) == SettleReport(1, 0, 0)
    with unit_of_work(world.engine, write=False) as s:
        decided = dict(
            s.execute(
                select(EngagementReferral.friend_id, EngagementReferral.reason).where(
                    EngagementReferral.program_id == program
                )
            ).all()
        )
    assert decided == {bia: "same_payment", caio: None}
    assert _points(world, program, ana) == (0, 100)  # Caio's referral only
    assert _points(world, program, bia) == (0, 0)
