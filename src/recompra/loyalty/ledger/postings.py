"""The ledger's one posting path. Callers hold the account lock; nothing here commits.

:func:`post` is the only code that changes an account's cached ``balance``, ``pending``
and ``debt``: one ``UPDATE ... RETURNING`` of the caches, then the movement and its event,
so every balance change has exactly one movement and one event and the caches equal the
ledger sums (ADR 0001). :func:`take_from_lots` is the only code that consumes lots.

Both run prebuilt SQLAlchemy Core statements, compiled once per dialect and executed on
the driver's cursor (:mod:`recompra.loyalty.prepared`; ADR 0003's amendment: the
ORM rebuilt and flushed far more per write, and Core execution itself cost more than the
database work). Services that hold ORM
objects may call them too: pending ORM changes are flushed first, and the rows these
functions change are refreshed in the session's identity map, so no ORM object is left
holding a stale balance or lot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Column,
    ColumnElement,
    Exists,
    Select,
    Table,
    and_,
    bindparam,
    case,
    exists,
    func,
    insert,
    literal_column,
    null,
    or_,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from recompra.db.dialect import chains_writes
from recompra.errors import InsufficientBalance
from recompra.loyalty.prepared import Prepared, Record, run, run_many, written_columns
from recompra.models.loyalty import (
    LoyaltyAccount,
    LoyaltyAllocation,
    LoyaltyDebt,
    LoyaltyEvent,
    LoyaltyLot,
    LoyaltyMovement,
)

EVENT_TYPES = {
    "earn": "points_earned",
    "release": "points_released",
    "spend": "points_spent",
    "expire": "points_expired",
    "reverse": "points_reversed",
    "adjust": "points_adjusted",
    "refund": "points_refunded",
    "debt_repay": "debt_repaid",
}

ACCOUNTS = cast(Table, LoyaltyAccount.__table__)
MOVEMENTS = cast(Table, LoyaltyMovement.__table__)
EVENTS = cast(Table, LoyaltyEvent.__table__)
LOTS = cast(Table, LoyaltyLot.__table__)
ALLOCATIONS = cast(Table, LoyaltyAllocation.__table__)

_APPLY = (
    update(ACCOUNTS)
    .where(ACCOUNTS.c.id == bindparam("account_id"))
    .values(
        balance=ACCOUNTS.c.balance + bindparam("points"),
        pending=ACCOUNTS.c.pending + bindparam("pending_delta"),
        debt=ACCOUNTS.c.debt + bindparam("debt_delta"),
        updated_at=bindparam("now"),
    )
    .returning(ACCOUNTS.c.balance, ACCOUNTS.c.pending, ACCOUNTS.c.debt)
)
APPLY_TO_ACCOUNT = Prepared(_APPLY)
#: A movement's columns and the :func:`post` parameter each one takes.
_MOVEMENT_VALUES = {
    "account_id": "account_id",
    "customer_id": "customer_id",
    "kind": "kind",
    "points": "points",
    "pending_delta": "pending_delta",
    "debt_delta": "debt_delta",
    "order_id": "order_id",
    "redemption_id": "redemption_id",
    "rule_version_id": "rule_version_id",
    "note": "note",
    "created_at": "now",
}
_MOVEMENT = insert(MOVEMENTS).returning(MOVEMENTS.c.id)
INSERT_MOVEMENT = Prepared(
    _MOVEMENT.values(
        {
            **{column: bindparam(param) for column, param in _MOVEMENT_VALUES.items()},
            "batch_id": null(),
        }
    )
)
INSERT_EVENT = Prepared(
    insert(EVENTS).values(
        program_id=bindparam("program_id"),
        account_id=bindparam("account_id"),
        type=bindparam("type"),
        movement_id=bindparam("movement_id"),
        points=bindparam("points"),
        payload=bindparam("payload", type_=EVENTS.c.payload.type),
        created_at=bindparam("now"),
        published_at=null(),
    )
)


def _typed(name: str, column: Column[Any]) -> ColumnElement[Any]:
    """A parameter cast to ``column``'s type: in ``INSERT ... SELECT`` the database cannot
    infer it from the target column (a ``NULL`` would be text)."""
    return bindparam(name, type_=column.type).cast(column.type)


def _post_chained() -> Select[Any]:
    """:func:`post`'s three writes in one statement: the account's balances (``UPDATE ...
    RETURNING``), the movement and its event, chained by data-modifying CTEs."""
    applied = _APPLY.cte("applied")
    movement = (
        insert(MOVEMENTS)
        .from_select(
            [*_MOVEMENT_VALUES, "batch_id"],
            select(
                *(_typed(p, MOVEMENTS.c[c]) for c, p in _MOVEMENT_VALUES.items()),
                null(),
            ).select_from(applied),
        )
        .returning(MOVEMENTS.c.id)
        .cte("movement")
    )
    balances = func.jsonb_build_object(
        literal_column("'balance'"),
        applied.c.balance,
        literal_column("'pending'"),
        applied.c.pending,
        literal_column("'debt'"),
        applied.c.debt,
    )
    event = insert(EVENTS).from_select(
        ["program_id", "account_id", "type", "movement_id", "points", "payload", "created_at"],
        select(
            _typed("program_id", EVENTS.c.program_id),
            _typed("account_id", EVENTS.c.account_id),
            _typed("type", EVENTS.c.type),
            movement.c.id,
            _typed("points", EVENTS.c.points),
            balances.op("||", return_type=EVENTS.c.payload.type)(
                _typed("details", EVENTS.c.payload)
            ),
            _typed("now", EVENTS.c.created_at),
        ).select_from(applied.join(movement, true())),
    )
    return (
        select(
            applied.c.balance,
            applied.c.pending,
            applied.c.debt,
            movement.c.id.label("movement_id"),
        )
        .select_from(applied.join(movement, true()))
        .add_cte(event.cte("event"))
    )


#: :func:`post` in one round trip, where the database chains writes (PostgreSQL).
POST_CHAINED = Prepared(_post_chained())
INSERT_LOT = Prepared(insert(LOTS).returning(LOTS.c.id), columns=written_columns(LOTS))


def has_due_lots(account_id: ColumnElement[Any]) -> Exists:
    """The account ``account_id`` holds lots to settle at ``:now``: a pending lot due for
    release, an active lot past its expiry."""
    return exists().where(
        LOTS.c.account_id == account_id,
        or_(
            and_(LOTS.c.state == "pending", LOTS.c.release_at <= bindparam("now")),
            and_(LOTS.c.state == "active", LOTS.c.expires_at <= bindparam("now")),
        ),
    )


#: :func:`has_due_lots` of the account ``:account_id``.
HAS_DUE_LOTS = has_due_lots(bindparam("account_id"))


def _spendable_walk() -> Any:
    """The account's spendable lots in spending order (first to expire, then oldest),
    each with ``upto``, the running total of ``remaining`` through it, walked one lot at
    a time and only while the lots before it hold fewer than ``:points``.

    A recursive walk, not a window over all the account's spendable lots: the window read
    every one of them (and sorted them again) to take from the first, so a redemption's
    cost grew with the account's history (19 µs of SQLite at 11 lots an account against
    8 µs for the walk, issue 20 session 14). Each step seeks the next lot in the
    per-account index, from the last one's expiry on."""
    spendable = (
        LOTS.c.account_id == bindparam("account_id"),
        LOTS.c.state == "active",
        LOTS.c.remaining > 0,
        LOTS.c.id != bindparam("exclude_lot_id"),
    )
    first = (
        select(LOTS.c.id, LOTS.c.remaining, LOTS.c.expires_at, LOTS.c.remaining.label("upto"))
        .where(*spendable, LOTS.c.expires_at > bindparam("now"))
        .order_by(LOTS.c.expires_at, LOTS.c.id)
        .limit(1)
        .subquery("first_lot")
    )
    walk = select(first).cte("walk", recursive=True)
    nxt = LOTS.alias("next_lot")
    later = (
        select(nxt.c.id)
        .where(
            nxt.c.account_id == bindparam("account_id"),
            nxt.c.state == "active",
            nxt.c.remaining > 0,
            nxt.c.id != bindparam("exclude_lot_id"),
            # After the last lot in spending order; its expiry is past ``:now`` already.
            nxt.c.expires_at >= walk.c.expires_at,
            tuple_(nxt.c.expires_at, nxt.c.id) > tuple_(walk.c.expires_at, walk.c.id),
        )
        .order_by(nxt.c.expires_at, nxt.c.id)
        .limit(1)
        .scalar_subquery()
    )
    step = LOTS.alias("lot")
    return walk.union_all(
        select(step.c.id, step.c.remaining, step.c.expires_at, walk.c.upto + step.c.remaining)
        .select_from(walk.join(step, step.c.id == later))
        .where(walk.c.upto < bindparam("points"))
    )


