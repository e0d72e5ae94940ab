"""Coalition programs: one program across several brands of the installation.

The program's own brand hosts it; other brands join with their own earn rate (a percent
of the program's rules). A member brand has no program of its own: its orders earn into
the coalition program and its customers redeem from the same balance.

Who pays for a redemption: the brand where the spent points were earned, pro rata to
the lots the spend consumed. ``loyalty_allocations`` already records which lots each
spend took its points from, so the split is exact and needs no table of its own. A lot
from an order was earned at the order's brand; any other lot (a bonus, an adjustment) at
the program's host brand.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recompra.errors import Conflict, InvalidInput, NotFound
from recompra.loyalty.programs import active_program_for_brand, get_program
from recompra.loyalty.valuation import points_value_minor
from recompra.models.base import utcnow
from recompra.models.brand import Brand
from recompra.models.loyalty import (
    LoyaltyAccount,
    LoyaltyAllocation,
    LoyaltyCoalitionMember,
    LoyaltyLot,
    LoyaltyMovement,
    LoyaltyProgram,
    LoyaltyRedemption,
)
from recompra.models.order import Order


def join_coalition(
    session: Session, *, program_id: int, brand_id: int, earn_rate_pct: int = 100
) -> LoyaltyCoalitionMember:
    """Make ``brand_id`` a member of the program (it must run no program of its own)."""
    program = get_program(session, program_id=program_id, active=True)
    if session.get(Brand, brand_id) is None:
        raise NotFound(f"brand {brand_id} not found", field="brand_id")
    if earn_rate_pct <= 0:
        raise InvalidInput("earn_rate_pct must be positive", field="earn_rate_pct")
    if brand_id == program.brand_id:
        raise Conflict("the host brand is already in its own program", field="brand_id")
    existing = active_program_for_brand(session, brand_id=brand_id)
    if existing is not None:
        raise Conflict(
            f"brand {brand_id} already runs (or joined) program {existing.id}", field="brand_id"
        )
    member = LoyaltyCoalitionMember(
        program_id=program.id, brand_id=brand_id, earn_rate_pct=earn_rate_pct, joined_at=utcnow()
    )
    session.add(member)
    session.flush()
    return member


def coalition_brands(session: Session, *, program_id: int) -> dict[int, int]:
    """Every brand of the program and its earn rate in percent (the host earns 100%)."""
    program = get_program(session, program_id=program_id)
    rates = {
        key: value
        for key, value in session.execute(
            select(LoyaltyCoalitionMember.brand_id, LoyaltyCoalitionMember.earn_rate_pct).where(
                LoyaltyCoalitionMember.program_id == program_id
            )
        )
    }
    return {program.brand_id: 100, **rates}


@dataclass(frozen=True)
class BrandReport:
    """One brand's side of a coalition: what it issued, what was redeemed there, what it
    pays for, and the balance it settles with the other brands."""

    brand_id: int
    earn_rate_pct: int
    points_earned: int
    points_redeemed_here: int
    points_paid_for: int
    cost_minor: int
    #: Positive: the brand owes the coalition (its points were spent elsewhere).
    net_settlement_minor: int


def cost_allocation(session: Session, *, program_id: int) -> dict[tuple[int, int], int]:
    """Points of issued redemptions by (brand redeemed at, brand that pays)."""
    program = get_program(session, program_id=program_id)
    redeemed_at = func.coalesce(LoyaltyRedemption.brand_id, program.brand_id)
    earned_at = func.coalesce(Order.brand_id, program.brand_id)
    rows = session.execute(
        select(redeemed_at, earned_at, func.sum(LoyaltyAllocation.points))
        .select_from(LoyaltyRedemption)
        .join(LoyaltyMovement, LoyaltyMovement.id == LoyaltyRedemption.movement_id)
        .join(LoyaltyAllocation, LoyaltyAllocation.movement_id == LoyaltyMovement.id)
        .join(LoyaltyLot, LoyaltyLot.id == LoyaltyAllocation.lot_id)
        .join(LoyaltyAccount, LoyaltyAccount.id == LoyaltyRedemption.account_id)
        .outerjoin(Order, Order.id == LoyaltyLot.order_id)
        .where(LoyaltyAccount.program_id == program_id, LoyaltyRedemption.status == "issued")
        .group_by(redeemed_at, earned_at)
    ).all()
    return {(int(at), int(payer)): int(points) for at, payer, points in rows}


def brand_reports(
    session: Session, *, program_id: int, point_value_minor_per_1000: int
) -> list[BrandReport]:
    """Per-brand figures of the program (a single-brand program has one line)."""
    program = get_program(session, program_id=program_id)
    rates = coalition_brands(session, program_id=program_id)
    earned = _points_earned_by_brand(session, program=program)
    redeemed_here: dict[int, int] = defaultdict(int)
    paid_for: dict[int, int] = defaultdict(int)
    for (at, payer), points in cost_allocation(session, program_id=program_id).items():
        redeemed_here[at] += points
        paid_for[payer] += points
    reports = []
    for brand_id, rate in sorted(rates.items()):
        cost = points_value_minor(paid_for[brand_id], point_value_minor_per_1000)
        honoured = points_value_minor(redeemed_here[brand_id], point_value_minor_per_1000)
        reports.append(
            BrandReport(
                brand_id=brand_id,
                earn_rate_pct=rate,
                points_earned=earned.get(brand_id, 0),
                points_redeemed_here=redeemed_here[brand_id],
                points_paid_for=paid_for[brand_id],
                cost_minor=cost,
                net_settlement_minor=cost - honoured,
            )
        )
    return reports


def _points_earned_by_brand(session: Session, *, program: LoyaltyProgram) -> dict[int, int]:
    """Points issued (net of returns) per brand where they were earned."""
    earned_at = func.coalesce(Order.brand_id, program.brand_id)
    rows: Any = session.execute(
        select(earned_at, func.sum(LoyaltyLot.points - LoyaltyLot.reversed_points))
        .select_from(LoyaltyLot)
        .join(LoyaltyAccount, LoyaltyAccount.id == LoyaltyLot.account_id)
        .outerjoin(Order, Order.id == LoyaltyLot.order_id)
        .where(LoyaltyAccount.program_id == program.id)
        .group_by(earned_at)
    ).all()
    return {int(brand): int(points or 0) for brand, points in rows}
