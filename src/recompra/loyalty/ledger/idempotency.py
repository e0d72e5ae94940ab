"""Idempotency keys: ``(program_id, scope, key)`` is unique, the stored result replays.

Every ledger write follows one protocol (ADR 0003): look the key up under the account
lock and replay a stored result; otherwise write, then store the key with its result at
the end (``INSERT ... ON CONFLICT DO NOTHING``). The lookup under the account lock
already serialises writers of one account, so a conflict on the insert can only come
from a concurrent write with the same key on another account or reward: ``store_key``
raises ``Conflict`` and the unit of work rolls everything back (a retry replays).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from recompra.db.dialect import insert_ignoring_conflicts, serialises_writes
from recompra.errors import Conflict, InvalidInput
from recompra.loyalty.errors import IdempotencyKeyReused
from recompra.loyalty.ledger.locks import ACCOUNTS, lock_account_row
from recompra.loyalty.ledger.postings import HAS_DUE_LOTS, has_due_lots
from recompra.loyalty.prepared import Prepared, Record, run, written_columns
from recompra.loyalty.programs import ensure_account, holder_condition
from recompra.models.loyalty import LoyaltyIdempotencyKey

MAX_KEY_LENGTH = 128
KEYS = cast(Table, LoyaltyIdempotencyKey.__table__)
#: The stored result of ``(:program_id, :scope, :key)``, to select with other facts.
STORED_RESULT = select(KEYS.c.result).where(
    KEYS.c.program_id == bindparam("program_id"),
    KEYS.c.scope == bindparam("scope"),
    KEYS.c.key == bindparam("key"),
)
FIND_KEY = Prepared(STORED_RESULT)
#: The key's stored result and whether the account has lots to settle: the two questions
#: every hot-path write asks under the account lock, in one round trip.
FIND_KEY_AND_DUE = Prepared(
    select(STORED_RESULT.scalar_subquery().label("stored"), HAS_DUE_LOTS.label("due"))
)
#: Where the write lock is the database's (:func:`serialises_writes`: SQLite), the
#: customer's account row with :data:`FIND_KEY_AND_DUE`'s two answers, in one statement.
ACCOUNT_WITH_KEY_AND_DUE = Prepared(
    select(
        ACCOUNTS,
        STORED_RESULT.scalar_subquery().label("stored"),
        has_due_lots(ACCOUNTS.c.id).label("due"),
    ).where(holder_condition())
)
STORE_KEY = Prepared(
    lambda dialect: insert_ignoring_conflicts(
        dialect, KEYS, index_elements=("program_id", "scope", "key"), returning="program_id"
    ),
    columns=written_columns(KEYS),
)


def check_key(key: str) -> None:
    """Refuse an empty or over-long key before anything is written."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(
            f"idempotency key must be 1-{MAX_KEY_LENGTH} characters", field="request_key"
        )


def find_stored(
    session: Session, *, program_id: int, scope: str, key: str
) -> dict[str, Any] | None:
    """The stored result of an earlier write with this key, or ``None``."""
    check_key(key)
    row = run(session, FIND_KEY, {"program_id": program_id, "scope": scope, "key": key}).first()
    return None if row is None else dict(row[0])


def lock_account_and_find_stored(
    session: Session,
    *,
    program_id: int,
    customer_id: int,
    scope: str,
    key: str,
    now: datetime,
    create: bool = False,
) -> tuple[Record | None, dict[str, Any] | None, bool]:
    """Lock the account holding the customer's points, then ask :data:`FIND_KEY_AND_DUE`.

    Returns (the account row or ``None`` when there is none, the key's stored result,
    whether the account has lots due). With ``create`` a missing account is opened first.
    One statement where the database serialises writers (SQLite), else two: the lock,
    then the questions in a statement of their own (see :func:`serialises_writes`).
    """
    check_key(key)
    params = {
        "program_id": program_id,
        "customer_id": customer_id,
        "scope": scope,
        "key": key,
        "now": now,
    }
    found = _lock_and_ask(session, params)
    if found[0] is None and create:
        ensure_account(session, program_id=program_id, customer_id=customer_id)
        found = _lock_and_ask(session, params)
        assert found[0] is not None, "the account was opened in this transaction"
    return found


def _lock_and_ask(
    session: Session, params: dict[str, Any]
) -> tuple[Record | None, dict[str, Any] | None, bool]:
    """:func:`lock_account_and_find_stored` for an account that exists (else ``None``)."""
    if serialises_writes(session):
        row = run(session, ACCOUNT_WITH_KEY_AND_DUE, params).first()
        if row is None:
            return None, None, False
        return (row, *stored_and_due(row))
    row = lock_account_row(
        session, program_id=params["program_id"], customer_id=params["customer_id"]
    )
    if row is None:
        return None, None, False
    params = {**params, "account_id": row.id}
    return (row, *stored_and_due(run(session, FIND_KEY_AND_DUE, params).one()))


def stored_and_due(row: Record) -> tuple[dict[str, Any] | None, bool]:
    """The ``stored`` and ``due`` columns of a row that selected :data:`FIND_KEY_AND_DUE`'s."""
    return (None if row.stored is None else dict(row.stored)), bool(row.due)


def check_owner(stored: dict[str, Any], *, account_id: int, key: str) -> None:
    """Refuse a key that an earlier write used for another account."""
    if stored.get("account_id") != account_id:
        raise IdempotencyKeyReused(f"idempotency key {key!r} was used for another account")


def store_key(
    session: Session,
    *,
    program_id: int,
    scope: str,
    key: str,
    result: dict[str, Any],
    now: datetime,
    busy: str,
    field: str | None = None,
) -> None:
    """Insert the key with its result.

    Raises ``Conflict(busy)`` when another transaction stored the key first: the unit of
    work rolls back and the client's retry replays the stored result.
    """
    row = run(
        session,
        STORE_KEY,
        {"program_id": program_id, "scope": scope, "key": key, "result": result, "created_at": now},
    ).first()
    if row is None:
        raise Conflict(busy, field=field)
