"""Returns and cancellations: claw back an order's points pro-rata (ADR 0002)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from recompra.errors import InvalidInput, NotFound
from recompra.loyalty.ledger.idempotency import check_owner, find_stored, store_key
from recompra.loyalty.ledger.locks import lock_account
from recompra.loyalty.ledger.postings import post, take_from_lots
from recompra.loyalty.ledger.results import ReverseResult
from recompra.loyalty.ledger.settlement import settle_account
from recompra.loyalty.operations.context import locked_account
from recompra.loyalty.programs import get_program
from recompra.models.base import utcnow
from recompra.models.loyalty import LoyaltyAccount, LoyaltyAllocation, LoyaltyDebt, LoyaltyLot
from recompra.models.order import Order


def reverse_order(
    session: Session,
    *,
    program_id: int,
    order_id: int,
    return_key: str,
    returned_minor: int | None = None,
    now: datetime | None = None,
) -> ReverseResult:
    """Claw back an order's points pro-rata to the returned amount (``None`` = all).

    Cumulative returns reverse ``floor(points * returned / basis)`` in total, so a full
    return reverses every point. Order of recovery: the lot's remaining points, then its
    expired points (written off, never clawed twice), then the spendable balance
    (oldest lots first); what is still missing becomes a debt repaid by later credits.
    """
    now = now or utcnow()
    program = get_program(session, program_id=program_id)
    order = session.get(Order, order_id)
    if order is None:
        raise NotFound(f"order {order_id} not found", field="order_id")
    if returned_minor is not None and returned_minor < 0:
        raise InvalidInput("returned amount must be non-negative", field="returned_minor")
    # The order's points are clawed back where they were earned: a buyer who joined a
    # company account later still has their earlier orders' lots in their own account.
    earned_in = session.scalar(
        select(LoyaltyLot.account_id)
        .join(LoyaltyAccount, LoyaltyAccount.id == LoyaltyLot.account_id)
        .where(
            LoyaltyAccount.program_id == program.id,
            LoyaltyLot.order_id == order_id,
            LoyaltyLot.source == "order",
        )
    )
    if earned_in is not None:
        account = lock_account(session, account_id=earned_in)
    else:
        account = locked_account(session, program_id=program.id, customer_id=order.customer_id)
    stored = find_stored(session, program_id=program.id, scope="return", key=return_key)
    if stored is not None:
        check_owner(stored, account_id=account.id, key=return_key)
        return ReverseResult.from_json(stored)
    settle_account(session, account=account, program=program, now=now)
    lot = session.scalars(
        select(LoyaltyLot).where(
            LoyaltyLot.account_id == account.id,
            LoyaltyLot.order_id == order_id,
            LoyaltyLot.source == "order",
        )
    ).first()
    result = _nothing_reversed(account)
    if lot is not None:
        result = _claw_back(
            session, account=account, lot=lot, returned_minor=returned_minor, now=now
        )
    store_key(
        session,
        program_id=program.id,
        scope="return",
        key=return_key,
        result=result.to_json(),
        now=now,
        busy=f"return {return_key!r} is being processed concurrently; retry",
    )
    return result


def _nothing_reversed(account: LoyaltyAccount) -> ReverseResult:
    return ReverseResult(
        duplicate=False,
        account_id=account.id,
        points=0,
        from_pending=0,
        from_balance=0,
        forgiven=0,
        debt=0,
        movement_id=None,
    )


def _claw_back(
    session: Session,
    *,
    account: LoyaltyAccount,
    lot: LoyaltyLot,
    returned_minor: int | None,
    now: datetime,
) -> ReverseResult:
    """Record the cumulative return on the order's lot and reverse the points it adds."""
    basis = lot.basis_minor
    returned = basis if returned_minor is None else min(basis, lot.returned_minor + returned_minor)
    target = lot.points if basis == 0 else lot.points * returned // basis
    delta = max(0, target - lot.reversed_points)
    lot.returned_minor = returned
    lot.reversed_points += delta
    if delta == 0:
        return _nothing_reversed(account)
    if lot.state == "pending":
        return _reverse_pending(session, account=account, lot=lot, delta=delta, now=now)
    return _reverse_spendable(session, account=account, lot=lot, delta=delta, now=now)


def _reverse_pending(
    session: Session, *, account: LoyaltyAccount, lot: LoyaltyLot, delta: int, now: datetime
) -> ReverseResult:
    """Nothing was spendable yet: the points leave the pending lot."""
    posting = post(
        session,
        account=account,
        kind="reverse",
        now=now,
        pending_delta=-delta,
        order_id=lot.order_id,
        payload={"lot_id": lot.id, "returned_minor": lot.returned_minor},
    )
    session.add(LoyaltyAllocation(movement_id=posting.movement_id, lot_id=lot.id, points=delta))
    lot.remaining -= delta
    if lot.remaining == 0:
        lot.state = "reversed"
    return ReverseResult(
        duplicate=False,
        account_id=account.id,
        points=delta,
        from_pending=delta,
        from_balance=0,
        forgiven=0,
        debt=0,
        movement_id=posting.movement_id,
    )


def _reverse_spendable(
    session: Session, *, account: LoyaltyAccount, lot: LoyaltyLot, delta: int, now: datetime
) -> ReverseResult:
    """The lot's own points, then its expired ones (forgiven), other lots, then a debt."""
    from_lot = min(delta, lot.remaining) if lot.state == "active" else 0
    rest = delta - from_lot
    forgiven = min(rest, lot.expired_points - lot.forgiven_points)
    shortfall = rest - forgiven
    from_others = min(shortfall, account.balance - from_lot)
    debt = shortfall - from_others
    posting = post(
        session,
        account=account,
        kind="reverse",
        now=now,
        points=-(from_lot + from_others),
        debt_delta=debt,
        order_id=lot.order_id,
        payload={"lot_id": lot.id, "returned_minor": lot.returned_minor, "forgiven": forgiven},
    )
    if from_lot:
        lot.remaining -= from_lot
        session.add(
            LoyaltyAllocation(movement_id=posting.movement_id, lot_id=lot.id, points=from_lot)
        )
    lot.forgiven_points += forgiven
    if from_others:
        take_from_lots(
            session,
            account_id=account.id,
            movement_id=posting.movement_id,
            points=from_others,
            now=now,
            exclude_lot_id=lot.id,
        )
    if debt:
        session.add(
            LoyaltyDebt(
                account_id=account.id,
                order_id=lot.order_id,
                movement_id=posting.movement_id,
                points=debt,
                outstanding=debt,
                created_at=now,
            )
        )
    if lot.state == "active" and lot.reversed_points == lot.points and lot.remaining == 0:
        lot.state = "reversed"
    return ReverseResult(
        duplicate=False,
        account_id=account.id,
        points=delta,
        from_pending=0,
        from_balance=from_lot + from_others,
        forgiven=forgiven,
        debt=debt,
        movement_id=posting.movement_id,
    )