_spendable = _spendable_walk()
_needed = _spendable.c.upto - _spendable.c.remaining < bindparam("points")
#: Allocations from the spendable lots, first-to-expire (= oldest) first, only as many as
#: ``points`` needs: the last lot gives what is left to take. One statement whatever the
#: number of lots; the rows come back to update the lots in one batch.
_ALLOCATE = (
    insert(ALLOCATIONS)
    .from_select(
        ["movement_id", "lot_id", "debt_id", "points"],
        select(
            bindparam("movement_id", type_=ALLOCATIONS.c.movement_id.type),
            _spendable.c.id,
            null(),
            case(
                (_spendable.c.upto <= bindparam("points"), _spendable.c.remaining),
                else_=bindparam("points") - (_spendable.c.upto - _spendable.c.remaining),
            ),
        )
        .where(_needed)
        .order_by(_spendable.c.expires_at, _spendable.c.id),
    )
    .returning(ALLOCATIONS.c.lot_id, ALLOCATIONS.c.points)
)
ALLOCATE_FROM_LOTS = Prepared(_ALLOCATE)
TAKE_FROM_LOT = Prepared(
    update(LOTS)
    .where(LOTS.c.id == bindparam("lot_id"))
    .values(remaining=LOTS.c.remaining - bindparam("used"))
)


