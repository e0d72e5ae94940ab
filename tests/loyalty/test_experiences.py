"""Experiential rewards: badge, segment and tier restrictions, capacity, one seat each."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from recompra.db import unit_of_work
from recompra.errors import RecompraError
from recompra.loyalty import adjust, define_tier, get_account, verify_account
from recompra.loyalty.challenges.definitions import define_badge
from recompra.loyalty.experiences.service import (
    customer_experiences,
    define_experience,
    redeem_experience,
)
from recompra.models.engagement import EngagementBadgeAward
from recompra.models.segments import Segment, SegmentMember

from .conftest import World

NOW = datetime(2025, 5, 1, 12, tzinfo=UTC)


def _funded(world: World, program: int, points: int = 1_000) -> int:
    customer = world.customer()
    with unit_of_work(world.engine) as s:
        adjust(
            s, program_id=program, customer_id=customer, points=points, request_key=f"f{customer}",
            reason="test", now=NOW,
        )  # fmt: skip
    return customer


def _redeem(world: World, program: int, customer: int, code: str, attempt: int = 1) -> str:
    """``ok`` or the refusal's code and field (``experience_restricted:badge``)."""
    try:
        with unit_of_work(world.engine) as s:
            redeem_experience(
                s, program_id=program, customer_id=customer, code=code,
                request_key=f"{code}-{customer}-{attempt}", now=NOW,
            )  # fmt: skip
    except RecompraError as exc:
        return f"{exc.code}:{exc.field}" if exc.code == "experience_restricted" else exc.code
    return "ok"


def test_badge_restricted_event_seat_with_capacity(world: World) -> None:
    _brand, program = world.program()
    holder, other, late = (_funded(world, program) for _ in range(3))
    with unit_of_work(world.engine) as s:
        badge_id = define_badge(s, program_id=program, code="fiel", name="Fiel").id
        define_experience(
            s, program_id=program, code="show", name="Show de lançamento", kind="event_seat",
            cost_points=200, capacity=2, badge_code="fiel", happens_at=NOW,
        )  # fmt: skip
        for customer in (holder, late):
            s.add(
                EngagementBadgeAward(
                    badge_id=badge_id, customer_id=customer, period_key="once", awarded_at=NOW
                )
            )
    with unit_of_work(world.engine, write=False) as s:
        (view,) = customer_experiences(s, program_id=program, customer_id=other, now=NOW)
    assert (view.eligible, view.missing, view.seats_left) == (False, "badge", 2)
    assert _redeem(world, program, other, "show") == "experience_restricted:badge"
    assert _redeem(world, program, holder, "show") == "ok"
    # A retry with the same key replays; a second seat is refused (one per customer).
    assert _redeem(world, program, holder, "show") == "ok"
    assert _redeem(world, program, holder, "show", attempt=2) == "redemption_limit_reached"
    assert _redeem(world, program, late, "show") == "ok"
    # Two seats, two taken: the capacity is the reward's stock.
    third = _funded(world, program)
    with unit_of_work(world.engine) as s:
        s.add(
            EngagementBadgeAward(
                badge_id=badge_id, customer_id=third, period_key="once", awarded_at=NOW
            )
        )
    assert _redeem(world, program, third, "show") == "reward_unavailable"
    with unit_of_work(world.engine, write=False) as s:
        for customer, balance in ((holder, 800), (other, 1_000), (late, 800), (third, 1_000)):
            account = get_account(s, program_id=program, customer_id=customer)
            assert account.balance == balance
            assert verify_account(s, account_id=account.id)["ok"]


def test_segment_and_tier_restrictions(world: World) -> None:
    brand, program = world.program()
    member, outsider = _funded(world, program), _funded(world, program)
    with unit_of_work(world.engine) as s:
        segment = Segment(brand_id=brand, key="vip")
        s.add(segment)
        s.flush()
        s.add(SegmentMember(segment_id=segment.id, customer_id=member, version=1, entered_at=NOW))
        define_tier(
            s, program_id=program, code="ouro", name="Ouro", rank=1, metric="points",
            threshold=10**9,
        )  # fmt: skip
        define_experience(
            s, program_id=program, code="pre", name="Pré-venda", kind="early_access",
            cost_points=10, segment_key="vip",
        )  # fmt: skip
        define_experience(
            s, program_id=program, code="gala", name="Jantar", kind="event_seat",
            cost_points=10, min_tier_rank=1,
        )  # fmt: skip
    assert _redeem(world, program, outsider, "pre") == "experience_restricted:segment"
    assert _redeem(world, program, member, "pre") == "ok"
    assert _redeem(world, program, member, "gala") == "experience_restricted:tier"
    with pytest.raises(RecompraError), unit_of_work(world.engine) as s:
        define_experience(s, program_id=program, code="x", name="X", kind="discount", cost_points=1)
