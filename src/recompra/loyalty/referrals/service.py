"""Referral codes, claims and the job that holds, releases or voids both rewards.

A claim passes the fraud guards (``guards.py``) or is stored ``rejected`` with its
reason. When the friend's first order arrives, both rewards are granted as *held*
pending points (the ledger's pending balance, shown to both customers); once that order
has outlived the program's return window they are released through the ledger's own
``release_lot``, or voided if the order was returned or cancelled first.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recompra.errors import InvalidInput, NotFound
from recompra.loyalty.ledger.locks import lock_accounts
from recompra.loyalty.operations.context import locked_account
from recompra.loyalty.operations.grant import grant_points, release_held, void_held
from recompra.loyalty.programs import ensure_account, get_program
from recompra.loyalty.referrals.guards import rejection_reason, same_payment
from recompra.loyalty.rules.engine import NON_EARNING_STATUSES
from recompra.models.aftersale import Return
from recompra.models.customer import Customer
from recompra.models.engagement import (
    EngagementReferral,
    EngagementReferralCode,
    EngagementReferralSettings,
)
from recompra.models.loyalty import LoyaltyProgram
from recompra.models.order import Order

#: Unambiguous characters for codes read aloud or typed on a phone (no 0/O, 1/I/L).
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8


@dataclass(frozen=True)
class ClaimResult:
    """What became of a claim: ``claimed`` or ``rejected`` with its reason."""

    referral_id: int
    referrer_id: int
    friend_id: int
    status: str
    reason: str | None


def configure_referrals(
    session: Session,
    *,
    program_id: int,
    referrer_points: int,
    friend_points: int,
    max_per_referrer: int = 10,
    burst_limit: int = 3,
    burst_window_hours: int = 24,
) -> EngagementReferralSettings:
    """Set (or replace) the program's referral terms."""
    program = get_program(session, program_id=program_id, active=True)
    if min(referrer_points, friend_points) < 0:
        raise InvalidInput("referral rewards cannot be negative", field="referrer_points")
    if min(max_per_referrer, burst_limit, burst_window_hours) < 1:
        raise InvalidInput("limits must be at least 1", field="max_per_referrer")
    settings = session.get(EngagementReferralSettings, program.id)
    if settings is None:
        settings = EngagementReferralSettings(program_id=program.id)
        session.add(settings)
    settings.referrer_points = referrer_points
    settings.friend_points = friend_points
    settings.max_per_referrer = max_per_referrer
    settings.burst_limit = burst_limit
    settings.burst_window_hours = burst_window_hours
    session.flush()
    return settings


def _settings(session: Session, *, program_id: int) -> EngagementReferralSettings:
    settings = session.get(EngagementReferralSettings, program_id)
    if settings is None:
        raise NotFound("this program runs no referral scheme", field="program_id")
    return settings


def referral_code(session: Session, *, program_id: int, customer_id: int, now: datetime) -> str:
    """The customer's referral code in the program, created on first ask."""
    _settings(session, program_id=program_id)
    # The account lock makes two first asks of one customer create one code.
    locked_account(session, program_id=program_id, customer_id=customer_id)
    code = session.scalar(
        select(EngagementReferralCode.code).where(
            EngagementReferralCode.program_id == program_id,
            EngagementReferralCode.customer_id == customer_id,
        )
    )
    if code is None:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        session.add(
            EngagementReferralCode(
                program_id=program_id, customer_id=customer_id, code=code, created_at=now
            )
        )
        session.flush()
    return code


def claim_referral(
    session: Session, *, program_id: int, code: str, friend_id: int, now: datetime
) -> ClaimResult:
    """Record a friend's claim of ``code``: ``claimed``, or ``rejected`` with the reason."""
    program = get_program(session, program_id=program_id, active=True)
    settings = _settings(session, program_id=program.id)
    referrer_id = session.scalar(
        select(EngagementReferralCode.customer_id).where(
            EngagementReferralCode.program_id == program.id,
            EngagementReferralCode.code == code.strip().upper(),
        )
    )
    if referrer_id is None:
        raise NotFound(f"referral code {code!r} not found", field="code")
    referrer, friend = session.get(Customer, referrer_id), session.get(Customer, friend_id)
    if referrer is None or friend is None:
        raise NotFound(f"customer {friend_id} not found", field="friend_id")
    # Both accounts, in id order: the guards' counts cannot race another claim of either.
    lock_accounts(
        session,
        account_ids=[
            ensure_account(session, program_id=program.id, customer_id=c.id).id
            for c in {referrer.id: referrer, friend.id: friend}.values()
        ],
    )
    reason = rejection_reason(
        session,
        program_id=program.id,
        brand_id=program.brand_id,
        referrer=referrer,
        friend=friend,
        settings=settings,
        now=now,
    )
    referral = EngagementReferral(
        program_id=program.id,
        referrer_id=referrer.id,
        friend_id=friend.id,
        code=code.strip().upper(),
        status="rejected" if reason else "claimed",
        reason=reason,
        created_at=now,
        decided_at=now if reason else None,
    )
    session.add(referral)
    session.flush()
    return ClaimResult(
        referral_id=referral.id,
        referrer_id=referrer.id,
        friend_id=friend.id,
        status=referral.status,
        reason=reason,
    )


