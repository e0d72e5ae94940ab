"""Redemption (points spend + stock + coupon, atomically) and its cancellation.

Lock order: the account, then the reward (ADR 0003). A redemption locks the reward row
only through its stock decrement (a conditional ``UPDATE``, late in the transaction):
rewards without stock are never locked, so redemptions of one popular reward by many
customers do not queue behind each other.
"""

from __future__ import annotations

from collections import namedtuple
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, func, select, update
from sqlalchemy.orm import Session

from recompra.db.dialect import insert_ignoring_conflicts, serialises_writes
from recompra.errors import Conflict, InsufficientBalance, NotFound
from recompra.loyalty.errors import (
    IdempotencyKeyReused,
    ProgramInactive,
    RedemptionLimitReached,
    RewardUnavailable,
    TierRequired,
)
from recompra.loyalty.ledger import server_side
from recompra.loyalty.ledger.idempotency import (
    STORED_RESULT,
    check_key,
    store_key,
    stored_and_due,
)
from recompra.loyalty.ledger.locks import (
    ACCOUNT_WIDTH,
    ACCOUNTS,
    AccountRow,
    lock_account,
    lock_account_row,
    lock_reward,
)
from recompra.loyalty.ledger.postings import (
    HAS_DUE_LOTS,
    event_details,
    has_due_lots,
    insert_lot,
    post,
    repay_debt,
    take_from_lots,
)
from recompra.loyalty.ledger.results import RedemptionResult
from recompra.loyalty.ledger.settlement import settle_account, settle_row
from recompra.loyalty.pools import check_may_redeem
from recompra.loyalty.prepared import Prepared, Record, run, written_columns
from recompra.loyalty.programs import get_program, holder_condition
from recompra.loyalty.rewards.catalog import new_coupon_code
from recompra.loyalty.tiers.service import effective_tier
from recompra.models.base import utcnow
from recompra.models.loyalty import (
    LoyaltyAllocation,
    LoyaltyLot,
    LoyaltyProgram,
    LoyaltyRedemption,
    LoyaltyReward,
)

#: Coupon draws before giving up (a collision is about 1 in 2**59).
COUPON_ATTEMPTS = 5

_P = cast(Table, LoyaltyProgram.__table__)
_R = cast(Table, LoyaltyReward.__table__)
_RD = cast(Table, LoyaltyRedemption.__table__)
_REWARD_BY_CODE = (
    select(_R, _P.c.status.label("program_status"))
    .join(_P, _P.c.id == _R.c.program_id)
    .where(_R.c.program_id == bindparam("program_id"), _R.c.code == bindparam("code"))
)
#: The reward by code with its program (not locked: see the module's docstring).
READ_REWARD_BY_CODE = Prepared(_REWARD_BY_CODE)
#: Under the account lock, in one round trip: the reward, the request key's stored result
#: and whether the account has lots to settle. No row when the reward does not exist.
REDEEM_HEAD = Prepared(
    _REWARD_BY_CODE.add_columns(
        STORED_RESULT.scalar_subquery().label("stored"), HAS_DUE_LOTS.label("due")
    )
)
#: :data:`ACCOUNT_AND_REDEEM_HEAD`'s row, cut in two: the account's columns
#: (``locks.AccountRow``), then :data:`REDEEM_HEAD`'s.
_REDEEM_HEAD_ROW = namedtuple(  # type: ignore[misc]
    "_REDEEM_HEAD_ROW", [*(c.key for c in _R.c), "program_status", "stored", "due"]
)
#: Where the database serialises writers (SQLite), the account and :data:`REDEEM_HEAD`
#: in one statement (the reward's columns renamed apart from the account's). No row when
#: the account or the reward is missing.
ACCOUNT_AND_REDEEM_HEAD = Prepared(
    select(
        *ACCOUNTS.c,
        *(c.label(f"reward_{c.key}") for c in _R.c),
        _P.c.status.label("program_status"),
        STORED_RESULT.scalar_subquery().label("stored"),
        has_due_lots(ACCOUNTS.c.id).label("due"),
    )
    .select_from(
        ACCOUNTS.join(
            _R, and_(_R.c.program_id == bindparam("program_id"), _R.c.code == bindparam("code"))
        ).join(_P, _P.c.id == _R.c.program_id)
    )
    .where(holder_condition())
)
SET_MOVEMENT = Prepared(
    update(_RD).where(_RD.c.id == bindparam("redemption_id")).values(movement_id=bindparam("mid"))
)
#: One unit of stock, if any is left: the decrement decides, under the row lock it takes.
TAKE_STOCK = Prepared(
    update(_R)
    .where(_R.c.id == bindparam("reward_id"), _R.c.stock > 0)
    .values(stock=_R.c.stock - 1)
    .returning(_R.c.stock)
)
INSERT_REDEMPTION = Prepared(
    lambda dialect: insert_ignoring_conflicts(
        dialect, _RD, index_elements=("coupon_code",), returning="id"
    ),
    columns=written_columns(_RD),
)


