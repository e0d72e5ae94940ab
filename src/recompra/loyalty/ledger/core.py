"""The ledger's hot path in SQLAlchemy Core: prebuilt statements, no ORM flushes.

Earning an order and redeeming a reward run a fixed, short list of statements on the
session's connection (account lock, idempotency lookup, due-lot probe, one
``UPDATE ... RETURNING`` of the cached balances, the movement, its event, the lot or the
allocations, the stored result). The ORM services in ``postings`` remain the reference
implementation and are used for the rare branches (a lot falls due, a debt is repaid,
a tier changes); they load the account afresh, so the two never see stale state.
Invariants, the audit trail (one event per balance change), idempotency and the lock
order (accounts, then rewards) are the same as in ADR 0001/0003.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Row, Table, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from recompra.loyalty.ledger.postings import EVENT_TYPES
from recompra.models.loyalty import (
    LoyaltyAccount,
    LoyaltyAllocation,
    LoyaltyEvent,
    LoyaltyIdempotencyKey,
    LoyaltyLot,
    LoyaltyMovement,
)

ACCOUNTS = cast(Table, LoyaltyAccount.__table__)
MOVEMENTS = cast(Table, LoyaltyMovement.__table__)
EVENTS = cast(Table, LoyaltyEvent.__table__)
LOTS = cast(Table, LoyaltyLot.__table__)
ALLOCATIONS = cast(Table, LoyaltyAllocation.__table__)
KEYS = cast(Table, LoyaltyIdempotencyKey.__table__)

LOCK_ACCOUNT = (
    select(ACCOUNTS)
    .where(
        ACCOUNTS.c.program_id == bindparam("program_id"),
        ACCOUNTS.c.customer_id == bindparam("customer_id"),
    )
    .with_for_update()
)
READ_ACCOUNT = select(ACCOUNTS).where(ACCOUNTS.c.id == bindparam("account_id"))
DUE_LOT = (
    select(LOTS.c.id)
    .where(
        LOTS.c.account_id == bindparam("account_id"),
        or_(
            and_(LOTS.c.state == "pending", LOTS.c.release_at <= bindparam("now")),
            and_(LOTS.c.state == "active", LOTS.c.expires_at <= bindparam("now")),
        ),
    )
    .limit(1)
)
FIND_KEY = select(KEYS.c.result).where(
    KEYS.c.program_id == bindparam("program_id"),
    KEYS.c.scope == bindparam("scope"),
    KEYS.c.key == bindparam("key"),
)
APPLY_TO_ACCOUNT = (
    update(ACCOUNTS)
    .where(ACCOUNTS.c.id == bindparam("account_id"))
    .values(
        balance=ACCOUNTS.c.balance + bindparam("d_points"),
        pending=ACCOUNTS.c.pending + bindparam("d_pending"),
        debt=ACCOUNTS.c.debt + bindparam("d_debt"),
        updated_at=bindparam("now"),
    )
    .returning(ACCOUNTS.c.balance, ACCOUNTS.c.pending, ACCOUNTS.c.debt)
)
INSERT_MOVEMENT = insert(MOVEMENTS).returning(MOVEMENTS.c.id)
INSERT_EVENT = insert(EVENTS)
INSERT_LOT = insert(LOTS).returning(LOTS.c.id)
INSERT_ALLOCATION = insert(ALLOCATIONS)
_upto = (
    func.sum(LOTS.c.remaining)
    .over(order_by=(LOTS.c.expires_at, LOTS.c.id), rows=(None, 0))
    .label("upto")
)
_spendable = (
    select(LOTS.c.id, LOTS.c.remaining, LOTS.c.expires_at, _upto)
    .where(
        LOTS.c.account_id == bindparam("account_id"),
        LOTS.c.state == "active",
        LOTS.c.remaining > 0,
        LOTS.c.expires_at > bindparam("now"),
        LOTS.c.id != bindparam("exclude_lot_id"),
    )
    .subquery()
)
#: Spendable lots first-to-expire first, only as many as ``points`` needs.
SPENDABLE_LOTS = (
    select(_spendable.c.id, _spendable.c.remaining)
    .where(_spendable.c.upto - _spendable.c.remaining < bindparam("points"))
    .order_by(_spendable.c.expires_at, _spendable.c.id)
)
TAKE_FROM_LOT = (
    update(LOTS)
    .where(LOTS.c.id == bindparam("lot_id"))
    .values(remaining=LOTS.c.remaining - bindparam("used"))
)


def _store_key_stmt(dialect: str) -> Any:
    if dialect == "postgresql":
        return (
            postgresql.insert(KEYS)
            .on_conflict_do_nothing(index_elements=["program_id", "scope", "key"])
            .returning(KEYS.c.id)
        )
    return (
        sqlite.insert(KEYS)
        .on_conflict_do_nothing(index_elements=["program_id", "scope", "key"])
        .returning(KEYS.c.id)
    )


STORE_KEY = {name: _store_key_stmt(name) for name in ("postgresql", "sqlite")}


def connection(session: Session) -> Connection:
    """The session's connection (in the unit of work's transaction)."""
    return session.connection()


def lock_account_row(conn: Connection, *, program_id: int, customer_id: int) -> Row[Any] | None:
    """Lock the customer's account (``FOR UPDATE``; SQLite holds the write lock already)."""
    return conn.execute(
        LOCK_ACCOUNT, {"program_id": program_id, "customer_id": customer_id}
    ).first()


