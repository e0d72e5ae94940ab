"""Scheduled jobs: release due pending points, expire lots in bulk, warn before expiry.

Expiry is set-based SQL in bounded batches of accounts (five statements per batch whatever
the number of lots): one ``expire`` movement and one event per account, the account
balances decremented in one ``UPDATE ... FROM``, the lots marked (state, points, time) in
one ``UPDATE``. Accounts are locked first, in id order, like every other ledger write, so
the job and online writers cannot deadlock. Each batch is one transaction in
:func:`expire_in_batches`: a crash leaves every batch either applied or not at all. On
PostgreSQL the daily job expires two disjoint account ranges at once, on two connections
(:func:`expiry_workers`): the work is the server's, per lot, and one connection keeps it
on one core.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cache, reduce
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Engine,
    Select,
    Table,
    and_,
    bindparam,
    exists,
    func,
    insert,
    literal,
    literal_column,
    select,
    update,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql import Insert, Update

from recompra.db import unit_of_work
from recompra.db.dialect import is_sqlite, json_object
from recompra.loyalty.ledger.locks import lock_account
from recompra.loyalty.ledger.settlement import settle_account
from recompra.loyalty.programs import get_program
from recompra.models.loyalty import (
    LoyaltyAccount,
    LoyaltyEvent,
    LoyaltyLot,
    LoyaltyMovement,
    LoyaltyProgram,
)

#: Accounts per expiry batch: bounds the rows one batch writes and, in
#: :func:`expire_in_batches`, how long its account locks are held (online writers of a
#: locked account wait for the batch's commit).
EXPIRY_BATCH_ACCOUNTS = 5_000
#: Connections the daily job expires with on PostgreSQL (:func:`expiry_workers`): the
#: job's cost is the server's work per lot, which one connection keeps on one core.
EXPIRY_WORKERS = 2
#: Above every account id (a bigint): the open end of the last account range.
LAST_ACCOUNT_ID = 2**63 - 1

_A = cast(Table, LoyaltyAccount.__table__)
_L = cast(Table, LoyaltyLot.__table__)
_M = cast(Table, LoyaltyMovement.__table__)


@dataclass(frozen=True)
class ExpiryReport:
    """What one run of the expiry job did."""

    batch_id: str
    accounts: int
    lots: int
    points: int

    def plus(self, other: ExpiryReport) -> ExpiryReport:
        """Both runs' totals (under this run's batch id)."""
        return replace(
            self,
            accounts=self.accounts + other.accounts,
            lots=self.lots + other.lots,
            points=self.points + other.points,
        )


def _in_batch(account_id: Any, *, scoped: bool) -> ColumnElement[bool]:
    """Accounts with ids in ``(:after, :last]`` (of ``:program_id`` when ``scoped``).

    The batch's locked accounts are exactly those of this range that held a due lot when
    locked; the others hold none: a lot only comes due when ``:now`` passes its date, and
    ``:now`` is fixed for the run. A range, not a list of ids, keeps the statements small
    and lets both databases read the (account, state, expiry) index in order.
    """
    in_range = and_(account_id > bindparam("after"), account_id <= bindparam("last"))
    if not scoped:
        return in_range
    return and_(
        in_range,
        account_id.in_(
            select(_A.c.id).where(
                _A.c.program_id == bindparam("scope_program_id"),
                _A.c.id > bindparam("after"),
                _A.c.id <= bindparam("last"),
            )
        ),
    )


@dataclass(frozen=True)
class _Statements:
    """The expiry job's statements for one dialect and scope (one program, or all)."""

    lock: Select[Any]
    movements: Insert
    balances: Update
    events: Insert
    lots: Update


#: Written as SQL text, not a bound parameter, so both planners see that the partial
#: index ``ix_loyalty_lots_account_active`` (``WHERE state = 'active'``) covers the query.
_ACTIVE = _L.c.state == literal_column("'active'")


