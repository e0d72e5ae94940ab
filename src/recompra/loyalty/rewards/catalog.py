"""The rewards catalog and coupon codes."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy.orm import Session

from recompra.errors import InvalidInput
from recompra.loyalty.programs import get_program
from recompra.models.base import utcnow
from recompra.models.loyalty import LoyaltyReward

#: Coupon alphabet without look-alikes (0/O, 1/I/L): 31 symbols, 12 of them ~ 59 bits.
COUPON_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def new_coupon_code(groups: int = 3, size: int = 4) -> str:
    """A random coupon code such as ``K7QH-2MZD-9XWA`` (``secrets``, not ``random``)."""
    return "-".join(
        "".join(secrets.choice(COUPON_ALPHABET) for _ in range(size)) for _ in range(groups)
    )


def create_reward(
    session: Session,
    *,
    program_id: int,
    code: str,
    name: str,
    cost_points: int,
    stock: int | None = None,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    per_customer_limit: int | None = None,
    min_tier_rank: int | None = None,
) -> LoyaltyReward:
    """Add a reward to the catalog (``stock=None`` means unlimited)."""
    get_program(session, program_id=program_id)
    if cost_points <= 0:
        raise InvalidInput("cost must be positive", field="cost_points")
    if stock is not None and stock < 0:
        raise InvalidInput("stock must be non-negative", field="stock")
    reward = LoyaltyReward(
        program_id=program_id,
        code=code,
        name=name,
        cost_points=cost_points,
        stock=stock,
        valid_from=valid_from,
        valid_until=valid_until,
        per_customer_limit=per_customer_limit,
        min_tier_rank=min_tier_rank,
        active=True,
        created_at=utcnow(),
    )
    session.add(reward)
    session.flush()
    return reward