def redeem(
    session: Session,
    *,
    program_id: int,
    customer_id: int,
    reward_code: str,
    request_key: str,
    now: datetime | None = None,
    brand_id: int | None = None,
) -> RedemptionResult:
    """Spend points on a reward: checks, points spend, stock and coupon in one transaction.

    ``brand_id`` is the coalition member brand where the customer redeems (default: the
    program's own brand); the cost still falls on the brands the spent lots were earned in.
    """
    now = now or utcnow()
    check_key(request_key)
    if server_side.applies(session):
        done = redeem_in_one_call(
            session,
            program_id=program_id,
            customer_id=customer_id,
            reward_code=reward_code,
            request_key=request_key,
            now=now,
            brand_id=brand_id,
        )
        if done is not None:
            return done
    account, reward = _lock_and_read_head(
        session,
        {
            "program_id": program_id,
            "customer_id": customer_id,
            "code": reward_code,
            "scope": "redeem",
            "key": request_key,
            "now": now,
        },
    )
    stored, due = stored_and_due(reward)
    if stored is not None:
        return _replayed(stored, account_id=account.id, reward_id=reward.id, key=request_key)
    check_may_redeem(session, account=account, customer_id=customer_id)
    if due:
        account = settle_row(session, program_id=program_id, account=account, now=now)
    _check_redeemable(session, reward=reward, account=account, now=now)
    redemption_id, coupon = _insert_redemption(
        session,
        account_id=account.id,
        reward=reward,
        request_key=request_key,
        now=now,
        brand_id=brand_id,
    )
    posting = post(
        session,
        account=account,
        kind="spend",
        now=now,
        points=-reward.cost_points,
        redemption_id=redemption_id,
        payload={"redemption_id": redemption_id, "reward": reward.code, "coupon_code": coupon},
        customer_id=customer_id,
    )
    take_from_lots(
        session,
        account_id=account.id,
        movement_id=posting.movement_id,
        points=reward.cost_points,
        now=now,
    )
    run(session, SET_MOVEMENT, {"redemption_id": redemption_id, "mid": posting.movement_id})
    if reward.stock is not None and not run(session, TAKE_STOCK, {"reward_id": reward.id}).rows:
        raise RewardUnavailable(f"reward {reward.code!r} is out of stock")
    result = RedemptionResult(
        duplicate=False,
        account_id=account.id,
        redemption_id=redemption_id,
        reward_id=reward.id,
        points=reward.cost_points,
        coupon_code=coupon,
        status="issued",
    )
    store_key(
        session,
        program_id=program_id,
        scope="redeem",
        key=request_key,
        result=result.to_json(),
        now=now,
        busy=_busy(request_key),
    )
    return result


def _lock_and_read_head(session: Session, params: dict[str, Any]) -> tuple[Record, Record]:
    """The customer's account, locked, and :data:`REDEEM_HEAD`'s row (the reward, the
    request key's stored result, whether the account has lots due).

    One statement where the database serialises writers (SQLite:
    :data:`ACCOUNT_AND_REDEEM_HEAD`), else the lock and then the head; the two-step path
    also says which of the account or the reward is missing.
    """
    if serialises_writes(session):
        row = run(session, ACCOUNT_AND_REDEEM_HEAD, params).first()
        if row is not None:
            head = _REDEEM_HEAD_ROW(*row[ACCOUNT_WIDTH:])
            return AccountRow(*row[:ACCOUNT_WIDTH]), _found(session, head, params)
    account = lock_account_row(
        session, program_id=params["program_id"], customer_id=params["customer_id"]
    )
    if account is None:
        _found(session, run(session, READ_REWARD_BY_CODE, params).first(), params)
        raise InsufficientBalance(f"customer {params['customer_id']} has no points in this program")
    reward = run(session, REDEEM_HEAD, {**params, "account_id": account.id}).first()
    return account, _found(session, reward, params)


def _found(session: Session, reward: Record | None, params: dict[str, Any]) -> Record:
    """The reward row read with ``params``, in an active program; else the reason why not."""
    if reward is None:
        get_program(session, program_id=params["program_id"], active=True)
        raise NotFound(f"reward {params['code']!r} not found", field="reward")
    if reward.program_status != "active":
        raise ProgramInactive(f"loyalty program {params['program_id']} is archived")
    return reward


def _check_redeemable(session: Session, *, reward: Record, account: Record, now: datetime) -> None:
    """Validity, stock, per-customer limit, tier and balance; raise on the first failure."""
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
                LoyaltyRedemption.account_id == account.id,
                LoyaltyRedemption.reward_id == reward.id,
                LoyaltyRedemption.status == "issued",
            )
        )
        if int(used or 0) >= reward.per_customer_limit:
            raise RedemptionLimitReached(
                f"reward {reward.code!r} is limited to {reward.per_customer_limit} per customer"
            )
    if reward.min_tier_rank is not None:
        tier = effective_tier(session, account=account, now=now)
        if tier is None or tier.rank < reward.min_tier_rank:
            raise TierRequired(f"reward {reward.code!r} needs tier rank {reward.min_tier_rank}")
    if account.balance < reward.cost_points:
        raise _short(account.balance, reward.cost_points)


