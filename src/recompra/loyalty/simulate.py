"""``simulate``: what an order would earn, and why, line by line (writes nothing)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from recompra.errors import InvalidInput, NotFound
from recompra.loyalty.operations.context import earn_context
from recompra.loyalty.programs import find_account, get_program
from recompra.loyalty.rules.calculation import Calculation, EarnContext, OrderSnapshot
from recompra.loyalty.rules.engine import calculate, order_snapshot
from recompra.loyalty.rules.versions import rules_in_force
from recompra.models.base import utcnow
from recompra.models.order import Order


@dataclass(frozen=True)
class Simulation:
    """The calculation of a hypothetical (or real, not yet earned) order."""

    points: int
    rule_version: int | None
    explanation: list[str]
    calculation: Calculation


def simulate(
    session: Session,
    *,
    program_id: int,
    order_id: int | None = None,
    order: OrderSnapshot | None = None,
    now: datetime | None = None,
) -> Simulation:
    """Explain what ``order`` (or the stored order ``order_id``) earns under the rules."""
    now = now or utcnow()
    program = get_program(session, program_id=program_id)
    if order is None:
        if order_id is None:
            raise InvalidInput("give an order or an order_id", field="order_id")
        stored = session.get(Order, order_id)
        if stored is None:
            raise NotFound(f"order {order_id} not found", field="order_id")
        order = order_snapshot(session, order=stored)
    version, rules = rules_in_force(session, program_id=program.id, at=order.purchased_at)
    account = find_account(session, program_id=program.id, customer_id=order.customer_id)
    if account is not None:
        ctx = earn_context(
            session, account=account, trigger="order", at=order.purchased_at, now=now
        )
    else:
        ctx = EarnContext(trigger="order", at=order.purchased_at)
    calc = calculate(rules, order=order, ctx=ctx, rule_version=version.version if version else None)
    return Simulation(
        points=calc.total,
        rule_version=calc.rule_version,
        explanation=calc.explain(),
        calculation=calc,
    )