def _allocate_and_take() -> Select[Any]:
    """:data:`ALLOCATE_FROM_LOTS` and the lots' ``remaining`` in one statement (chained
    data-modifying CTEs): each allocation returned takes its points off its lot."""
    taken = _ALLOCATE.cte("taken")
    lots = (
        update(LOTS)
        .where(LOTS.c.id == taken.c.lot_id)
        .values(remaining=LOTS.c.remaining - taken.c.points)
        .cte("lots")
    )
    return select(taken.c.lot_id, taken.c.points).add_cte(lots)


#: :func:`take_from_lots` in one round trip, where the database chains writes.
ALLOCATE_AND_TAKE_CHAINED = Prepared(_allocate_and_take())


@dataclass(frozen=True)
class Posting:
    """A written movement and the account's cached balances after it."""

    movement_id: int
    balance: int
    pending: int
    debt: int


#: An account as the caller holds it: the ORM object or a Core row of ``loyalty_accounts``.
AccountRef = LoyaltyAccount | Record


def flush_pending(session: Session) -> None:
    """Write the ORM's pending changes before a Core statement reads or changes rows.

    Core statements do not autoflush; without this a lot added through the ORM would be
    invisible to :func:`take_from_lots` in the same transaction. (A clean session returns
    at once: the hot path holds no ORM object.)
    """
    session.flush()


def _refresh_loaded(session: Session, entity: type[Any], row_id: int, **values: Any) -> None:
    """Set the new column values on a loaded ORM object, without marking it changed."""
    if not session.identity_map:
        return  # the hot path holds no ORM object: building the key cost more than the rest
    loaded = session.identity_map.get(session.identity_key(entity, row_id))
    if loaded is not None:
        for name, value in values.items():
            set_committed_value(loaded, name, value)


def event_details(
    *, pending_delta: int, debt_delta: int, order_id: int | None, payload: dict[str, Any] | None
) -> dict[str, Any]:
    """A posting's event payload but the balances: the event's payload is the account's
    balances after the movement, then these (which win). The server-side functions take
    it as their ``p_details`` (:mod:`recompra.loyalty.ledger.server_side`)."""
    details: dict[str, Any] = {"pending_delta": pending_delta, "debt_delta": debt_delta}
    if order_id is not None:
        details["order_id"] = order_id
    details.update(payload or {})
    return details


def post(
    session: Session,
    *,
    account: AccountRef,
    kind: str,
    now: datetime,
    points: int = 0,
    pending_delta: int = 0,
    debt_delta: int = 0,
    order_id: int | None = None,
    redemption_id: int | None = None,
    rule_version_id: int | None = None,
    note: str | None = None,
    payload: dict[str, Any] | None = None,
    customer_id: int | None = None,
) -> Posting:
    """Apply one movement to the account's cached balances and write it with its event.

    ``customer_id`` names who caused it (the buyer of a pooled B2B account who earned or
    redeemed), so that each buyer's contribution to a shared balance stays visible. One
    statement where the database chains writes (:data:`POST_CHAINED`), else three.
    """
    flush_pending(session)
    details = event_details(
        pending_delta=pending_delta, debt_delta=debt_delta, order_id=order_id, payload=payload
    )
    params = {
        "account_id": account.id,
        "program_id": account.program_id,
        "customer_id": customer_id,
        "kind": kind,
        "type": EVENT_TYPES[kind],
        "points": points,
        "pending_delta": pending_delta,
        "debt_delta": debt_delta,
        "order_id": order_id,
        "redemption_id": redemption_id,
        "rule_version_id": rule_version_id,
        "note": note,
        "details": details,
        "now": now,
    }
    if chains_writes(session):
        posted = run(session, POST_CHAINED, params).one()
        balances, movement_id = posted, posted.movement_id
    else:
        balances = run(session, APPLY_TO_ACCOUNT, params).one()
        movement_id = run(session, INSERT_MOVEMENT, params).scalar_one()
        params["movement_id"] = movement_id
        params["payload"] = {
            "balance": balances.balance,
            "pending": balances.pending,
            "debt": balances.debt,
            **details,
        }
        run(session, INSERT_EVENT, params)
    _refresh_loaded(
        session,
        LoyaltyAccount,
        account.id,
        balance=balances.balance,
        pending=balances.pending,
        debt=balances.debt,
        updated_at=now,
    )
    return Posting(
        movement_id=movement_id,
        balance=balances.balance,
        pending=balances.pending,
        debt=balances.debt,
    )


