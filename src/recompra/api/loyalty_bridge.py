"""The one place the API and dashboard touch the loyalty package.

Loyalty is built in parallel (``recompra.loyalty``); until it is installed in the tree
these functions report "no loyalty program" (``None``) instead of failing.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from sqlalchemy.orm import Session


def loyalty_available() -> bool:
    """Whether the loyalty package is present."""
    return importlib.util.find_spec("recompra.loyalty") is not None


def customer_points(session: Session, *, brand_id: int, customer_id: int) -> dict[str, Any] | None:
    """The customer's points balance, or ``None`` when no loyalty program runs."""
    if not loyalty_available():
        return None
    return None