@cache
def _statements(scoped: bool, dialect: Dialect) -> _Statements:
    due = and_(
        _in_batch(_L.c.account_id, scoped=scoped),
        _ACTIVE,
        _L.c.expires_at <= bindparam("now"),
    )
    lock = select(_A.c.id).where(
        _A.c.id > bindparam("after"),
        _A.c.id <= bindparam("until"),
        exists().where(
            _L.c.account_id == _A.c.id,
            _ACTIVE,
            _L.c.expires_at <= bindparam("now"),
        ),
    )
    if scoped:
        lock = lock.where(_A.c.program_id == bindparam("scope_program_id"))
    moves = (
        select(_M.c.id, _M.c.account_id, _M.c.points)
        .where(
            _M.c.account_id > bindparam("after"),
            _M.c.account_id <= bindparam("last"),
            _M.c.batch_id == bindparam("batch_id"),
        )
        .subquery("moves")
    )
    now = bindparam("now", type_=_M.c.created_at.type)
    batch_id = bindparam("batch_id", type_=_M.c.batch_id.type)
    return _Statements(
        # Accounts first, in id order, like every other ledger write: no deadlock with
        # online writers.
        lock=lock.order_by(_A.c.id).limit(bindparam("limit")).with_for_update(),
        # One ``expire`` movement per account: minus what its due lots still hold.
        movements=insert(_M)
        .from_select(
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
            select(
                _L.c.account_id,
                literal("expire"),
                -func.sum(_L.c.remaining),
                literal(0),
                literal(0),
                batch_id,
                literal("expiry job"),
                now,
            )
            .where(due, _L.c.remaining > 0)
            .group_by(_L.c.account_id),
        )
        .returning(_M.c.points),
        balances=update(_A)
        .where(_A.c.id == moves.c.account_id)
        .values(balance=_A.c.balance + moves.c.points, updated_at=now),
        events=insert(LoyaltyEvent).from_select(
            ["program_id", "account_id", "type", "movement_id", "points", "payload", "created_at"],
            select(
                _A.c.program_id,
                moves.c.account_id,
                literal("points_expired"),
                moves.c.id,
                moves.c.points,
                json_object(dialect, "balance", _A.c.balance, "batch_id", batch_id),
                now,
            ).join(_A, _A.c.id == moves.c.account_id),
        ),
        # No allocation row per lot (a million rows, each checked against two foreign
        # keys): ``expired_at`` equal to the movement's ``created_at`` links each lot to
        # its account's ``expire`` movement, and ``expired_points`` says how many points
        # it gave. Only columns no index holds change, besides ``state``, which only
        # partial indexes' conditions name: the lot leaves them, enters none.
        lots=update(_L)
        .where(due)
        .values(
            state="expired",
            expired_points=_L.c.expired_points + _L.c.remaining,
            remaining=0,
            expired_at=now,
            **_unhinted_keys(dialect),
        ),
    )


def _unhinted_keys(dialect: Dialect) -> dict[str, Any]:
    """PostgreSQL: the lots' indexed columns, each set to itself.

    Changing ``state`` makes each lot's update non-HOT: a new entry in each of the three
    indexes without a condition (primary key, account, order). PostgreSQL tells the
    B-tree that an entry's key is unchanged when the ``UPDATE`` does not name its
    columns, and the B-tree then tries, before splitting a full leaf page, to delete
    older versions of those keys first ("bottom-up deletion", which reads their heap
    pages). Here the older version is the lot this very transaction is expiring: nothing
    can be deleted, and the attempt was 8 % of the job's server CPU (``perf``). Naming
    the columns (same values: no key, foreign key or row changes otherwise) skips the
    attempt. Not on SQLite, which rewrites the entries of every index whose column an
    ``UPDATE`` names, whatever the values.
    """
    if dialect.name != "postgresql":
        return {}
    return {"id": _L.c.id, "account_id": _L.c.account_id, "order_id": _L.c.order_id}


def _expire_batch(
    session: Session,
    *,
    now: datetime,
    program_id: int | None,
    batch_id: str,
    after: int,
    until: int = LAST_ACCOUNT_ID,
) -> tuple[ExpiryReport, int] | None:
    """Expire the due lots of the next :data:`EXPIRY_BATCH_ACCOUNTS` accounts in
    ``(after, until]``; ``None`` when none is left, else the batch's report and its last
    account.

    Accounts are locked first, in id order, like every other ledger write, so the job and
    online writers cannot deadlock; then a fixed handful of set-based statements write
    the movements, allocations, balances, events and lot states, whatever the lot count.
    """
    conn = session.connection()
    statements = _statements(program_id is not None, conn.dialect)
    # Not "program_id": an UPDATE would take a parameter named like a column as its SET.
    params: dict[str, Any] = {
        "after": after,
        "until": until,
        "now": now,
        "scope_program_id": program_id,
    }
    ids = conn.execute(statements.lock, {**params, "limit": EXPIRY_BATCH_ACCOUNTS}).all()
    if not ids:
        return None
    params.update(last=ids[-1][0], batch_id=batch_id)
    points = conn.execute(statements.movements, params).scalars().all()
    conn.execute(statements.balances, params)
    conn.execute(statements.events, params)
    lots = conn.execute(statements.lots, params).rowcount
    report = ExpiryReport(batch_id=batch_id, accounts=len(points), lots=lots, points=-sum(points))
    return report, int(ids[-1][0])


