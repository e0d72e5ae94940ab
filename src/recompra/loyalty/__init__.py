"""Loyalty engine: programs, points ledger, earning rules, tiers, rewards, expiry jobs.

The public service API (keyword-only arguments; services flush, the unit of work
commits)::

    with unit_of_work(engine) as session:
        program = create_program(session, brand_id=1, name="Clube")
        publish_rules(session, program_id=program.id, rules=[{"type": "base",
                      "points_per_unit": 1}], effective_from=start)
        earn_for_order(session, program_id=program.id, order_id=42)
"""

from recompra.loyalty.expiry import (
    ExpiryReport,
    expire_in_batches,
    expire_lots,
    release_due,
    run_jobs,
    warn_expiring,
)
from recompra.loyalty.ledger.results import (
    AdjustResult,
    EarnResult,
    RedemptionResult,
    ReverseResult,
)
from recompra.loyalty.ledger.verify import verify_account
from recompra.loyalty.one_call import earn_order, redeem_reward
from recompra.loyalty.operations.adjust import adjust
from recompra.loyalty.operations.bonus import award_bonus
from recompra.loyalty.operations.earn import earn_for_order
from recompra.loyalty.operations.release import release_order
from recompra.loyalty.operations.returns import reverse_order
from recompra.loyalty.programs import (
    archive_program,
    create_program,
    ensure_account,
    find_account,
    get_account,
    get_program,
)
from recompra.loyalty.rewards.catalog import create_reward
from recompra.loyalty.rewards.redemption import cancel_redemption, redeem
from recompra.loyalty.rules.calculation import OrderLine, OrderSnapshot
from recompra.loyalty.rules.versions import publish_rules, rules_in_force
from recompra.loyalty.simulate import Simulation, simulate
from recompra.loyalty.tiers.service import (
    define_tier,
    effective_tier,
    review_tiers,
    set_override,
)

__all__ = [
    "AdjustResult",
    "EarnResult",
    "ExpiryReport",
    "OrderLine",
    "OrderSnapshot",
    "RedemptionResult",
    "ReverseResult",
    "Simulation",
    "adjust",
    "archive_program",
    "award_bonus",
    "cancel_redemption",
    "create_program",
    "create_reward",
    "define_tier",
    "earn_for_order",
    "earn_order",
    "effective_tier",
    "ensure_account",
    "expire_in_batches",
    "expire_lots",
    "find_account",
    "get_account",
    "get_program",
    "publish_rules",
    "redeem",
    "redeem_reward",
    "release_due",
    "release_order",
    "reverse_order",
    "review_tiers",
    "rules_in_force",
    "run_jobs",
    "set_override",
    "simulate",
    "verify_account",
    "warn_expiring",
]
