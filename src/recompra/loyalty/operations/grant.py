"""Fixed bonuses of the engagement mechanics (challenges, quizzes, referrals).

The same protocol as the other bonuses (``bonus.py``): the account lock, the idempotency
key looked up first and stored last, one :func:`~recompra.loyalty.ledger.postings.post`
and its lot. The amount is the mechanic's own (not the earning rules'), and a bonus may
be *held* as pending points with no release date: the mechanic decides later whether to
release it (:func:`release_held`, the ledger's own ``release_lot``) or void it
(:func:`void_held`), as a referral does once the friend's order outlives its return
window.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from recompra.errors import InvalidInput
from recompra.loyalty.ledger.idempotency import check_owner, find_stored, store_key
from recompra.loyalty.ledger.locks import lock_account
from recompra.loyalty.ledger.postings import insert_lot, post, repay_debt
from recompra.loyalty.ledger.results import EarnResult
from recompra.loyalty.ledger.settlement import release_lot, settle_account
from recompra.loyalty.operations.context import locked_account
from recompra.loyalty.programs import get_program
from recompra.models.loyalty import LoyaltyAccount, LoyaltyAllocation, LoyaltyLot, LoyaltyProgram

#: Lot sources (and idempotency scopes) of the engagement bonuses.
GRANT_SOURCES = ("challenge", "quiz", "referral")


def grant_points(
    session: Session,
    *,
    program_id: int,
    customer_id: int,
    source: str,
    key: str,
    points: int,
    now: datetime,
    held: bool = False,
) -> EarnResult:
    """Credit ``points`` once per ``(source, key)``: spendable now, or held as pending."""
    if source not in GRANT_SOURCES:
        raise InvalidInput(f"unknown bonus source {source!r}", field="source")
    if points < 0:
        raise InvalidInput("a bonus cannot be negative", field="points")
    program = get_program(session, program_id=program_id, active=True)
    account = locked_account(session, program_id=program.id, customer_id=customer_id)
    stored = find_stored(session, program_id=program.id, scope=source, key=key)
    if stored is not None:
        check_owner(stored, account_id=account.id, key=key)
        return EarnResult.from_json(stored)
    settle_account(session, account=account, program=program, now=now)
    movement_id = lot_id = None
    if points > 0:
        movement_id, lot_id = _credit(
            session,
            account=account,
            program=program,
            customer_id=customer_id,
            source=source,
            key=key,
            points=points,
            now=now,
            held=held,
        )
    result = EarnResult(
        duplicate=False,
        account_id=account.id,
        points=points if lot_id else 0,
        state=("pending" if held else "active") if lot_id else "none",
        lot_id=lot_id,
        movement_id=movement_id,
        rule_version=None,
    )
    store_key(
        session,
        program_id=program.id,
        scope=source,
        key=key,
        result=result.to_json(),
        now=now,
        busy=f"{source} bonus {key!r} is being granted concurrently; retry",
    )
    return result


def _credit(
    session: Session,
    *,
    account: LoyaltyAccount,
    program: LoyaltyProgram,
    customer_id: int,
    source: str,
    key: str,
    points: int,
    now: datetime,
    held: bool,
) -> tuple[int, int]:
    """Post the bonus and its lot (held: pending with no release date); ids of both."""
    state = "pending" if held else "active"
    posting = post(
        session,
        account=account,
        kind="earn",
        now=now,
        points=0 if held else points,
        pending_delta=points if held else 0,
        note=f"{source} bonus",
        payload={"state": state, "trigger": source, "key": key},
        customer_id=customer_id,
    )
    lot_id = insert_lot(
        session,
        account_id=account.id,
        movement_id=posting.movement_id,
        source=source,
        points=points,
        state=state,
        now=now,
        expires_at=None if held else now + timedelta(days=program.expiry_days),
    )
    if not held:
        repay_debt(session, account=account, now=now)
    return posting.movement_id, lot_id


def _held_lot(session: Session, *, lot_id: int) -> tuple[LoyaltyLot, LoyaltyAccount] | None:
    """The held lot and its locked account; ``None`` once it is no longer pending."""
    lot = session.get(LoyaltyLot, lot_id)
    if lot is None:
        return None
    account = lock_account(session, account_id=lot.account_id)
    session.refresh(lot)
    return (lot, account) if lot.state == "pending" else None


def release_held(
    session: Session, *, program_id: int, lot_id: int, now: datetime, reason: str
) -> int:
    """Make a held bonus spendable (a no-op once released or voided); returns its points."""
    held = _held_lot(session, lot_id=lot_id)
    if held is None:
        return 0
    lot, account = held
    program = get_program(session, program_id=program_id)
    return release_lot(session, account=account, program=program, lot=lot, now=now, reason=reason)


def void_held(session: Session, *, lot_id: int, now: datetime, reason: str) -> int:
    """Take a held bonus back out of pending (it was never spendable); returns its points."""
    held = _held_lot(session, lot_id=lot_id)
    if held is None:
        return 0
    lot, account = held
    points = lot.remaining
    posting = post(
        session,
        account=account,
        kind="reverse",
        now=now,
        pending_delta=-points,
        note=reason,
        payload={"lot_id": lot.id},
    )
    session.add(LoyaltyAllocation(movement_id=posting.movement_id, lot_id=lot.id, points=points))
    lot.reversed_points += points
    lot.remaining = 0
    lot.state = "reversed"
    session.flush()
    return points
