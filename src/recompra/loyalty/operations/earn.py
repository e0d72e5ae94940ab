"""Earning an order's points: once per order, pending until released (the hot path).

Core statements throughout (ADR 0003's amendment): one round trip loads the program, the
order and what the rules need; then the account lock, the key lookup, the rules, one
posting and its lot, and the stored key. The rare branches (due lots, debt to repay,
tier upgrade) load ORM objects afresh.
"""

from __future__ import annotations

from collections import namedtuple
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.orm import Session

from recompra.db.dialect import serialises_writes
from recompra.errors import Conflict, InvalidInput, NotFound
from recompra.loyalty.errors import ProgramInactive
from recompra.loyalty.ledger import server_side
from recompra.loyalty.ledger.idempotency import (
    STORED_RESULT,
    lock_account_and_find_stored,
    store_key,
    stored_and_due,
)
from recompra.loyalty.ledger.locks import (
    ACCOUNT_WIDTH,
    ACCOUNTS,
    AccountRow,
    locked_account_object,
)
from recompra.loyalty.ledger.postings import (
    Posting,
    event_details,
    has_due_lots,
    insert_lot,
    post,
    repay_debt,
)
from recompra.loyalty.ledger.results import EarnResult
from recompra.loyalty.ledger.settlement import settle_row
from recompra.loyalty.operations.context import context_for
from recompra.loyalty.prepared import Prepared, Record, run
from recompra.loyalty.programs import get_program, holder_condition
from recompra.loyalty.rules.calculation import Calculation
from recompra.loyalty.rules.engine import (
    NON_EARNING_STATUSES,
    calculate,
    previous_orders_count,
    snapshot_from,
)
from recompra.loyalty.rules.strategies import CapPerPeriod
from recompra.loyalty.rules.versions import (
    CachedVersion,
    cached_rules_in_force,
    fingerprint_of,
    rules_fingerprint,
)
from recompra.loyalty.tiers.service import apply_upgrade, effective_tier
from recompra.models.base import utcnow
from recompra.models.loyalty import (
    LoyaltyCoalitionMember,
    LoyaltyProgram,
    LoyaltyTier,
)
from recompra.models.order import Order

_P = cast(Table, LoyaltyProgram.__table__)
_O = cast(Table, Order.__table__)
#: Program, order, the customer's earlier orders, the rules fingerprint and whether the
#: program has tiers: one round trip before the account lock.
_EARN_HEAD = (
    select(
        _P.c.id.label("program_id"),
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
        select(LoyaltyCoalitionMember.earn_rate_pct)
        .where(
            LoyaltyCoalitionMember.program_id == _P.c.id,
            LoyaltyCoalitionMember.brand_id == _O.c.brand_id,
        )
        .scalar_subquery()
        .label("coalition_rate_pct"),
    )
    .select_from(_P.outerjoin(_O, _O.c.id == bindparam("order_id")))
    .where(_P.c.id == bindparam("program_id"))
)
EARN_HEAD = Prepared(_EARN_HEAD, server_prepared=True)
_HEAD_WIDTH = len(_EARN_HEAD.selected_columns)
_HeadRow = namedtuple("_HeadRow", _EARN_HEAD.selected_columns.keys())  # type: ignore[misc]
#: Where the database serialises writers (SQLite: the write lock is taken at ``BEGIN``),
#: :data:`EARN_HEAD` and the order's buyer's account with the key's stored result and
#: whether it has lots due (``idempotency.ACCOUNT_WITH_KEY_AND_DUE``) in one statement:
#: a round trip less per earn. The account's columns follow the head's; they are ``NULL``
#: when the buyer has no account yet (or the order is missing).
EARN_HEAD_AND_ACCOUNT = Prepared(
    _EARN_HEAD.add_columns(
        *ACCOUNTS.c,
        STORED_RESULT.scalar_subquery().label("stored"),
        has_due_lots(ACCOUNTS.c.id).label("due"),
    ).outerjoin(ACCOUNTS, holder_condition(_O.c.customer_id))
)