def record_event(
    session: Session,
    *,
    account: LoyaltyAccount,
    type_: str,
    now: datetime,
    points: int = 0,
    payload: dict[str, Any] | None = None,
) -> None:
    """Record an event that changes no balance (tier change, expiry warning...)."""
    session.add(
        LoyaltyEvent(
            program_id=account.program_id,
            account_id=account.id,
            type=type_,
            points=points,
            payload=payload or {},
            created_at=now,
        )
    )


def take_from_lots(
    session: Session,
    *,
    account_id: int,
    movement_id: int,
    points: int,
    now: datetime,
    exclude_lot_id: int = 0,
) -> None:
    """Consume ``points`` from spendable lots oldest-first, writing allocation rows.

    Two statements whatever the number of lots: the allocations (``INSERT ... SELECT ...
    RETURNING``) and the lots' ``remaining`` (one batch of updates); one where the
    database chains writes (:data:`ALLOCATE_AND_TAKE_CHAINED`).
    """
    flush_pending(session)
    chained = chains_writes(session)
    params = {
        "account_id": account_id,
        "movement_id": movement_id,
        "now": now,
        "exclude_lot_id": exclude_lot_id,
        "points": points,
    }
    taken = run(session, ALLOCATE_AND_TAKE_CHAINED if chained else ALLOCATE_FROM_LOTS, params).all()
    found = sum(int(used) for _lot, used in taken)
    if found != points:
        # The cached balance said there was enough: the caches and the lots disagree (the
        # unit of work rolls back whatever was taken).
        raise InsufficientBalance(f"lots hold {found} of the {points} points needed")
    if not chained:
        run_many(session, TAKE_FROM_LOT, [{"lot_id": lot, "used": used} for lot, used in taken])
    for lot_id, _used in taken if session.identity_map else ():
        loaded = session.identity_map.get(session.identity_key(LoyaltyLot, lot_id))
        if loaded is not None:
            # Reloaded on next access: the lot's new ``remaining`` is only in the database.
            session.expire(loaded, ["remaining"])


def insert_lot(
    session: Session,
    *,
    account_id: int,
    movement_id: int,
    source: str,
    points: int,
    state: str,
    now: datetime,
    earned_at: datetime | None = None,
    order_id: int | None = None,
    basis_minor: int = 0,
    release_at: datetime | None = None,
    expires_at: datetime | None = None,
) -> int:
    """Create a lot (pending or active) for a credit movement; returns its id."""
    lot_id = run(
        session,
        INSERT_LOT,
        {
            "account_id": account_id,
            "movement_id": movement_id,
            "source": source,
            "order_id": order_id,
            "state": state,
            "points": points,
            "remaining": points,
            "reversed_points": 0,
            "expired_points": 0,
            "forgiven_points": 0,
            "basis_minor": basis_minor,
            "returned_minor": 0,
            "earned_at": earned_at or now,
            "release_at": release_at,
            "released_at": now if state == "active" else None,
            "expires_at": expires_at,
            "expired_at": None,
            "warned_at": None,
        },
    ).scalar_one()
    return int(lot_id)


def repay_debt(session: Session, *, account: LoyaltyAccount, now: datetime) -> int:
    """Repay outstanding debt from the spendable balance, oldest debt first."""
    amount = min(account.debt, account.balance)
    if amount <= 0:
        return 0
    posting = post(
        session,
        account=account,
        kind="debt_repay",
        now=now,
        points=-amount,
        debt_delta=-amount,
        note="debt repaid from new points",
    )
    take_from_lots(
        session, account_id=account.id, movement_id=posting.movement_id, points=amount, now=now
    )
    left = amount
    debts = session.scalars(
        select(LoyaltyDebt)
        .where(LoyaltyDebt.account_id == account.id, LoyaltyDebt.outstanding > 0)
        .order_by(LoyaltyDebt.id)
    )
    for debt in debts:
        if left == 0:
            break
        paid = min(left, debt.outstanding)
        debt.outstanding -= paid
        left -= paid
        if debt.outstanding == 0:
            debt.settled_at = now
        session.add(
            LoyaltyAllocation(movement_id=posting.movement_id, debt_id=debt.id, points=paid)
        )
    return amount
