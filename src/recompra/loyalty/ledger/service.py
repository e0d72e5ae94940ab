"""Ledger services: earn, bonus, release, reverse (returns), adjust, verify.

Every write: load program and account, lock the account, replay a stored result if the
idempotency key was seen, claim the key, settle due releases/expiries, then post.
Services flush, never commit: the unit of work owns the transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.orm import Session

from recompra.errors import Conflict, InsufficientBalance, InvalidInput, NotFound
from recompra.loyalty.errors import IdempotencyKeyReused, ProgramInactive
from recompra.loyalty.ledger import core
from recompra.loyalty.ledger.idempotency import _check_key, claim_key, find_result
from recompra.loyalty.ledger.locks import lock_account, lock_customer_account
from recompra.loyalty.ledger.postings import (
    new_lot,
    post,
    release_lot,
    repay_debt,
    settle_account,
    take_from_lots,
)
from recompra.loyalty.ledger.results import AdjustResult, EarnResult, ReverseResult
from recompra.loyalty.programs import ensure_account, get_program
from recompra.loyalty.rules.calculation import EarnContext
from recompra.loyalty.rules.engine import (
    NON_EARNING_STATUSES,
    calculate,
    previous_orders_count,
    snapshot_from,
)
from recompra.loyalty.rules.versions import (
    cached_rules_in_force,
    fingerprint_of,
    rules_fingerprint,
    rules_in_force,
)
from recompra.loyalty.tiers.service import apply_upgrade, effective_tier, tier_for
from recompra.models.base import utcnow
from recompra.models.customer import Customer
from recompra.models.loyalty import (
    LoyaltyAccount,
    LoyaltyAllocation,
    LoyaltyDebt,
    LoyaltyLot,
    LoyaltyMovement,
    LoyaltyProgram,
    LoyaltyTier,
)
from recompra.models.order import Order


def _locked_account(
    session: Session, *, program: LoyaltyProgram, customer_id: int
) -> LoyaltyAccount:
    account = lock_customer_account(session, program_id=program.id, customer_id=customer_id)
    if account is not None:
        return account
    account = ensure_account(session, program_id=program.id, customer_id=customer_id)
    return lock_account(session, account_id=account.id)


def _check_owner(stored: dict[str, object], account: LoyaltyAccount, key: str) -> None:
    if stored.get("account_id") != account.id:
        raise IdempotencyKeyReused(f"idempotency key {key!r} was used for another account")


def earn_context(
    session: Session,
    *,
    account: LoyaltyAccount,
    trigger: str,
    at: datetime,
    now: datetime,
    review_length: int = 0,
) -> EarnContext:
    """The context the rules see for this account (tier, birthday, period earnings)."""
    return _earn_context(
        session,
        account_id=account.id,
        tier=effective_tier(session, account=account, now=now),
        customer_id=account.customer_id if trigger == "birthday" else None,
        trigger=trigger,
        at=at,
        review_length=review_length,
    )


def _earn_context(
    session: Session,
    *,
    account_id: int,
    tier: LoyaltyTier | None,
    customer_id: int | None,
    trigger: str,
    at: datetime,
    review_length: int = 0,
) -> EarnContext:
    customer = session.get(Customer, customer_id) if customer_id is not None else None

    def earned_between(start: datetime, end: datetime) -> int:
        total = session.scalar(
            select(
                func.coalesce(func.sum(LoyaltyLot.points - LoyaltyLot.reversed_points), 0)
            ).where(
                LoyaltyLot.account_id == account_id,
                LoyaltyLot.source == "order",
                LoyaltyLot.earned_at >= start,
                LoyaltyLot.earned_at < end,
            )
        )
        return int(total or 0)

    return EarnContext(
        trigger=trigger,
        at=at,
        tier_code=tier.code if tier else None,
        tier_multiplier_pct=tier.earn_multiplier_pct if tier else 100,
        birth_date=customer.birth_date if customer else None,
        review_length=review_length,
        earned_between=earned_between,
    )


_P = cast(Table, LoyaltyProgram.__table__)
_O = cast(Table, Order.__table__)
#: Program, order, the customer's earlier orders, the rules fingerprint and whether the
#: program has tiers: one round trip before the account lock.
EARN_HEAD = (
    select(
        _P.c.status.label("program_status"),
        _P.c.brand_id.label("program_brand_id"),
        _P.c.release_on,
        _P.c.return_window_days,
        _P.c.expiry_days,
        _O.c.id.label("order_id"),
        _O.c.brand_id,
        _O.c.customer_id,
        _O.c.status,
        _O.c.purchased_at,
        _O.c.delivered_at,
        _O.c.items_total_minor,
        _O.c.discount_total_minor,
        previous_orders_count(_O.c).label("previous_orders"),
        *rules_fingerprint(_P.c.id),
        select(func.count(LoyaltyTier.id))
        .where(LoyaltyTier.program_id == _P.c.id)
        .scalar_subquery()
        .label("tiers"),
    )
    .select_from(_P.outerjoin(_O, _O.c.id == bindparam("order_id")))
    .where(_P.c.id == bindparam("program_id"))
)


def _orm_account(session: Session, account_id: int) -> LoyaltyAccount:
    """The locked account as a fresh ORM object (for the ORM branches of the hot path)."""
    account = session.get(LoyaltyAccount, account_id, populate_existing=True)
    assert account is not None
    return account


def earn_for_order(
    session: Session, *, program_id: int, order_id: int, now: datetime | None = None
) -> EarnResult:
    """Earn an order's points once (idempotent by order id), pending until released."""
    now = now or utcnow()
    conn = core.connection(session)
    head = conn.execute(EARN_HEAD, {"program_id": program_id, "order_id": order_id}).first()
    if head is None:
        raise NotFound(f"loyalty program {program_id} not found", field="program_id")
    if head.program_status != "active":
        raise ProgramInactive(f"loyalty program {program_id} is archived")
    if head.order_id is None:
        raise NotFound(f"order {order_id} not found", field="order_id")
    if head.brand_id != head.program_brand_id:
        raise InvalidInput("the order belongs to another brand", field="order_id")
    row = core.lock_account_row(conn, program_id=program_id, customer_id=head.customer_id)
    if row is None:
        ensure_account(session, program_id=program_id, customer_id=head.customer_id)
        row = core.lock_account_row(conn, program_id=program_id, customer_id=head.customer_id)
        assert row is not None
    key = str(order_id)
    _check_key(key)
    stored = core.find_stored(conn, program_id=program_id, scope="earn", key=key)
    if stored is not None:
        return EarnResult.from_json(stored)
    if head.status in NON_EARNING_STATUSES:
        raise Conflict(f"order {order_id} is {head.status}: it earns no points", field="order_id")
    if core.has_due_lots(conn, account_id=row.id, now=now):
        program = get_program(session, program_id=program_id)
        settle_account(session, account=_orm_account(session, row.id), program=program, now=now)
        session.flush()
        row = core.read_account_row(conn, account_id=row.id)
    version = cached_rules_in_force(
        session,
        program_id=program_id,
        at=head.purchased_at,
        fingerprint=fingerprint_of(head),
    )
    tier = tier_for(
        session,
        tier_id=row.tier_id,
        override_tier_id=row.override_tier_id,
        override_until=row.override_until,
        now=now,
    )
    ctx = _earn_context(
        session,
        account_id=row.id,
        tier=tier,
        customer_id=None,
        trigger="order",
        at=head.purchased_at,
    )
    order = snapshot_from(
        session,
        order_id=order_id,
        customer_id=head.customer_id,
        purchased_at=head.purchased_at,
        items_total_minor=head.items_total_minor,
        discount_total_minor=head.discount_total_minor,
        previous_orders=int(head.previous_orders or 0),
    )
    rule_version = version.version if version else None
    calc = calculate(
        version.rules if version else [], order=order, ctx=ctx, rule_version=rule_version
    )
    points = calc.total
    result = EarnResult(
        duplicate=False,
        account_id=row.id,
        points=0,
        state="none",
        lot_id=None,
        movement_id=None,
        rule_version=rule_version,
    )
    if points > 0:
        if head.release_on == "delivery":
            release_at = None
            pending = head.delivered_at is None
        else:
            release_at = head.purchased_at + timedelta(days=head.return_window_days)
            pending = release_at > now
        start = release_at if release_at is not None and release_at <= now else now
        state = "pending" if pending else "active"
        movement_id, balances = core.post_row(
            conn,
            account_id=row.id,
            program_id=program_id,
            kind="earn",
            now=now,
            points=0 if pending else points,
            pending_delta=points if pending else 0,
            order_id=order_id,
            rule_version_id=version.id if version else None,
            payload={"state": state},
        )
        lot_id = core.insert_lot(
            conn,
            {
                "account_id": row.id,
                "movement_id": movement_id,
                "source": "order",
                "order_id": order_id,
                "state": state,
                "points": points,
                "remaining": points,
                "reversed_points": 0,
                "expired_points": 0,
                "forgiven_points": 0,
                "basis_minor": sum(line.eligible_minor for line in calc.lines),
                "returned_minor": 0,
                "earned_at": head.purchased_at,
                "release_at": release_at,
                "released_at": None if pending else now,
                "expires_at": None if pending else start + timedelta(days=head.expiry_days),
                "warned_at": None,
            },
        )
        needs_repay = not pending and balances.debt > 0 and balances.balance > 0
        if needs_repay or head.tiers:
            account = _orm_account(session, row.id)
            if needs_repay:
                repay_debt(session, account=account, now=now)
            if head.tiers:
                program = get_program(session, program_id=program_id)
                apply_upgrade(session, account=account, program=program, now=now)
            session.flush()
        result = EarnResult(
            duplicate=False,
            account_id=row.id,
            points=points,
            state=state,
            lot_id=lot_id,
            movement_id=movement_id,
            rule_version=rule_version,
        )
    if not core.store_key(
        conn, program_id=program_id, scope="earn", key=key, result=result.to_json(), now=now
    ):
        raise Conflict(f"order {order_id} is being earned concurrently; retry", field="order_id")
    return result