def earn_for_order(
    session: Session, *, program_id: int, order_id: int, now: datetime | None = None
) -> EarnResult:
    """Earn an order's points once (idempotent by order id), pending until released."""
    now = now or utcnow()
    if server_side.applies(session):
        done = earn_in_one_call(session, program_id=program_id, order_id=order_id, now=now)
        if done is not None:
            return done
    key = str(order_id)
    head, found = _head_and_account(session, program_id=program_id, order_id=order_id, now=now)
    if found is None:
        found = lock_account_and_find_stored(
            session,
            program_id=program_id,
            customer_id=head.customer_id,
            scope="earn",
            key=key,
            now=now,
            create=True,
        )
    account, stored, due = found
    assert account is not None, "create=True opens a missing account"
    if stored is not None:
        return EarnResult.from_json(stored)
    if head.status in NON_EARNING_STATUSES:
        raise Conflict(f"order {order_id} is {head.status}: it earns no points", field="order_id")
    if due:
        account = settle_row(session, program_id=program_id, account=account, now=now)
    version, calc = _calculate(session, head=head, account=account, now=now)
    rule_version = version.version if version else None
    result = EarnResult.nothing(account_id=account.id, rule_version=rule_version)
    points = _points_of(head, calc)
    if points > 0:
        result = _credit(
            session, head=head, account=account, version=version, calc=calc, points=points, now=now
        )
    store_key(
        session,
        program_id=program_id,
        scope="earn",
        key=key,
        result=result.to_json(),
        now=now,
        busy=_busy(order_id),
        field="order_id",
    )
    return result


def _head_and_account(
    session: Session, *, program_id: int, order_id: int, now: datetime
) -> tuple[Record, tuple[Record, dict[str, Any] | None, bool] | None]:
    """:func:`_earn_head`, and where the database serialises writers the locked account
    with the key's stored result and whether it has lots due (``None`` when the buyer
    has no account yet, or elsewhere: :func:`lock_account_and_find_stored` then asks)."""
    if not serialises_writes(session):
        return _earn_head(session, program_id=program_id, order_id=order_id), None
    params = {
        "program_id": program_id,
        "order_id": order_id,
        "scope": "earn",
        "key": str(order_id),
        "now": now,
    }
    row = run(session, EARN_HEAD_AND_ACCOUNT, params).first()
    if row is None:
        return _checked_head(None, params), None  # raises: the program does not exist
    head = _checked_head(_HeadRow(*row[:_HEAD_WIDTH]), params)
    account: Record = AccountRow(*row[_HEAD_WIDTH : _HEAD_WIDTH + ACCOUNT_WIDTH])
    if account.id is None:
        return head, None
    return head, (account, *stored_and_due(row))


def _earn_head(session: Session, *, program_id: int, order_id: int) -> Record:
    """The program and order facts the earn needs, validated."""
    params = {"program_id": program_id, "order_id": order_id}
    return _checked_head(run(session, EARN_HEAD, params).first(), params)


def _checked_head(head: Record | None, params: dict[str, Any]) -> Record:
    """:data:`EARN_HEAD`'s row when the earn may go on; else the reason why not."""
    program_id, order_id = params["program_id"], params["order_id"]
    if head is None:
        raise NotFound(f"loyalty program {program_id} not found", field="program_id")
    if head.program_status != "active":
        raise ProgramInactive(f"loyalty program {program_id} is archived")
    if head.order_id is None:
        raise NotFound(f"order {order_id} not found", field="order_id")
    if head.brand_id != head.program_brand_id and head.coalition_rate_pct is None:
        raise InvalidInput("the order belongs to another brand", field="order_id")
    return head