def read_account_row(conn: Connection, *, account_id: int) -> Row[Any]:
    """Re-read an account this transaction holds locked."""
    return conn.execute(READ_ACCOUNT, {"account_id": account_id}).one()


def has_due_lots(conn: Connection, *, account_id: int, now: datetime) -> bool:
    """Whether a pending lot is due for release or an active lot past its expiry."""
    return conn.execute(DUE_LOT, {"account_id": account_id, "now": now}).first() is not None


def find_stored(
    conn: Connection, *, program_id: int, scope: str, key: str
) -> dict[str, Any] | None:
    """The stored result of an earlier write with this key, or ``None``."""
    row = conn.execute(FIND_KEY, {"program_id": program_id, "scope": scope, "key": key}).first()
    return None if row is None else dict(row[0])


def store_key(
    conn: Connection,
    *,
    program_id: int,
    scope: str,
    key: str,
    result: dict[str, Any],
    now: datetime,
) -> bool:
    """Insert the key with its result; ``False`` if another transaction stored it first.

    Callers looked the key up under the account lock first, so a conflict here means a
    concurrent writer with the same key on another account or reward: they raise and
    the unit of work rolls back everything.
    """
    stmt = STORE_KEY["postgresql" if conn.dialect.name == "postgresql" else "sqlite"]
    row = conn.execute(
        stmt,
        {"program_id": program_id, "scope": scope, "key": key, "result": result, "created_at": now},
    ).first()
    return row is not None


def post_row(
    conn: Connection,
    *,
    account_id: int,
    program_id: int,
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
) -> tuple[int, Row[Any]]:
    """Core twin of ``postings.post``: balances, movement, event; (movement id, balances)."""
    balances = conn.execute(
        APPLY_TO_ACCOUNT,
        {
            "account_id": account_id,
            "d_points": points,
            "d_pending": pending_delta,
            "d_debt": debt_delta,
            "now": now,
        },
    ).one()
    movement_id = conn.execute(
        INSERT_MOVEMENT,
        {
            "account_id": account_id,
            "kind": kind,
            "points": points,
            "pending_delta": pending_delta,
            "debt_delta": debt_delta,
            "order_id": order_id,
            "redemption_id": redemption_id,
            "rule_version_id": rule_version_id,
            "batch_id": None,
            "note": note,
            "created_at": now,
        },
    ).scalar_one()
    event_payload: dict[str, Any] = {
        "balance": balances.balance,
        "pending": balances.pending,
        "debt": balances.debt,
        "pending_delta": pending_delta,
        "debt_delta": debt_delta,
    }
    if order_id is not None:
        event_payload["order_id"] = order_id
    event_payload.update(payload or {})
    conn.execute(
        INSERT_EVENT,
        {
            "program_id": program_id,
            "account_id": account_id,
            "type": EVENT_TYPES[kind],
            "movement_id": movement_id,
            "points": points,
            "payload": event_payload,
            "created_at": now,
            "published_at": None,
        },
    )
    return movement_id, balances


def insert_lot(conn: Connection, values: dict[str, Any]) -> int:
    """Insert a lot; returns its id."""
    return int(conn.execute(INSERT_LOT, values).scalar_one())


def take_from_lots_rows(
    conn: Connection,
    *,
    account_id: int,
    movement_id: int,
    points: int,
    now: datetime,
    exclude_lot_id: int = 0,
) -> None:
    """Core twin of ``postings.take_from_lots`` (oldest first, allocation rows)."""
    from recompra.errors import InsufficientBalance

    lots = conn.execute(
        SPENDABLE_LOTS,
        {"account_id": account_id, "now": now, "exclude_lot_id": exclude_lot_id, "points": points},
    ).all()
    left = points
    taken: list[dict[str, Any]] = []
    for lot_id, remaining in lots:
        if left == 0:
            break
        used = min(left, int(remaining))
        left -= used
        taken.append({"lot_id": lot_id, "used": used})
    if left:
        raise InsufficientBalance(f"lots hold {points - left} of the {points} points needed")
    conn.execute(TAKE_FROM_LOT, taken)
    conn.execute(
        INSERT_ALLOCATION,
        [
            {
                "movement_id": movement_id,
                "lot_id": t["lot_id"],
                "debt_id": None,
                "points": t["used"],
            }
            for t in taken
        ],
    )