def award_bonus(
    session: Session,
    *,
    program_id: int,
    customer_id: int,
    trigger: str,
    key: str,
    at: datetime | None = None,
    review_length: int = 0,
) -> EarnResult:
    """Award a ``review`` or ``birthday`` bonus once per key (spendable at once)."""
    if trigger not in ("review", "birthday"):
        raise InvalidInput("trigger must be 'review' or 'birthday'", field="trigger")
    now = at or utcnow()
    program = get_program(session, program_id=program_id, active=True)
    account = _locked_account(session, program=program, customer_id=customer_id)
    stored = find_result(session, program_id=program.id, scope=trigger, key=key)
    if stored is not None:
        _check_owner(stored, account, key)
        return EarnResult.from_json(stored)
    claimed = claim_key(session, program_id=program.id, scope=trigger, key=key)
    if claimed is None:
        raise Conflict(f"{trigger} bonus {key!r} is being awarded concurrently; retry")
    settle_account(session, account=account, program=program, now=now)
    version, rules = rules_in_force(session, program_id=program.id, at=now)
    ctx = earn_context(
        session, account=account, trigger=trigger, at=now, now=now, review_length=review_length
    )
    calc = calculate(rules, order=None, ctx=ctx, rule_version=version.version if version else None)
    result = EarnResult(
        duplicate=False,
        account_id=account.id,
        points=0,
        state="none",
        lot_id=None,
        movement_id=None,
        rule_version=version.version if version else None,
    )
    if calc.total > 0:
        movement = post(
            session,
            account=account,
            kind="earn",
            now=now,
            points=calc.total,
            rule_version_id=version.id if version else None,
            note=f"{trigger} bonus",
            payload={"state": "active", "trigger": trigger, "key": key},
        )
        lot = new_lot(
            session,
            account=account,
            movement=movement,
            source=trigger,
            points=calc.total,
            state="active",
            now=now,
            expires_at=now + timedelta(days=program.expiry_days),
        )
        session.flush()
        repay_debt(session, account=account, now=now)
        result = EarnResult(
            duplicate=False,
            account_id=account.id,
            points=calc.total,
            state="active",
            lot_id=lot.id,
            movement_id=movement.id,
            rule_version=result.rule_version,
        )
    claimed.result = result.to_json()
    return result


