"""Row locks, always taken in one fixed order: accounts (by id), then rewards (by id).

Lots, debts and allocations are only written by the holder of their account's lock, so
they need no lock of their own. On PostgreSQL this is ``SELECT ... FOR UPDATE``; on
SQLite the write unit of work already holds the database write lock (``BEGIN
IMMEDIATE``) and SQLAlchemy leaves ``FOR UPDATE`` out.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterable
from typing import cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from recompra.errors import NotFound
from recompra.loyalty.prepared import Prepared, Record, run
from recompra.loyalty.programs import ensure_account, holder_condition
from recompra.models.loyalty import LoyaltyAccount, LoyaltyReward


def lock_accounts(session: Session, *, account_ids: Iterable[int]) -> list[LoyaltyAccount]:
    """Lock accounts in ascending id order and return them freshly read."""
    ids = sorted(set(account_ids))
    stmt = (
        select(LoyaltyAccount)
        .where(LoyaltyAccount.id.in_(ids))
        .order_by(LoyaltyAccount.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    accounts = list(session.scalars(stmt))
    if len(accounts) != len(ids):
        raise NotFound("loyalty account not found", field="account_id")
    return accounts


def lock_account(session: Session, *, account_id: int) -> LoyaltyAccount:
    """Lock one account (see :func:`lock_accounts`)."""
    return lock_accounts(session, account_ids=[account_id])[0]


def lock_reward(session: Session, *, reward_id: int) -> LoyaltyReward:
    """Lock one reward; call only after the account locks."""
    stmt = (
        select(LoyaltyReward)
        .where(LoyaltyReward.id == reward_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    reward = session.scalars(stmt).first()
    if reward is None:
        raise NotFound("reward not found", field="reward")
    return reward


ACCOUNTS = cast(Table, LoyaltyAccount.__table__)
#: An account's columns cut out of a wider row (a statement that read the account with
#: other facts, where the database serialises writers: ``idempotency.serialises_writes``).
AccountRow = namedtuple("AccountRow", [c.key for c in ACCOUNTS.c])  # type: ignore[misc]
ACCOUNT_WIDTH = len(ACCOUNTS.c)
#: The account holding the customer's points (their company's pool, if any), locked.
LOCK_ACCOUNT_ROW = Prepared(select(ACCOUNTS).where(holder_condition()).with_for_update())
READ_ACCOUNT_ROW = Prepared(select(ACCOUNTS).where(ACCOUNTS.c.id == bindparam("account_id")))


def lock_account_row(session: Session, *, program_id: int, customer_id: int) -> Record | None:
    """Lock the account holding the customer's points (one round trip); ``None`` if absent."""
    params = {"program_id": program_id, "customer_id": customer_id}
    return run(session, LOCK_ACCOUNT_ROW, params).first()


def lock_or_open_account_row(session: Session, *, program_id: int, customer_id: int) -> Record:
    """The customer's account row, locked; the account is created on first use."""
    row = lock_account_row(session, program_id=program_id, customer_id=customer_id)
    if row is None:
        ensure_account(session, program_id=program_id, customer_id=customer_id)
        row = lock_account_row(session, program_id=program_id, customer_id=customer_id)
        assert row is not None, "the account was created in this transaction"
    return row


def read_account_row(session: Session, *, account_id: int) -> Record:
    """Re-read an account this transaction holds locked."""
    return run(session, READ_ACCOUNT_ROW, {"account_id": account_id}).one()


def locked_account_object(session: Session, *, account_id: int) -> LoyaltyAccount:
    """The ORM object of an account this transaction already holds locked, read afresh."""
    account = session.get(LoyaltyAccount, account_id, populate_existing=True)
    if account is None:
        raise NotFound(f"loyalty account {account_id} not found", field="account_id")
    return account