def expire_lots(session: Session, *, now: datetime, program_id: int | None = None) -> ExpiryReport:
    """Expire every active lot whose expiry date has passed, in the caller's transaction.

    The work runs in batches of accounts (bounded statements); :func:`expire_in_batches`
    also commits each batch, which the daily job uses so that no lock is held long.
    """
    total = ExpiryReport(batch_id=uuid.uuid4().hex, accounts=0, lots=0, points=0)
    after = 0
    while done := _expire_batch(
        session, now=now, program_id=program_id, batch_id=total.batch_id, after=after
    ):
        report, after = done
        total = total.plus(report)
    session.expire_all()
    return total


def expire_in_batches(
    engine: Engine, *, now: datetime, program_id: int | None = None, workers: int = 1
) -> ExpiryReport:
    """:func:`expire_lots` with one unit of work (transaction) per batch of accounts.

    A crash loses at most the batch in flight; a rerun carries on, since expired lots are
    no longer due. With ``workers`` > 1 the accounts are split into as many id ranges,
    each expired by its own connection at the same time (:func:`expiry_workers`): the
    ranges are disjoint and each batch locks its accounts in id order, so the workers
    never wait for each other and online writers still cannot deadlock with them.
    """
    batch_id = uuid.uuid4().hex
    ranges = account_ranges(engine, program_id=program_id, parts=workers)
    if len(ranges) == 1:
        return _expire_range(
            engine, now=now, program_id=program_id, batch_id=batch_id, ids=ranges[0]
        )
    with ThreadPoolExecutor(max_workers=len(ranges)) as pool:
        reports = list(
            pool.map(
                lambda ids: _expire_range(
                    engine, now=now, program_id=program_id, batch_id=batch_id, ids=ids
                ),
                ranges,
            )
        )
    return reduce(ExpiryReport.plus, reports)


def expiry_workers(engine: Engine) -> int:
    """Connections the daily job expires with: :data:`EXPIRY_WORKERS` on PostgreSQL, one
    on SQLite (one writer at a time: a second connection would only wait)."""
    return 1 if is_sqlite(engine) else EXPIRY_WORKERS


def account_ranges(engine: Engine, *, program_id: int | None, parts: int) -> list[tuple[int, int]]:
    """``parts`` id ranges ``(after, until]`` of equal width covering the accounts (of
    ``program_id``); the last one open-ended, so an account added meanwhile is covered."""
    if parts <= 1:
        return [(0, LAST_ACCOUNT_ID)]
    with unit_of_work(engine, write=False) as session:
        query = select(func.min(_A.c.id), func.max(_A.c.id))
        if program_id is not None:
            query = query.where(_A.c.program_id == program_id)
        first, last = session.execute(query).one()
    if first is None:
        return [(0, LAST_ACCOUNT_ID)]
    width = -(-(last - first + 1) // parts)  # rounded up: ``parts`` ranges cover them all
    afters = list(range(first - 1, last, width))
    return list(zip(afters, [*afters[1:], LAST_ACCOUNT_ID], strict=True))


def _expire_range(
    engine: Engine, *, now: datetime, program_id: int | None, batch_id: str, ids: tuple[int, int]
) -> ExpiryReport:
    """Expire the due lots of the accounts in ``ids`` (``(after, until]``), one unit of
    work per batch."""
    total = ExpiryReport(batch_id=batch_id, accounts=0, lots=0, points=0)
    after, until = ids
    while True:
        with unit_of_work(engine) as session:
            done = _expire_batch(
                session,
                now=now,
                program_id=program_id,
                batch_id=batch_id,
                after=after,
                until=until,
            )
        if done is None:
            return total
        report, after = done
        total = total.plus(report)


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
        report = expire_in_batches(
            engine, now=now, program_id=program_id, workers=expiry_workers(engine)
        )
        summary["expired_lots"] += report.lots
        summary["expired_points"] += report.points
        with unit_of_work(engine) as session:
            summary["warned"] += warn_expiring(session, now=now, program_id=program_id)
    return summary
