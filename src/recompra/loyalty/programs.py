"""Programs (one active per brand) and accounts (one per customer and program)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from recompra.errors import Conflict, InvalidInput, NotFound
from recompra.loyalty.errors import ProgramInactive
from recompra.models.base import utcnow
from recompra.models.brand import Brand
from recompra.models.customer import Customer
from recompra.models.loyalty import LoyaltyAccount, LoyaltyProgram


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
        raise Conflict(f"brand {brand_id} already runs program {existing.id}", field="brand_id")
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
    """The brand's active program, if any."""
    stmt = select(LoyaltyProgram).where(
        LoyaltyProgram.brand_id == brand_id, LoyaltyProgram.status == "active"
    )
    return session.scalars(stmt).first()


def find_account(session: Session, *, program_id: int, customer_id: int) -> LoyaltyAccount | None:
    """The customer's account in the program, if it exists."""
    stmt = select(LoyaltyAccount).where(
        LoyaltyAccount.program_id == program_id, LoyaltyAccount.customer_id == customer_id
    )
    return session.scalars(stmt).first()


def get_account(session: Session, *, program_id: int, customer_id: int) -> LoyaltyAccount:
    """The customer's account in the program, or ``NotFound``."""
    account = find_account(session, program_id=program_id, customer_id=customer_id)
    if account is None:
        raise NotFound(
            f"customer {customer_id} has no account in program {program_id}", field="customer_id"
        )
    return account


def ensure_account(session: Session, *, program_id: int, customer_id: int) -> LoyaltyAccount:
    """Return the customer's account, creating it (race-safe) on first use."""
    account = find_account(session, program_id=program_id, customer_id=customer_id)
    if account is not None:
        return account
    if session.get(Customer, customer_id) is None:
        raise NotFound(f"customer {customer_id} not found", field="customer_id")
    now = utcnow()
    account = LoyaltyAccount(
        program_id=program_id,
        customer_id=customer_id,
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
        # Another transaction created it first (unique program_id, customer_id).
        return get_account(session, program_id=program_id, customer_id=customer_id)
    return account