def _calculate(
    session: Session, *, head: Record, account: Record, now: datetime
) -> tuple[CachedVersion | None, Calculation]:
    """The rule version in force at purchase time and the order's points under it."""
    version = cached_rules_in_force(
        session, program_id=head.program_id, at=head.purchased_at, fingerprint=fingerprint_of(head)
    )
    tier = effective_tier(session, account=account, now=now)
    ctx = context_for(
        session,
        account_id=account.id,
        tier=tier,
        customer_id=None,
        trigger="order",
        at=head.purchased_at,
    )
    order = snapshot_from(
        session,
        order_id=head.order_id,
        customer_id=head.customer_id,
        purchased_at=head.purchased_at,
        items_total_minor=head.items_total_minor,
        discount_total_minor=head.discount_total_minor,
        previous_orders=int(head.previous_orders or 0),
    )
    rule_version = version.version if version else None
    rules = version.rules if version else []
    return version, calculate(rules, order=order, ctx=ctx, rule_version=rule_version)


def _points_of(head: Record, calc: Calculation) -> int:
    """The order's points: a coalition member brand earns at its own rate (rounded down)."""
    if head.coalition_rate_pct is None:
        return calc.total
    return calc.total * int(head.coalition_rate_pct) // 100


def _credit(
    session: Session,
    *,
    head: Record,
    account: Record,
    version: CachedVersion | None,
    calc: Calculation,
    points: int,
    now: datetime,
) -> EarnResult:
    """Post the order's ``points`` as a pending (or, past its window, active) lot."""
    terms = _lot_terms(head, calc, now=now)
    state, release_at, pending = terms.state, terms.release_at, terms.state == "pending"
    posting = post(
        session,
        account=account,
        kind="earn",
        now=now,
        points=0 if pending else points,
        pending_delta=points if pending else 0,
        order_id=head.order_id,
        rule_version_id=version.id if version else None,
        payload={"state": state},
        customer_id=head.customer_id,
    )
    lot_id = insert_lot(
        session,
        account_id=account.id,
        movement_id=posting.movement_id,
        source="order",
        order_id=head.order_id,
        state=state,
        points=points,
        now=now,
        earned_at=head.purchased_at,
        basis_minor=terms.basis_minor,
        release_at=release_at,
        expires_at=terms.expires_at,
    )
    _after_credit(session, head=head, account_id=account.id, posting=posting, now=now)
    return EarnResult(
        duplicate=False,
        account_id=account.id,
        points=points,
        state=state,
        lot_id=lot_id,
        movement_id=posting.movement_id,
        rule_version=version.version if version else None,
    )


class _LotTerms(NamedTuple):
    state: str
    release_at: datetime | None
    expires_at: datetime | None
    basis_minor: int


def _lot_terms(head: Record, calc: Calculation, *, now: datetime) -> _LotTerms:
    """The order's lot: pending until delivery or the return window's end (active if
    already past it, its expiry clock started when it was due), and its money basis."""
    if head.release_on == "delivery":
        release_at = None
        pending = head.delivered_at is None
    else:
        release_at = head.purchased_at + timedelta(days=head.return_window_days)
        pending = release_at > now
    start = release_at if release_at is not None and release_at <= now else now
    return _LotTerms(
        state="pending" if pending else "active",
        release_at=release_at,
        expires_at=None if pending else start + timedelta(days=head.expiry_days),
        basis_minor=sum(line.eligible_minor for line in calc.lines),
    )


def _after_credit(
    session: Session, *, head: Record, account_id: int, posting: Posting, now: datetime
) -> None:
    """Repay debt from spendable new points, then upgrade the tier if the program has any."""
    needs_repay = posting.debt > 0 and posting.balance > 0
    if not (needs_repay or head.tiers):
        return
    account = locked_account_object(session, account_id=account_id)
    if needs_repay:
        repay_debt(session, account=account, now=now)
    if head.tiers:
        program = get_program(session, program_id=head.program_id)
        apply_upgrade(session, account=account, program=program, now=now)
    session.flush()


