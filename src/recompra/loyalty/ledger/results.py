"""Results of ledger writes. Each is stored with its idempotency key and replayed."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Self


@dataclass(frozen=True)
class _Result:
    duplicate: bool

    def to_json(self) -> dict[str, Any]:
        """The stored form (without ``duplicate``). Every field is a scalar, so a shallow
        copy is the whole of it (``asdict``'s deep copy cost more than the write's SQL)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "duplicate"}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        """Rebuild a replayed result (``duplicate=True``)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names}, duplicate=True)

    def replayed(self) -> Self:
        """The same result marked as a replay."""
        return replace(self, duplicate=True)


@dataclass(frozen=True)
class EarnResult(_Result):
    """Points earned for an order or a bonus."""

    account_id: int
    points: int
    state: str  # "pending", "active" or "none" (nothing earned)
    lot_id: int | None
    movement_id: int | None
    rule_version: int | None

    @classmethod
    def nothing(cls, *, account_id: int, rule_version: int | None) -> Self:
        """The result when the rules in force award no points (state ``none``)."""
        return cls(
            duplicate=False,
            account_id=account_id,
            points=0,
            state="none",
            lot_id=None,
            movement_id=None,
            rule_version=rule_version,
        )


@dataclass(frozen=True)
class ReverseResult(_Result):
    """A clawback for a return or cancellation."""

    account_id: int
    points: int
    from_pending: int
    from_balance: int
    forgiven: int
    debt: int
    movement_id: int | None


@dataclass(frozen=True)
class AdjustResult(_Result):
    """A manual adjustment."""

    account_id: int
    points: int
    movement_id: int


@dataclass(frozen=True)
class RedemptionResult(_Result):
    """A redeemed (or cancelled) reward."""

    account_id: int
    redemption_id: int
    reward_id: int
    points: int
    coupon_code: str
    status: str
