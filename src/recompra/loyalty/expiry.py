"""Scheduled jobs: release due pending points, expire lots in bulk, warn before expiry.

Expiry is set-based SQL (a handful of statements whatever the number of lots): one
``expire`` movement and one event per account, one allocation per lot, the account
balances decremented in one ``UPDATE ... FROM``. Accounts are locked first, in id order,
like every other ledger write, so the job and online writers cannot deadlock.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    Engine,
    and_,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.orm import Session

from recompra.db import unit_of_work
from recompra.db.dialect import json_object
from recompra.loyalty.ledger.locks import lock_account
from recompra.loyalty.ledger.settlement import settle_account
from recompra.loyalty.programs import get_program
from recompra.models.loyalty import (
    LoyaltyAccount,
    LoyaltyAllocation,
    LoyaltyEvent,
    LoyaltyLot,
    LoyaltyMovement,
    LoyaltyProgram,
)


@dataclass(frozen=True)
class ExpiryReport:
    """What one run of the expiry job did."""

    batch_id: str
    accounts: int
    lots: int
    points: int


def _due_lots(now: datetime, program_id: int | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [
        LoyaltyLot.state == "active",
        LoyaltyLot.expires_at <= now,
    ]
    if program_id is not None:
        conditions.append(
            LoyaltyLot.account_id.in_(
                select(LoyaltyAccount.id).where(LoyaltyAccount.program_id == program_id)
            )
        )
    return conditions


def expire_lots(session: Session, *, now: datetime, program_id: int | None = None) -> ExpiryReport:
    """Expire every active lot whose expiry date has passed (bulk SQL, one transaction)."""
    batch = uuid.uuid4().hex
    due = _due_lots(now, program_id)
    # Lock order: accounts by id (PostgreSQL); SQLite is already serialised.
    session.execute(
        select(LoyaltyAccount.id)
        .where(LoyaltyAccount.id.in_(select(LoyaltyLot.account_id).where(*due).distinct()))
        .order_by(LoyaltyAccount.id)
        .with_for_update()
    ).all()
    per_account = (
        select(
            LoyaltyLot.account_id,
            literal("expire"),
            -func.sum(LoyaltyLot.remaining),
            literal(0),
            literal(0),
            literal(batch),
            literal("expiry job"),
            literal(now, LoyaltyMovement.created_at.type),
        )
        .where(*due, LoyaltyLot.remaining > 0)
        .group_by(LoyaltyLot.account_id)
    )
    session.execute(
        insert(LoyaltyMovement).from_select(
            [
                "account_id",
                "kind",
                "points",
                "pending_delta",
                "debt_delta",
                "batch_id",
                "note",
                "created_at",
            ],
            per_account,
        )
    )
    moves = select(LoyaltyMovement).where(LoyaltyMovement.batch_id == batch).subquery()
    session.execute(
        insert(LoyaltyAllocation).from_select(
            ["movement_id", "lot_id", "points"],
            select(moves.c.id, LoyaltyLot.id, LoyaltyLot.remaining)
            .join(moves, moves.c.account_id == LoyaltyLot.account_id)
            .where(*due, LoyaltyLot.remaining > 0),
        ),
    )
    session.execute(
        update(LoyaltyAccount)
        .where(LoyaltyAccount.id == moves.c.account_id)
        .values(
            balance=LoyaltyAccount.balance + moves.c.points,
            updated_at=literal(now, LoyaltyAccount.updated_at.type),
        )
    )
    session.execute(
        insert(LoyaltyEvent).from_select(
            ["program_id", "account_id", "type", "movement_id", "points", "payload", "created_at"],
            select(
                LoyaltyAccount.program_id,
                moves.c.account_id,
                literal("points_expired"),
                moves.c.id,
                moves.c.points,
                json_object(session, "balance", LoyaltyAccount.balance, "batch_id", batch),
                literal(now, LoyaltyEvent.created_at.type),
            ).join(LoyaltyAccount, LoyaltyAccount.id == moves.c.account_id),
        )
    )
    session.execute(
        update(LoyaltyLot)
        .where(*due)
        .values(
            state="expired",
            expired_points=LoyaltyLot.expired_points + LoyaltyLot.remaining,
            remaining=0,
        )
        .execution_options(synchronize_session=False)
    )
    totals = session.execute(
        select(func.count(), func.coalesce(func.sum(-LoyaltyMovement.points), 0)).where(
            LoyaltyMovement.batch_id == batch
        )
    ).one()
    lot_rows = session.scalar(
        select(func.count())
        .select_from(LoyaltyAllocation)
        .join(LoyaltyMovement, LoyaltyMovement.id == LoyaltyAllocation.movement_id)
        .where(LoyaltyMovement.batch_id == batch)
    )
    session.expire_all()
    return ExpiryReport(
        batch_id=batch, accounts=int(totals[0]), lots=int(lot_rows or 0), points=int(totals[1])
    )


def warn_expiring(session: Session, *, now: datetime, program_id: int) -> int:
    """One ``points_expiring`` event per account whose lots expire within the warning days."""
    program = get_program(session, program_id=program_id)
    horizon = now + timedelta(days=program.expiry_warning_days)
    in_program = LoyaltyLot.account_id.in_(
        select(LoyaltyAccount.id).where(LoyaltyAccount.program_id == program_id)
    )
    due = and_(
        LoyaltyLot.state == "active",
        LoyaltyLot.remaining > 0,
        LoyaltyLot.warned_at.is_(None),
        LoyaltyLot.expires_at > now,
        LoyaltyLot.expires_at <= horizon,
        in_program,
    )
    rows = session.scalar(select(func.count(func.distinct(LoyaltyLot.account_id))).where(due))
    session.execute(
        insert(LoyaltyEvent).from_select(
            ["program_id", "account_id", "type", "points", "payload", "created_at"],
            select(
                literal(program_id),
                LoyaltyLot.account_id,
                literal("points_expiring"),
                func.sum(LoyaltyLot.remaining),
                json_object(
                    session,
                    "first_expires_at",
                    func.min(LoyaltyLot.expires_at),
                    "days",
                    program.expiry_warning_days,
                ),
                literal(now, LoyaltyEvent.created_at.type),
            )
            .where(due)
            .group_by(LoyaltyLot.account_id),
        ),
    )
    session.execute(
        update(LoyaltyLot)
        .where(due)
        .values(warned_at=literal(now, LoyaltyLot.warned_at.type))
        .execution_options(synchronize_session=False)
    )
    return int(rows or 0)


def release_due(session: Session, *, now: datetime, program_id: int) -> int:
    """Release pending lots past their return window, account by account (locked)."""
    program = get_program(session, program_id=program_id)
    account_ids = session.scalars(
        select(LoyaltyLot.account_id)
        .join(LoyaltyAccount, LoyaltyAccount.id == LoyaltyLot.account_id)
        .where(
            LoyaltyAccount.program_id == program_id,
            LoyaltyLot.state == "pending",
            LoyaltyLot.release_at <= now,
        )
        .distinct()
        .order_by(LoyaltyLot.account_id)
    ).all()
    for account_id in account_ids:
        account = lock_account(session, account_id=account_id)
        settle_account(session, account=account, program=program, now=now)
    return len(account_ids)


def run_jobs(engine: Engine, *, now: datetime) -> dict[str, int]:
    """The daily job: release, expire, warn, each in its own unit of work per program."""
    with unit_of_work(engine, write=False) as session:
        program_ids = session.scalars(
            select(LoyaltyProgram.id).where(LoyaltyProgram.status == "active")
        ).all()
    summary = {"released_accounts": 0, "expired_lots": 0, "expired_points": 0, "warned": 0}
    for program_id in program_ids:
        with unit_of_work(engine) as session:
            summary["released_accounts"] += release_due(session, now=now, program_id=program_id)
        with unit_of_work(engine) as session:
            report = expire_lots(session, now=now, program_id=program_id)
            summary["expired_lots"] += report.lots
            summary["expired_points"] += report.points
        with unit_of_work(engine) as session:
            summary["warned"] += warn_expiring(session, now=now, program_id=program_id)
    return summary