def _insert_redemption(
    session: Session,
    *,
    account_id: int,
    reward: Record,
    request_key: str,
    now: datetime,
    brand_id: int | None,
) -> tuple[int, str]:
    """Insert the redemption with a fresh coupon code; (redemption id, coupon)."""
    for _ in range(COUPON_ATTEMPTS):
        coupon = new_coupon_code()
        redemption_id = run(
            session,
            INSERT_REDEMPTION,
            {
                "account_id": account_id,
                "reward_id": reward.id,
                "brand_id": brand_id,
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
            return int(redemption_id), coupon
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
    assert redemption is not None, "the redemption was found above"
    if redemption.status == "cancelled":
        return _result(redemption, duplicate=True)
    settle_account(session, account=account, program=program, now=now)
    posting = post(
        session,
        account=account,
        kind="refund",
        now=now,
        points=redemption.points,
        redemption_id=redemption.id,
        payload={"redemption_id": redemption.id, "coupon_code": coupon_code},
    )
    lapsed = _refund_to_lots(
        session,
        spend_movement_id=redemption.movement_id,
        refund_movement_id=posting.movement_id,
        now=now,
    )
    if lapsed:
        # The original lots expired meanwhile: the points come back with a short validity.
        insert_lot(
            session,
            account_id=account.id,
            movement_id=posting.movement_id,
            source="refund",
            points=lapsed,
            state="active",
            now=now,
            expires_at=now + timedelta(days=program.refund_validity_days),
        )
    if reward.stock is not None:
        reward.stock += 1
    redemption.status = "cancelled"
    redemption.cancelled_at = now
    redemption.cancel_movement_id = posting.movement_id
    repay_debt(session, account=account, now=now)
    return _result(redemption)


def _refund_to_lots(
    session: Session, *, spend_movement_id: int | None, refund_movement_id: int, now: datetime
) -> int:
    """Give spent points back to the lots they came from; returns those that lapsed."""
    allocations = session.execute(
        select(LoyaltyAllocation.points, LoyaltyLot)
        .join(LoyaltyLot, LoyaltyLot.id == LoyaltyAllocation.lot_id)
        .where(LoyaltyAllocation.movement_id == spend_movement_id)
        .order_by(LoyaltyAllocation.id)
    ).all()
    lapsed = 0
    for points, lot in allocations:
        if lot.state == "active" and lot.expires_at is not None and lot.expires_at > now:
            lot.remaining += points
            session.add(
                LoyaltyAllocation(movement_id=refund_movement_id, lot_id=lot.id, points=points)
            )
        else:
            lapsed += points
    return lapsed


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


def redeem_in_one_call(
    session: Session,
    *,
    program_id: int,
    customer_id: int,
    reward_code: str,
    request_key: str,
    now: datetime,
    brand_id: int | None,
) -> RedemptionResult | None:
    """PostgreSQL: the redemption as one call of ``recompra_loyalty_redeem`` on the
    session's connection (the coupon drawn first; drawn again if it was taken).

    ``None`` (nothing changed) when the function declines: the Python path runs, and
    raises every refusal but the balance's (``ledger.server_side``).
    """
    for _ in range(COUPON_ATTEMPTS):
        coupon = new_coupon_code()
        row = server_side.call(
            session,
            server_side.REDEEM_CALL,
            {
                "program_id": program_id,
                "customer_id": customer_id,
                "reward_code": reward_code,
                "key": request_key,
                "coupon": coupon,
                "now": now,
                "brand_id": brand_id,
                # The function adds the redemption's id.
                "details": event_details(
                    pending_delta=0,
                    debt_delta=0,
                    order_id=None,
                    payload={"reward": reward_code, "coupon_code": coupon},
                ),
            },
            busy=_busy(request_key),
        )
        status = row.out_status
        if status == "done":
            return RedemptionResult(duplicate=False, **row.out_result)
        if status == "stored":
            return _replayed(
                dict(row.out_result),
                account_id=row.out_account_id,
                reward_id=row.out_reward_id,
                key=request_key,
            )
        if status == "insufficient":
            raise _short(row.out_balance, row.out_cost)
        if status != "coupon_taken":
            return None
    raise Conflict("could not draw a unique coupon code")


def _replayed(
    stored: dict[str, Any], *, account_id: int, reward_id: int, key: str
) -> RedemptionResult:
    """The stored result of the key's redemption; refused if it redeemed something else."""
    if stored.get("account_id") != account_id or stored.get("reward_id") != reward_id:
        raise IdempotencyKeyReused(f"request key {key!r} was used for another redeem")
    return RedemptionResult.from_json(stored)


def _short(balance: int, cost: int) -> InsufficientBalance:
    return InsufficientBalance(f"balance {balance} is less than the reward's {cost} points")


def _busy(request_key: str) -> str:
    return f"request {request_key!r} is being processed concurrently; retry"
