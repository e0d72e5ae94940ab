"""Loyalty-specific domain errors (each carries its HTTP status through its base class)."""

from __future__ import annotations

from recompra.errors import Conflict, Forbidden, InvalidInput


class ProgramInactive(Conflict):
    """The program is archived: it no longer earns or redeems."""

    code = "program_inactive"


class RewardUnavailable(Conflict):
    """The reward is inactive, outside its validity window or out of stock."""

    code = "reward_unavailable"


class RedemptionLimitReached(Conflict):
    """The customer already redeemed this reward as many times as allowed."""

    code = "redemption_limit_reached"


class TierRequired(Forbidden):
    """The reward is restricted to a higher tier than the customer's."""

    code = "tier_required"


class IdempotencyKeyReused(Conflict):
    """An idempotency key was reused for a different request."""

    code = "idempotency_key_reused"


class InvalidRule(InvalidInput):
    """An earning rule definition is malformed or has unacceptable values."""

    code = "invalid_rule"


class RoleCannotRedeem(Conflict):
    """The buyer's role in the company account does not allow spending the pool (a
    business refusal, not a missing API scope: 409)."""

    code = "role_cannot_redeem"
