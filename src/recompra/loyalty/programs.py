"""Programs (one active per brand) and accounts (one per customer and program).

A customer who buys for a B2B company account (``hub.accounts``) at one of the program's
brands has no account of their own: every lookup below resolves them to the company's
pooled account, so earning, redeeming and reading all go through one balance.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import ColumnElement, Table, and_, bindparam, or_, select, union
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from recompra.errors import Conflict, InvalidInput, NotFound
from recompra.loyalty.errors import ProgramInactive
from recompra.models.accounts import CompanyAccountMember
from recompra.models.base import utcnow
from recompra.models.brand import Brand
from recompra.models.customer import Customer
from recompra.models.loyalty import LoyaltyAccount, LoyaltyCoalitionMember, LoyaltyProgram

_ACCOUNTS = cast(Table, LoyaltyAccount.__table__)
_MEMBERS = cast(Table, CompanyAccountMember.__table__)
#: The brands a program runs in: its own and the coalition members'.
PROGRAM_BRANDS = union(
    select(LoyaltyProgram.brand_id).where(LoyaltyProgram.id == bindparam("program_id")),
    select(LoyaltyCoalitionMember.brand_id).where(
        LoyaltyCoalitionMember.program_id == bindparam("program_id")
    ),
)
#: The company account the customer buys for at one of the program's brands, if any.
POOL_OF_CUSTOMER = (
    select(_MEMBERS.c.account_id)
    .where(
        _MEMBERS.c.customer_id == bindparam("customer_id"),
        _MEMBERS.c.brand_id.in_(PROGRAM_BRANDS),
    )
    .order_by(_MEMBERS.c.account_id)
    .limit(1)
)


def holder_condition() -> ColumnElement[bool]:
    """``loyalty_accounts`` rows holding ``:customer_id``'s points in ``:program_id``.

    The pooled account of their company when they buy for one, else their own account.
    """
    pool = POOL_OF_CUSTOMER.scalar_subquery()
    return and_(
        _ACCOUNTS.c.program_id == bindparam("program_id"),
        or_(
            _ACCOUNTS.c.company_account_id == pool,
            and_(
                _ACCOUNTS.c.customer_id == bindparam("customer_id"),
                _ACCOUNTS.c.company_account_id.is_(None),
                pool.is_(None),
            ),
        ),
    )


FIND_HOLDER = select(LoyaltyAccount).where(holder_condition())


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


def find_account(session: Session, *, program_id: int, customer_id: int) -> LoyaltyAccount | None:
    """The account holding the customer's points in the program (their company's pool
    when they buy for one), if it exists."""
    params = {"program_id": program_id, "customer_id": customer_id}
    return session.scalars(FIND_HOLDER, params).first()


def pool_of_customer(session: Session, *, program_id: int, customer_id: int) -> int | None:
    """The company account whose pool holds the customer's points, if any."""
    params: dict[str, Any] = {"program_id": program_id, "customer_id": customer_id}
    found = session.execute(POOL_OF_CUSTOMER, params).scalar()
    return int(found) if found is not None else None


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
    if session.get(Customer, customer_id) is None:
        raise NotFound(f"customer {customer_id} not found", field="customer_id")
    pool = pool_of_customer(session, program_id=program_id, customer_id=customer_id)
    now = utcnow()
    account = LoyaltyAccount(
        program_id=program_id,
        customer_id=customer_id if pool is None else pool_contact(session, pool, customer_id),
        company_account_id=pool,
        balance=0,
        pending=0,
        debt=0,
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(account)
            session.flush()
    except IntegrityError:
        # Another transaction created it first (unique per program and holder).
        return get_account(session, program_id=program_id, customer_id=customer_id)
    return account
