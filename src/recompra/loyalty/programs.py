"""Programs (one active per brand) and accounts (one per customer and program).

A customer who buys for a B2B company account (``hub.accounts``) at one of the program's
brands has no account of their own: every lookup below resolves them to the company's
pooled account, so earning, redeeming and reading all go through one balance.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import ColumnElement, Select, Table, and_, bindparam, exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from recompra.db.dialect import insert_ignoring_conflicts
from recompra.errors import Conflict, InvalidInput, NotFound
from recompra.loyalty.errors import ProgramInactive
from recompra.loyalty.prepared import Prepared, run
from recompra.models.accounts import CompanyAccountMember
from recompra.models.base import utcnow
from recompra.models.brand import Brand
from recompra.models.customer import Customer
from recompra.models.loyalty import LoyaltyAccount, LoyaltyCoalitionMember, LoyaltyProgram
from recompra.models.order import Order

_ACCOUNTS = cast(Table, LoyaltyAccount.__table__)
_MEMBERS = cast(Table, CompanyAccountMember.__table__)


# The company account the customer buys for at one of the program's brands (its own or
# a coalition member's), if any (the lowest id if several). ``min()`` rather than
# ``ORDER BY ... LIMIT 1``: the same row, or ``NULL`` when there is none, without
# SQLite's sorter. The brand test is an equality with the program's brand or an
# ``EXISTS`` among its coalition members, on the customer's few memberships: an ``IN``
# over the program's brands (a ``UNION ALL``) made SQLite build a temporary table of them
# at each evaluation, and every ledger write evaluates this twice in its lock statement
# (:func:`holder_condition`): 12.3 µs for that statement, 9.5 µs this way (SQLite, hot
# cache).
def pool_of(customer_id: ColumnElement[Any]) -> Select[Any]:
    """The pool of the customer ``customer_id`` (a parameter or a column: see above)."""
    return select(func.min(_MEMBERS.c.account_id)).where(
        _MEMBERS.c.customer_id == customer_id,
        or_(
            _MEMBERS.c.brand_id
            == select(LoyaltyProgram.brand_id)
            .where(LoyaltyProgram.id == bindparam("program_id"))
            .scalar_subquery(),
            exists().where(
                LoyaltyCoalitionMember.program_id == bindparam("program_id"),
                LoyaltyCoalitionMember.brand_id == _MEMBERS.c.brand_id,
            ),
        ),
    )


POOL_OF_CUSTOMER = pool_of(bindparam("customer_id"))


def holder_condition(customer_id: ColumnElement[Any] | None = None) -> ColumnElement[bool]:
    """``loyalty_accounts`` rows holding ``:customer_id``'s points in ``:program_id`` (or
    those of the customer in the column ``customer_id``, e.g. an order's buyer).

    The pooled account of their company when they buy for one, else their own account.
    """
    customer = bindparam("customer_id") if customer_id is None else customer_id
    pool = pool_of(customer).scalar_subquery()
    return and_(
        _ACCOUNTS.c.program_id == bindparam("program_id"),
        or_(
            _ACCOUNTS.c.company_account_id == pool,
            and_(
                _ACCOUNTS.c.customer_id == customer,
                _ACCOUNTS.c.company_account_id.is_(None),
                pool.is_(None),
            ),
        ),
    )


FIND_HOLDER = select(LoyaltyAccount).where(holder_condition())
#: Whether the customer exists, and the company pool they buy for at the program's
#: brands (if any): what opening an account needs, in one round trip.
ACCOUNT_OPENING = Prepared(
    select(
        select(Customer.id)
        .where(Customer.id == bindparam("customer_id"))
        .scalar_subquery()
        .label("customer_id"),
        POOL_OF_CUSTOMER.scalar_subquery().label("pool"),
    )
)
#: Opens an account; a concurrent opening of the same one (unique by holder: the
#: customer's own account, or the company's pool) makes it do nothing.
OPEN_ACCOUNT = Prepared(
    lambda dialect: insert_ignoring_conflicts(dialect, _ACCOUNTS, index_elements=()),
    columns=(
        "program_id",
        "customer_id",
        "company_account_id",
        "balance",
        "pending",
        "debt",
        "created_at",
        "updated_at",
    ),
)


def active_program_condition() -> ColumnElement[bool]:
    """``loyalty_programs`` rows active for ``:brand_id``: its own, or the coalition
    program it joined (the lowest id is *the* active program)."""
    return and_(
        LoyaltyProgram.status == "active",
        or_(
            LoyaltyProgram.brand_id == bindparam("brand_id"),
            LoyaltyProgram.id.in_(
                select(LoyaltyCoalitionMember.program_id).where(
                    LoyaltyCoalitionMember.brand_id == bindparam("brand_id")
                )
            ),
        ),
    )


#: Built once: the brand's active program (see :func:`active_program_condition`).
ACTIVE_PROGRAM = (
    select(LoyaltyProgram).where(active_program_condition()).order_by(LoyaltyProgram.id).limit(1)
)
#: The id of the brand's active program (see :func:`active_program_condition`).
_ACTIVE_PROGRAM_ID = (
    select(LoyaltyProgram.id)
    .where(active_program_condition())
    .order_by(LoyaltyProgram.id)
    .limit(1)
    .scalar_subquery()
    .label("program_id")
)
#: Without an ORM object: what a loyalty write needs of the program.
ACTIVE_PROGRAM_ID = Prepared(select(_ACTIVE_PROGRAM_ID))
#: The brand's active program and the customer of one of the brand's own orders, in one
#: round trip: what an earn request checks before the ledger.
EARN_TARGET = Prepared(
    select(
        _ACTIVE_PROGRAM_ID,
        select(Order.customer_id)
        .where(Order.id == bindparam("order_id"), Order.brand_id == bindparam("brand_id"))
        .scalar_subquery()
        .label("customer_id"),
    ),
    # Planning it cost PostgreSQL 0.2 ms of CPU an earn, running it prepared 0.03 ms; its
    # plan (two lookups by key) does not depend on the values. Withdrawn in a1ffe3c on a
    # benchmark whose two servers earned overlapping customers' orders (a8b0417).
    server_prepared=True,
)


class NoActiveProgram(NotFound):
    """The brand runs no active loyalty program (its own or a coalition's)."""

    def __init__(self) -> None:
        super().__init__("this brand runs no active loyalty program", field="brand_id")


def create_program(
    session: Session,
    *,
    brand_id: int,
    name: str,
    currency: str = "BRL",
    return_window_days: int = 7,
    release_on: str = "window",
    expiry_days: int = 365,
    expiry_warning_days: int = 30,
    refund_validity_days: int = 30,
    tier_window_days: int = 365,
    tier_review_days: int = 365,
    tier_grace_days: int = 30,
) -> LoyaltyProgram:
    """Create the active program of a brand (a brand runs at most one)."""
    if session.get(Brand, brand_id) is None:
        raise NotFound(f"brand {brand_id} not found", field="brand_id")
    if release_on not in ("window", "delivery"):
        raise InvalidInput("release_on must be 'window' or 'delivery'", field="release_on")
    if return_window_days < 0 or expiry_days <= 0 or expiry_warning_days < 0:
        raise InvalidInput("windows must be non-negative and expiry positive", field="expiry_days")
    existing = active_program_for_brand(session, brand_id=brand_id)
    if existing is not None:
        raise Conflict(
            f"brand {brand_id} already runs (or joined) program {existing.id}", field="brand_id"
        )
    program = LoyaltyProgram(
        brand_id=brand_id,
        name=name,
        status="active",
        currency=currency,
        return_window_days=return_window_days,
        release_on=release_on,
        expiry_days=expiry_days,
        expiry_warning_days=expiry_warning_days,
        refund_validity_days=refund_validity_days,
        tier_window_days=tier_window_days,
        tier_review_days=tier_review_days,
        tier_grace_days=tier_grace_days,
        created_at=utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(program)
            session.flush()
    except IntegrityError as exc:
        raise Conflict(f"brand {brand_id} already runs an active program") from exc
    return program


def archive_program(session: Session, *, program_id: int) -> LoyaltyProgram:
    """Archive a program: balances stay readable, no more earning or redemption."""
    program = get_program(session, program_id=program_id)
    program.status = "archived"
    return program


def get_program(session: Session, *, program_id: int, active: bool = False) -> LoyaltyProgram:
    """Load a program; with ``active=True`` refuse an archived one."""
    program = session.get(LoyaltyProgram, program_id)
    if program is None:
        raise NotFound(f"loyalty program {program_id} not found", field="program_id")
    if active and program.status != "active":
        raise ProgramInactive(f"loyalty program {program_id} is archived")
    return program


def active_program_for_brand(session: Session, *, brand_id: int) -> LoyaltyProgram | None:
    """The brand's active program, if any: its own, or the coalition program it joined."""
    return session.scalars(ACTIVE_PROGRAM, {"brand_id": brand_id}).first()


def active_program_id(session: Session, *, brand_id: int) -> int:
    """The id of the brand's active program, or :class:`NoActiveProgram`."""
    program_id = run(session, ACTIVE_PROGRAM_ID, {"brand_id": brand_id}).scalar()
    if program_id is None:
        raise NoActiveProgram()
    return int(program_id)


def earn_target(session: Session, *, brand_id: int, order_id: int) -> tuple[int, int]:
    """The brand's active program and the customer of the brand's order ``order_id``.

    An order of another brand is not found, even one of the same coalition: a brand
    earns only its own orders.
    """
    row = run(session, EARN_TARGET, {"brand_id": brand_id, "order_id": order_id}).one()
    if row.program_id is None:
        raise NoActiveProgram()
    if row.customer_id is None:
        raise NotFound(f"order {order_id} not found", field="order_id")
    return int(row.program_id), int(row.customer_id)


def find_account(session: Session, *, program_id: int, customer_id: int) -> LoyaltyAccount | None:
    """The account holding the customer's points in the program (their company's pool
    when they buy for one), if it exists."""
    params = {"program_id": program_id, "customer_id": customer_id}
    return session.scalars(FIND_HOLDER, params).first()


def get_account(session: Session, *, program_id: int, customer_id: int) -> LoyaltyAccount:
    """The customer's account in the program, or ``NotFound``."""
    account = find_account(session, program_id=program_id, customer_id=customer_id)
    if account is None:
        raise NotFound(
            f"customer {customer_id} has no account in program {program_id}", field="customer_id"
        )
    return account


def pool_contact(session: Session, company_account_id: int, customer_id: int) -> int:
    """Who a new pooled account is addressed to: the company's owner, else this buyer."""
    owner = session.scalar(
        select(CompanyAccountMember.customer_id)
        .where(
            CompanyAccountMember.account_id == company_account_id,
            CompanyAccountMember.role == "owner",
        )
        .order_by(CompanyAccountMember.id)
        .limit(1)
    )
    return int(owner) if owner is not None else customer_id


def ensure_account(session: Session, *, program_id: int, customer_id: int) -> LoyaltyAccount:
    """Return the account holding the customer's points, creating it (race-safe) on first
    use: their company's pooled account when they buy for one, else their own."""
    account = find_account(session, program_id=program_id, customer_id=customer_id)
    if account is not None:
        return account
    params = {"program_id": program_id, "customer_id": customer_id}
    opening = run(session, ACCOUNT_OPENING, params).one()
    if opening.customer_id is None:
        raise NotFound(f"customer {customer_id} not found", field="customer_id")
    pool = opening.pool
    holder = customer_id if pool is None else pool_contact(session, pool, customer_id)
    now = utcnow()
    # Core, not an ORM flush in a savepoint: a first earn opens an account, and the ORM
    # path was a fifth of that request's CPU time (issue 20). A transaction that opened
    # the same account first makes this insert do nothing; either way it exists now.
    run(
        session,
        OPEN_ACCOUNT,
        {
            "program_id": program_id,
            "customer_id": holder,
            "company_account_id": pool,
            "balance": 0,
            "pending": 0,
            "debt": 0,
            "created_at": now,
            "updated_at": now,
        },
    )
    return get_account(session, program_id=program_id, customer_id=customer_id)
