"""Rewards catalog, redemption (points spend + stock + coupon, atomically) and cancel."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from recompra.errors import Conflict, InsufficientBalance, InvalidInput, NotFound
from recompra.loyalty.errors import (
    IdempotencyKeyReused,
    ProgramInactive,
    RedemptionLimitReached,
    RewardUnavailable,
    TierRequired,
)
from recompra.loyalty.ledger import core
from recompra.loyalty.ledger.idempotency import _check_key
from recompra.loyalty.ledger.locks import lock_account, lock_reward
from recompra.loyalty.ledger.postings import new_lot, post, repay_debt, settle_account
from recompra.loyalty.ledger.results import RedemptionResult
from recompra.loyalty.programs import get_program
from recompra.loyalty.tiers.service import tier_for
from recompra.models.base import utcnow
from recompra.models.loyalty import (
    LoyaltyAccount,
    LoyaltyAllocation,
    LoyaltyLot,
    LoyaltyProgram,
    LoyaltyRedemption,
    LoyaltyReward,
)

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


def _reward_id(session: Session, *, program_id: int, reward_code: str) -> int:
    reward_id = session.scalar(
        select(LoyaltyReward.id).where(
            LoyaltyReward.program_id == program_id, LoyaltyReward.code == reward_code
        )
    )
    if reward_id is None:
        raise NotFound(f"reward {reward_code!r} not found", field="reward")
    return reward_id


def _result(redemption: LoyaltyRedemption, *, duplicate: bool = False) -> RedemptionResult:
    return RedemptionResult(
        duplicate=duplicate,
        account_id=redemption.account_id,
        redemption_id=redemption.id,
        reward_id=redemption.reward_id,
        points=redemption.points,
        coupon_code=redemption.coupon_code,
        status=redemption.status,
    )


_P = cast(Table, LoyaltyProgram.__table__)
_R = cast(Table, LoyaltyReward.__table__)
_RD = cast(Table, LoyaltyRedemption.__table__)
#: The reward by code with its program, the reward row locked (after the account lock).
LOCK_REWARD_BY_CODE = (
    select(_R, _P.c.status.label("program_status"))
    .join(_P, _P.c.id == _R.c.program_id)
    .where(_R.c.program_id == bindparam("program_id"), _R.c.code == bindparam("code"))
    .with_for_update(of=_R)
)
SET_MOVEMENT = (
    update(_RD).where(_RD.c.id == bindparam("redemption_id")).values(movement_id=bindparam("mid"))
)
TAKE_STOCK = update(_R).where(_R.c.id == bindparam("reward_id")).values(stock=_R.c.stock - 1)


def _insert_redemption_stmt(dialect: str) -> Any:
    module: Any = postgresql if dialect == "postgresql" else sqlite
    return (
        module.insert(_RD)
        .on_conflict_do_nothing(index_elements=["coupon_code"])
        .returning(_RD.c.id)
    )


INSERT_REDEMPTION = {name: _insert_redemption_stmt(name) for name in ("postgresql", "sqlite")}


def redeem(
    session: Session,
    *,
    program_id: int,
    customer_id: int,
    reward_code: str,
    request_key: str,
    now: datetime | None = None,
) -> RedemptionResult:
    """Spend points on a reward: checks, points spend, stock and coupon in one transaction.

    Lock order: the account, then the reward (ADR 0003). Core statements throughout; the
    ORM branches (due lots, tier check) load what they need afresh.
    """
    now = now or utcnow()
    conn = core.connection(session)
    account = core.lock_account_row(conn, program_id=program_id, customer_id=customer_id)
    reward = conn.execute(
        LOCK_REWARD_BY_CODE, {"program_id": program_id, "code": reward_code}
    ).first()
    if reward is None:
        get_program(session, program_id=program_id, active=True)
        raise NotFound(f"reward {reward_code!r} not found", field="reward")
    if reward.program_status != "active":
        raise ProgramInactive(f"loyalty program {program_id} is archived")
    if account is None:
        raise InsufficientBalance(f"customer {customer_id} has no points in this program")
    _check_key(request_key)
    stored = core.find_stored(conn, program_id=program_id, scope="redeem", key=request_key)
    if stored is not None:
        if stored.get("account_id") != account.id or stored.get("reward_id") != reward.id:
            raise IdempotencyKeyReused(f"request key {request_key!r} was used for another redeem")
        return RedemptionResult.from_json(stored)
    if core.has_due_lots(conn, account_id=account.id, now=now):
        program = get_program(session, program_id=program_id)
        orm_account = session.get(LoyaltyAccount, account.id, populate_existing=True)
        assert orm_account is not None
        settle_account(session, account=orm_account, program=program, now=now)
        session.flush()
        account = core.read_account_row(conn, account_id=account.id)
    _check_redeemable(session, reward=reward, account_id=account.id, now=now)
    if reward.min_tier_rank is not None:
        tier = tier_for(
            session,
            tier_id=account.tier_id,
            override_tier_id=account.override_tier_id,
            override_until=account.override_until,
            now=now,
        )
        if tier is None or tier.rank < reward.min_tier_rank:
            raise TierRequired(f"reward {reward.code!r} needs tier rank {reward.min_tier_rank}")
    if account.balance < reward.cost_points:
        raise InsufficientBalance(
            f"balance {account.balance} is less than the reward's {reward.cost_points} points"
        )
    insert_redemption = INSERT_REDEMPTION[
        "postgresql" if conn.dialect.name == "postgresql" else "sqlite"
    ]
    for _ in range(5):
        coupon = new_coupon_code()
        redemption_id = conn.execute(
            insert_redemption,
            {
                "account_id": account.id,
                "reward_id": reward.id,
                "points": reward.cost_points,
                "coupon_code": coupon,
                "status": "issued",
                "request_key": request_key,
                "movement_id": None,
                "cancel_movement_id": None,
                "created_at": now,
                "cancelled_at": None,
            },
        ).scalar()
        if redemption_id is not None:
            break  # else a coupon code collision (about 1 in 2**59): draw another
    else:
        raise Conflict("could not draw a unique coupon code")
    movement_id, _ = core.post_row(
        conn,
        account_id=account.id,
        program_id=program_id,
        kind="spend",
        now=now,
        points=-reward.cost_points,
        redemption_id=redemption_id,
        payload={"redemption_id": redemption_id, "reward": reward.code, "coupon_code": coupon},
    )
    core.take_from_lots_rows(
        conn, account_id=account.id, movement_id=movement_id, points=reward.cost_points, now=now
    )
    conn.execute(SET_MOVEMENT, {"redemption_id": redemption_id, "mid": movement_id})
    if reward.stock is not None:
        conn.execute(TAKE_STOCK, {"reward_id": reward.id})
    result = RedemptionResult(
        duplicate=False,
        account_id=account.id,
        redemption_id=redemption_id,
        reward_id=reward.id,
        points=reward.cost_points,
        coupon_code=coupon,
        status="issued",
    )
    if not core.store_key(
        conn,
        program_id=program_id,
        scope="redeem",
        key=request_key,
        result=result.to_json(),
        now=now,
    ):
        raise Conflict(f"request {request_key!r} is being processed concurrently; retry")
    return result


def _check_redeemable(session: Session, *, reward: Any, account_id: int, now: datetime) -> None:
    if not reward.active:
        raise RewardUnavailable(f"reward {reward.code!r} is not active")
    if reward.valid_from is not None and now < reward.valid_from:
        raise RewardUnavailable(f"reward {reward.code!r} is not valid yet")
    if reward.valid_until is not None and now >= reward.valid_until:
        raise RewardUnavailable(f"reward {reward.code!r} is no longer valid")
    if reward.stock is not None and reward.stock <= 0:
        raise RewardUnavailable(f"reward {reward.code!r} is out of stock")
    if reward.per_customer_limit is not None:
        used = session.scalar(
            select(func.count())
            .select_from(LoyaltyRedemption)
            .where(
                LoyaltyRedemption.account_id == account_id,
                LoyaltyRedemption.reward_id == reward.id,
                LoyaltyRedemption.status == "issued",
            )
        )
        if int(used or 0) >= reward.per_customer_limit:
            raise RedemptionLimitReached(
                f"reward {reward.code!r} is limited to {reward.per_customer_limit} per customer"
            )


def _insert_redemption(
    session: Session, *, account_id: int, reward: LoyaltyReward, request_key: str, now: datetime
) -> LoyaltyRedemption:
    for _ in range(5):
        redemption = LoyaltyRedemption(
            account_id=account_id,
            reward_id=reward.id,
            points=reward.cost_points,
            coupon_code=new_coupon_code(),
            status="issued",
            request_key=request_key,
            created_at=now,
        )
        try:
            with session.begin_nested():
                session.add(redemption)
                session.flush()
        except IntegrityError:
            continue  # a coupon code collision (about 1 in 2**59): draw another
        return redemption
    raise Conflict("could not draw a unique coupon code")


def cancel_redemption(
    session: Session, *, program_id: int, coupon_code: str, now: datetime | None = None
) -> RedemptionResult:
    """Cancel a redemption: points back (to their lots if still valid) and stock back."""
    now = now or utcnow()
    program = get_program(session, program_id=program_id)
    found = session.execute(
        select(LoyaltyRedemption.id, LoyaltyRedemption.account_id, LoyaltyRedemption.reward_id)
        .join(LoyaltyReward, LoyaltyReward.id == LoyaltyRedemption.reward_id)
        .where(LoyaltyRedemption.coupon_code == coupon_code, LoyaltyReward.program_id == program.id)
    ).first()
    if found is None:
        raise NotFound(f"coupon {coupon_code!r} not found", field="coupon_code")
    account = lock_account(session, account_id=found.account_id)
    reward = lock_reward(session, reward_id=found.reward_id)
    redemption = session.get(LoyaltyRedemption, found.id, populate_existing=True)
    assert redemption is not None
    if redemption.status == "cancelled":
        return _result(redemption, duplicate=True)
    settle_account(session, account=account, program=program, now=now)
    movement = post(
        session,
        account=account,
        kind="refund",
        now=now,
        points=redemption.points,
        redemption_id=redemption.id,
        payload={"redemption_id": redemption.id, "coupon_code": coupon_code},
    )
    allocations = session.execute(
        select(LoyaltyAllocation.points, LoyaltyLot)
        .join(LoyaltyLot, LoyaltyLot.id == LoyaltyAllocation.lot_id)
        .where(LoyaltyAllocation.movement_id == redemption.movement_id)
        .order_by(LoyaltyAllocation.id)
    ).all()
    lapsed = 0
    for points, lot in allocations:
        if lot.state == "active" and lot.expires_at is not None and lot.expires_at > now:
            lot.remaining += points
            session.add(LoyaltyAllocation(movement_id=movement.id, lot_id=lot.id, points=points))
        else:
            lapsed += points
    if lapsed:
        # The original lots expired meanwhile: the points come back with a short validity.
        new_lot(
            session,
            account=account,
            movement=movement,
            source="refund",
            points=lapsed,
            state="active",
            now=now,
            expires_at=now + timedelta(days=program.refund_validity_days),
        )
        session.flush()
    if reward.stock is not None:
        reward.stock += 1
    redemption.status = "cancelled"
    redemption.cancelled_at = now
    redemption.cancel_movement_id = movement.id
    repay_debt(session, account=account, now=now)
    return _result(redemption)