#: What :func:`_calculate` needs of an account whose program has no tiers: its id only
#: feeds ``earned_between``, which no rule the server-side path accepts calls.
class _AccountWithoutTier(NamedTuple):
    id: int = 0
    tier_id: None = None
    override_tier_id: None = None
    override_until: None = None


_ACCOUNT_WITHOUT_TIER = _AccountWithoutTier()


def earn_in_one_call(
    session: Session, *, program_id: int, order_id: int, now: datetime
) -> EarnResult | None:
    """PostgreSQL: the earn as one call of ``recompra_loyalty_earn_order`` (migration
    0032: the function reads the order and computes the points for the common rule set),
    on the session's connection.

    When that function leaves the points to Python (another rule type, a coalition
    brand...), one unlocked read (the head; and the order's lines) and one call of
    ``recompra_loyalty_earn`` with the points computed here. ``None`` (nothing changed)
    when the Python path must run: whatever ``recompra_loyalty_earn`` declines
    (``ledger.server_side``; the first function's ``ledger``), a program with tiers (an
    upgrade may follow), a cap per period (it reads the account's earnings, exact only
    under the lock), an order that earns nothing by its status.
    """
    row = server_side.call(
        session,
        server_side.EARN_ORDER_CALL,
        {"program_id": program_id, "order_id": order_id, "now": now},
        busy=_busy(order_id),
        field="order_id",
    )
    if row.out_status == "python":
        return _earn_with_head(session, program_id=program_id, order_id=order_id, now=now)
    return _answer(row)


def _answer(row: Record) -> EarnResult | None:
    """An earn function's answer: its result, or ``None`` for the Python path."""
    if row.out_status == "done":
        return EarnResult(duplicate=False, **row.out_result)
    if row.out_status == "stored":
        return EarnResult.from_json(dict(row.out_result))
    return None


def _earn_with_head(
    session: Session, *, program_id: int, order_id: int, now: datetime
) -> EarnResult | None:
    """:func:`earn_in_one_call` with the points computed here (``recompra_loyalty_earn``,
    migration 0030); ``None`` for the Python path."""
    head = _earn_head(session, program_id=program_id, order_id=order_id)
    if head.tiers or head.status in NON_EARNING_STATUSES:
        return None
    version = cached_rules_in_force(
        session, program_id=head.program_id, at=head.purchased_at, fingerprint=fingerprint_of(head)
    )
    if version is not None and any(isinstance(rule, CapPerPeriod) for rule in version.rules):
        return None
    version, calc = _calculate(session, head=head, account=_ACCOUNT_WITHOUT_TIER, now=now)
    points = _points_of(head, calc)
    terms = _lot_terms(head, calc, now=now)
    rule_version = version.version if version else None
    # The function fills in the account, the lot and the movement.
    result = EarnResult.nothing(account_id=0, rule_version=rule_version)
    if points > 0:
        result = replace(result, points=points, state=terms.state)
    pending = terms.state == "pending"
    row = server_side.call(
        session,
        server_side.EARN_CALL,
        {
            "program_id": program_id,
            "customer_id": head.customer_id,
            "order_id": head.order_id,
            "key": str(order_id),
            "now": now,
            "points": points,
            "state": terms.state,
            "rule_version_id": version.id if version else None,
            "earned_at": head.purchased_at,
            "basis_minor": terms.basis_minor,
            "release_at": terms.release_at,
            "expires_at": terms.expires_at,
            "details": event_details(
                pending_delta=points if pending else 0,
                debt_delta=0,
                order_id=head.order_id,
                payload={"state": terms.state},
            ),
            "result": result.to_json(),
        },
        busy=_busy(order_id),
        field="order_id",
    )
    return _answer(row)


def _busy(order_id: int) -> str:
    return f"order {order_id} is being earned concurrently; retry"