def release_order(
    session: Session, *, program_id: int, order_id: int, now: datetime | None = None
) -> int:
    """Release an order's pending points now (on delivery); returns the points released."""
    now = now or utcnow()
    program = get_program(session, program_id=program_id)
    account_id = session.scalar(
        select(LoyaltyLot.account_id)
        .join(LoyaltyAccount, LoyaltyAccount.id == LoyaltyLot.account_id)
        .where(LoyaltyLot.order_id == order_id, LoyaltyAccount.program_id == program.id)
        .limit(1)
    )
    if account_id is None:
        return 0
    account = lock_account(session, account_id=account_id)
    lots = session.scalars(
        select(LoyaltyLot)
        .where(
            LoyaltyLot.account_id == account.id,
            LoyaltyLot.order_id == order_id,
            LoyaltyLot.state == "pending",
        )
        .order_by(LoyaltyLot.id)
    ).all()
    return sum(
        release_lot(session, account=account, program=program, lot=lot, now=now, reason="delivered")
        for lot in lots
    )


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
    account = _locked_account(session, program=program, customer_id=order.customer_id)
    stored = find_result(session, program_id=program.id, scope="return", key=return_key)
    if stored is not None:
        _check_owner(stored, account, return_key)
        return ReverseResult.from_json(stored)
    claimed = claim_key(session, program_id=program.id, scope="return", key=return_key)
    if claimed is None:
        raise Conflict(f"return {return_key!r} is being processed concurrently; retry")
    settle_account(session, account=account, program=program, now=now)
    lot = session.scalars(
        select(LoyaltyLot).where(
            LoyaltyLot.account_id == account.id,
            LoyaltyLot.order_id == order_id,
            LoyaltyLot.source == "order",
        )
    ).first()
    result = ReverseResult(
        duplicate=False,
        account_id=account.id,
        points=0,
        from_pending=0,
        from_balance=0,
        forgiven=0,
        debt=0,
        movement_id=None,
    )
    if lot is not None:
        result = _claw_back(
            session, account=account, lot=lot, returned_minor=returned_minor, now=now
        )
    claimed.result = result.to_json()
    return result