@dataclass(frozen=True)
class SettleReport:
    """What one run of the referral job did."""

    held: int
    released: int
    voided: int


def settle_referrals(session: Session, *, program_id: int, now: datetime) -> SettleReport:
    """The job: hold rewards on first orders, release or void those past the window."""
    program = get_program(session, program_id=program_id, active=True)
    settings = _settings(session, program_id=program.id)
    held = released = voided = 0
    claimed = session.scalars(
        select(EngagementReferral)
        .where(EngagementReferral.program_id == program.id, EngagementReferral.status == "claimed")
        .order_by(EngagementReferral.id)
    ).all()
    for referral in claimed:
        held += _hold(session, program=program, settings=settings, referral=referral, now=now)
    due = session.scalars(
        select(EngagementReferral)
        .where(
            EngagementReferral.program_id == program.id,
            EngagementReferral.status == "pending",
            EngagementReferral.release_at <= now,
        )
        .order_by(EngagementReferral.id)
    ).all()
    for referral in due:
        if _order_undone(session, order_id=referral.order_id):
            _decide(session, program=program, referral=referral, release=False, now=now)
            voided += 1
        else:
            _decide(session, program=program, referral=referral, release=True, now=now)
            released += 1
    session.flush()
    return SettleReport(held=held, released=released, voided=voided)


def _hold(
    session: Session,
    *,
    program: LoyaltyProgram,
    settings: EngagementReferralSettings,
    referral: EngagementReferral,
    now: datetime,
) -> int:
    """Hold both rewards when the friend's first order after the claim exists."""
    order = session.execute(
        select(Order.id, Order.purchased_at)
        .where(
            Order.brand_id == program.brand_id,
            Order.customer_id == referral.friend_id,
            Order.status.not_in(NON_EARNING_STATUSES),
            Order.purchased_at >= referral.created_at,
            Order.purchased_at <= now,
        )
        .order_by(Order.purchased_at, Order.id)
        .limit(1)
    ).first()
    if order is None:
        return 0
    if same_payment(
        session, brand_id=program.brand_id, referrer_id=referral.referrer_id, order_id=order.id
    ):
        # The friend paid with the referrer's card or wallet: nothing is granted.
        referral.status = "rejected"
        referral.reason = "same_payment"
        referral.order_id = order.id
        referral.decided_at = now
        return 0
    lots = {}
    for side, customer_id, points in (
        ("referrer", referral.referrer_id, settings.referrer_points),
        ("friend", referral.friend_id, settings.friend_points),
    ):
        lots[side] = grant_points(
            session,
            program_id=program.id,
            customer_id=customer_id,
            source="referral",
            key=f"{referral.id}:{side}",
            points=points,
            now=now,
            held=True,
        ).lot_id
    referral.status = "pending"
    referral.order_id = order.id
    referral.release_at = order.purchased_at + timedelta(days=program.return_window_days)
    referral.referrer_lot_id = lots["referrer"]
    referral.friend_lot_id = lots["friend"]
    return 1


def _order_undone(session: Session, *, order_id: int | None) -> bool:
    """Whether the qualifying order was cancelled or (even partly) returned."""
    order = session.get(Order, order_id) if order_id is not None else None
    if order is None or order.status in NON_EARNING_STATUSES:
        return True
    returned = session.scalar(select(func.count(Return.id)).where(Return.order_id == order.id))
    return bool(returned)


def _decide(
    session: Session,
    *,
    program: LoyaltyProgram,
    referral: EngagementReferral,
    release: bool,
    now: datetime,
) -> None:
    for lot_id in (referral.referrer_lot_id, referral.friend_lot_id):
        if lot_id is None:
            continue
        if release:
            release_held(
                session, program_id=program.id, lot_id=lot_id, now=now, reason="referral released"
            )
        else:
            void_held(session, lot_id=lot_id, now=now, reason="referral order returned")
    referral.status = "released" if release else "void"
    referral.reason = None if release else "order_returned"
    referral.decided_at = now


@dataclass(frozen=True)
class ReferralStats:
    """Referral counts by status and the conversion figure."""

    claims: int
    rejected: int
    waiting: int
    pending: int
    released: int
    void: int
    #: Released referrals over accepted claims (``None`` before any accepted claim).
    conversion: float | None


def referral_stats(session: Session, *, program_id: int) -> ReferralStats:
    """How many claims were made, refused, are waiting, held, released or voided."""
    counts = dict(
        session.execute(
            select(EngagementReferral.status, func.count(EngagementReferral.id))
            .where(EngagementReferral.program_id == program_id)
            .group_by(EngagementReferral.status)
        ).all()
    )
    claims = sum(int(v) for v in counts.values())
    accepted = claims - int(counts.get("rejected", 0))
    released = int(counts.get("released", 0))
    return ReferralStats(
        claims=claims,
        rejected=claims - accepted,
        waiting=int(counts.get("claimed", 0)),
        pending=int(counts.get("pending", 0)),
        released=released,
        void=int(counts.get("void", 0)),
        conversion=released / accepted if accepted else None,
    )
