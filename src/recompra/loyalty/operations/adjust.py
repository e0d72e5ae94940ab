"""Manual corrections by staff: a credit is a new lot, a debit consumes lots oldest-first."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from recompra.errors import InsufficientBalance, InvalidInput
from recompra.loyalty.ledger.idempotency import check_owner, find_stored, store_key
from recompra.loyalty.ledger.postings import insert_lot, post, repay_debt, take_from_lots
from recompra.loyalty.ledger.results import AdjustResult
from recompra.loyalty.ledger.settlement import settle_account
from recompra.loyalty.operations.context import locked_account
from recompra.loyalty.programs import get_program
from recompra.models.base import utcnow

#: Longest stored reason (the movement's note column).
MAX_REASON_LENGTH = 300


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
    account = locked_account(session, program_id=program.id, customer_id=customer_id)
    stored = find_stored(session, program_id=program.id, scope="adjust", key=request_key)
    if stored is not None:
        check_owner(stored, account_id=account.id, key=request_key)
        return AdjustResult.from_json(stored)
    settle_account(session, account=account, program=program, now=now)
    if points < 0 and account.balance < -points:
        raise InsufficientBalance(f"balance {account.balance} is less than {-points}")
    posting = post(
        session,
        account=account,
        kind="adjust",
        now=now,
        points=points,
        note=reason[:MAX_REASON_LENGTH],
    )
    if points > 0:
        insert_lot(
            session,
            account_id=account.id,
            movement_id=posting.movement_id,
            source="adjust",
            points=points,
            state="active",
            now=now,
            expires_at=now + timedelta(days=program.expiry_days),
        )
        repay_debt(session, account=account, now=now)
    else:
        take_from_lots(
            session, account_id=account.id, movement_id=posting.movement_id, points=-points, now=now
        )
    result = AdjustResult(
        duplicate=False, account_id=account.id, points=points, movement_id=posting.movement_id
    )
    store_key(
        session,
        program_id=program.id,
        scope="adjust",
        key=request_key,
        result=result.to_json(),
        now=now,
        busy=f"adjustment {request_key!r} is being processed concurrently; retry",
    )
    return result
