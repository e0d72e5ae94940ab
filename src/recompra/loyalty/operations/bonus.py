"""Review and birthday bonuses: once per key, spendable at once."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from recompra.errors import InvalidInput
from recompra.loyalty.ledger.idempotency import check_owner, find_stored, store_key
from recompra.loyalty.ledger.postings import insert_lot, post, repay_debt
from recompra.loyalty.ledger.results import EarnResult
from recompra.loyalty.ledger.settlement import settle_account
from recompra.loyalty.operations.context import earn_context, locked_account
from recompra.loyalty.programs import get_program
from recompra.loyalty.rules.engine import calculate
from recompra.loyalty.rules.versions import rules_in_force
from recompra.models.base import utcnow

BONUS_TRIGGERS = ("review", "birthday", "survey")


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
    """Award a ``review``, ``birthday`` or ``survey`` bonus once per key (spendable at once)."""
    if trigger not in BONUS_TRIGGERS:
        raise InvalidInput("trigger must be 'review', 'birthday' or 'survey'", field="trigger")
    now = at or utcnow()
    program = get_program(session, program_id=program_id, active=True)
    account = locked_account(session, program_id=program.id, customer_id=customer_id)
    stored = find_stored(session, program_id=program.id, scope=trigger, key=key)
    if stored is not None:
        check_owner(stored, account_id=account.id, key=key)
        return EarnResult.from_json(stored)
    settle_account(session, account=account, program=program, now=now)
    version, rules = rules_in_force(session, program_id=program.id, at=now)
    rule_version = version.version if version else None
    ctx = earn_context(
        session, account=account, trigger=trigger, at=now, now=now, review_length=review_length
    )
    points = calculate(rules, order=None, ctx=ctx, rule_version=rule_version).total
    result = EarnResult.nothing(account_id=account.id, rule_version=rule_version)
    if points > 0:
        posting = post(
            session,
            account=account,
            kind="earn",
            now=now,
            points=points,
            rule_version_id=version.id if version else None,
            note=f"{trigger} bonus",
            payload={"state": "active", "trigger": trigger, "key": key},
            customer_id=customer_id,
        )
        lot_id = insert_lot(
            session,
            account_id=account.id,
            movement_id=posting.movement_id,
            source=trigger,
            points=points,
            state="active",
            now=now,
            expires_at=now + timedelta(days=program.expiry_days),
        )
        repay_debt(session, account=account, now=now)
        result = EarnResult(
            duplicate=False,
            account_id=account.id,
            points=points,
            state="active",
            lot_id=lot_id,
            movement_id=posting.movement_id,
            rule_version=rule_version,
        )
    store_key(
        session,
        program_id=program.id,
        scope=trigger,
        key=key,
        result=result.to_json(),
        now=now,
        busy=f"{trigger} bonus {key!r} is being awarded concurrently; retry",
    )
    return result