def _claw_back(
    session: Session,
    *,
    account: LoyaltyAccount,
    lot: LoyaltyLot,
    returned_minor: int | None,
    now: datetime,
) -> ReverseResult:
    basis = lot.basis_minor
    returned = basis if returned_minor is None else min(basis, lot.returned_minor + returned_minor)
    target = lot.points if basis == 0 else lot.points * returned // basis
    delta = max(0, target - lot.reversed_points)
    lot.returned_minor = returned
    lot.reversed_points += delta
    empty = ReverseResult(
        duplicate=False,
        account_id=account.id,
        points=0,
        from_pending=0,
        from_balance=0,
        forgiven=0,
        debt=0,
        movement_id=None,
    )
    if delta == 0:
        return empty
    if lot.state == "pending":
        movement = post(
            session,
            account=account,
            kind="reverse",
            now=now,
            pending_delta=-delta,
            order_id=lot.order_id,
            payload={"lot_id": lot.id, "returned_minor": returned},
        )
        session.add(LoyaltyAllocation(movement_id=movement.id, lot_id=lot.id, points=delta))
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
            movement_id=movement.id,
        )
    from_lot = min(delta, lot.remaining) if lot.state == "active" else 0
    rest = delta - from_lot
    forgiven = min(rest, lot.expired_points - lot.forgiven_points)
    shortfall = rest - forgiven
    from_others = min(shortfall, account.balance - from_lot)
    debt = shortfall - from_others
    movement = post(
        session,
        account=account,
        kind="reverse",
        now=now,
        points=-(from_lot + from_others),
        debt_delta=debt,
        order_id=lot.order_id,
        payload={"lot_id": lot.id, "returned_minor": returned, "forgiven": forgiven},
    )
    if from_lot:
        lot.remaining -= from_lot
        session.add(LoyaltyAllocation(movement_id=movement.id, lot_id=lot.id, points=from_lot))
    lot.forgiven_points += forgiven
    if from_others:
        take_from_lots(
            session,
            account=account,
            movement=movement,
            points=from_others,
            now=now,
            exclude_lot_id=lot.id,
        )
    if debt:
        session.add(
            LoyaltyDebt(
                account_id=account.id,
                order_id=lot.order_id,
                movement_id=movement.id,
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
        movement_id=movement.id,
    )


def adjust(
    session: Session,
    *,
    program_id: int,
    customer_id: int,
    points: int,
    request_key: str,
    reason: str,
    now: datetime | None = None,
) -> AdjustResult:
    """A manual correction: a credit is a new lot, a debit consumes lots oldest-first."""
    now = now or utcnow()
    if points == 0:
        raise InvalidInput("an adjustment needs non-zero points", field="points")
    program = get_program(session, program_id=program_id)
    account = _locked_account(session, program=program, customer_id=customer_id)
    stored = find_result(session, program_id=program.id, scope="adjust", key=request_key)
    if stored is not None:
        _check_owner(stored, account, request_key)
        return AdjustResult.from_json(stored)
    settle_account(session, account=account, program=program, now=now)
    if points < 0 and account.balance < -points:
        raise InsufficientBalance(f"balance {account.balance} is less than {-points}")
    claimed = claim_key(session, program_id=program.id, scope="adjust", key=request_key)
    if claimed is None:
        raise Conflict(f"adjustment {request_key!r} is being processed concurrently; retry")
    movement = post(
        session, account=account, kind="adjust", now=now, points=points, note=reason[:300]
    )
    if points > 0:
        new_lot(
            session,
            account=account,
            movement=movement,
            source="adjust",
            points=points,
            state="active",
            now=now,
            expires_at=now + timedelta(days=program.expiry_days),
        )
        session.flush()
        repay_debt(session, account=account, now=now)
    else:
        take_from_lots(session, account=account, movement=movement, points=-points, now=now)
    result = AdjustResult(
        duplicate=False, account_id=account.id, points=points, movement_id=movement.id
    )
    claimed.result = result.to_json()
    return result


def verify_account(session: Session, *, account_id: int) -> dict[str, int | bool]:
    """Compare the cached balances with the lots, debts and movement sums."""
    account = session.get(LoyaltyAccount, account_id)
    if account is None:
        raise NotFound(f"loyalty account {account_id} not found", field="account_id")

    def lots_sum(state: str) -> int:
        return int(
            session.scalar(
                select(func.coalesce(func.sum(LoyaltyLot.remaining), 0)).where(
                    LoyaltyLot.account_id == account_id, LoyaltyLot.state == state
                )
            )
            or 0
        )

    moves = session.execute(
        select(
            func.coalesce(func.sum(LoyaltyMovement.points), 0),
            func.coalesce(func.sum(LoyaltyMovement.pending_delta), 0),
            func.coalesce(func.sum(LoyaltyMovement.debt_delta), 0),
        ).where(LoyaltyMovement.account_id == account_id)
    ).one()
    debts = int(
        session.scalar(
            select(func.coalesce(func.sum(LoyaltyDebt.outstanding), 0)).where(
                LoyaltyDebt.account_id == account_id
            )
        )
        or 0
    )
    report: dict[str, int | bool] = {
        "balance": account.balance,
        "pending": account.pending,
        "debt": account.debt,
        "active_lots": lots_sum("active"),
        "pending_lots": lots_sum("pending"),
        "open_debts": debts,
        "ledger_points": int(moves[0]),
        "ledger_pending": int(moves[1]),
        "ledger_debt": int(moves[2]),
    }
    report["ok"] = (
        account.balance == report["active_lots"] == report["ledger_points"]
        and account.pending == report["pending_lots"] == report["ledger_pending"]
        and account.debt == report["open_debts"] == report["ledger_debt"]
        and account.balance >= 0
        and (account.debt == 0 or account.balance == 0)
    )
    return report
