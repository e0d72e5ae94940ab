"""The one place the API and dashboard read loyalty data.

Loyalty is built in parallel (``recompra.loyalty`` with its tables in
``recompra.models.loyalty``); when those are absent, or the brand runs no active
program, these functions answer ``None`` ("no loyalty program") instead of failing.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session


def loyalty_available() -> bool:
    """Whether the loyalty package and its tables' models are present."""
    return (
        importlib.util.find_spec("recompra.loyalty") is not None
        and importlib.util.find_spec("recompra.models.loyalty") is not None
    )


def customer_points(session: Session, *, brand_id: int, customer_id: int) -> dict[str, Any] | None:
    """The customer's balance in the brand's active program, or ``None``."""
    if not loyalty_available():
        return None
    from recompra.models.loyalty import LoyaltyAccount, LoyaltyProgram

    try:
        row = session.execute(
            select(LoyaltyProgram.id, LoyaltyProgram.name, LoyaltyAccount)
            .join(LoyaltyAccount, LoyaltyAccount.program_id == LoyaltyProgram.id)
            .where(
                LoyaltyProgram.brand_id == brand_id,
                LoyaltyProgram.status == "active",
                LoyaltyAccount.customer_id == customer_id,
            )
        ).first()
    except (OperationalError, ProgrammingError):
        # The loyalty migration has not been applied to this database.
        session.rollback()
        return None
    if row is None:
        return None
    program_id, program_name, account = row
    return {
        "program_id": program_id,
        "program": program_name,
        "balance": account.balance,
        "pending": account.pending,
        "debt": account.debt,
        "tier_id": account.override_tier_id or account.tier_id,
    }
