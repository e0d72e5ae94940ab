"""B2B company accounts of a brand: create one, add or remove its buyers, and find the
account a customer buys for.

Kept small on purpose: the loyalty pool and the commercial pipeline (a won deal becomes
an account) build on these four functions.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from recompra.errors import Conflict, InvalidInput, NotFound
from recompra.models.accounts import MEMBER_ROLES, CompanyAccount, CompanyAccountMember
from recompra.models.base import utcnow
from recompra.models.brand import Brand
from recompra.models.customer import BrandCustomer


@dataclass(frozen=True)
class Membership:
    """A customer's company account at a brand and their role within it."""

    account: CompanyAccount
    role: str


def create_account(
    session: Session,
    *,
    brand_id: int,
    name: str,
    document: str | None = None,
    price_list_ref: str | None = None,
    discount_bps: int = 0,
    free_shipping: bool = False,
    manager_name: str | None = None,
    manager_email: str | None = None,
) -> CompanyAccount:
    """Create a company account of the brand (names are unique per brand)."""
    if session.get(Brand, brand_id) is None:
        raise NotFound(f"brand {brand_id} not found", field="brand_id")
    if not name.strip():
        raise InvalidInput("a company account needs a name", field="name")
    if not 0 <= discount_bps <= 10_000:
        raise InvalidInput("discount_bps must be between 0 and 10000", field="discount_bps")
    account = CompanyAccount(
        brand_id=brand_id,
        name=name.strip(),
        document=document,
        price_list_ref=price_list_ref,
        discount_bps=discount_bps,
        free_shipping=free_shipping,
        manager_name=manager_name,
        manager_email=manager_email,
        created_at=utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(account)
            session.flush()
    except IntegrityError as exc:
        raise Conflict(f"brand {brand_id} already has an account named {name!r}") from exc
    return account


def find_account_by_name(session: Session, *, brand_id: int, name: str) -> CompanyAccount | None:
    """The brand's company account called ``name`` (names are unique per brand), if any."""
    return session.scalar(
        select(CompanyAccount).where(
            CompanyAccount.brand_id == brand_id, CompanyAccount.name == name.strip()
        )
    )


def get_account(session: Session, *, brand_id: int, account_id: int) -> CompanyAccount:
    """The brand's company account, or ``NotFound`` (another brand's account is not found)."""
    account = session.get(CompanyAccount, account_id)
    if account is None or account.brand_id != brand_id:
        raise NotFound(f"company account {account_id} not found", field="account_id")
    return account


def add_buyer(
    session: Session, *, brand_id: int, account_id: int, customer_id: int, role: str = "buyer"
) -> CompanyAccountMember:
    """Make a customer of the brand a member of the account with ``role``.

    A customer buys for at most one company account per brand; adding them again to the
    same account changes their role.
    """
    if role not in MEMBER_ROLES:
        raise InvalidInput(f"role must be one of {', '.join(MEMBER_ROLES)}", field="role")
    account = get_account(session, brand_id=brand_id, account_id=account_id)
    if session.get(BrandCustomer, (brand_id, customer_id)) is None:
        raise NotFound(f"customer {customer_id} not found", field="customer_id")
    member = session.scalar(
        select(CompanyAccountMember).where(
            CompanyAccountMember.brand_id == brand_id,
            CompanyAccountMember.customer_id == customer_id,
        )
    )
    if member is not None and member.account_id != account.id:
        raise Conflict(
            f"customer {customer_id} already buys for company account {member.account_id}",
            field="customer_id",
        )
    if member is None:
        member = CompanyAccountMember(
            account_id=account.id,
            brand_id=brand_id,
            customer_id=customer_id,
            role=role,
            created_at=utcnow(),
        )
        session.add(member)
    member.role = role
    session.flush()
    return member


def remove_buyer(session: Session, *, brand_id: int, account_id: int, customer_id: int) -> None:
    """Take a customer out of the account (their past contributions stay in its ledger)."""
    get_account(session, brand_id=brand_id, account_id=account_id)
    member = session.scalar(
        select(CompanyAccountMember).where(
            CompanyAccountMember.account_id == account_id,
            CompanyAccountMember.customer_id == customer_id,
        )
    )
    if member is None:
        raise NotFound(
            f"customer {customer_id} is not in account {account_id}", field="customer_id"
        )
    session.delete(member)
    session.flush()


def members(session: Session, *, account_id: int) -> list[CompanyAccountMember]:
    """The account's members, in the order they joined."""
    stmt = (
        select(CompanyAccountMember)
        .where(CompanyAccountMember.account_id == account_id)
        .order_by(CompanyAccountMember.id)
    )
    return list(session.scalars(stmt))


def account_of_customer(session: Session, *, brand_id: int, customer_id: int) -> Membership | None:
    """The company account the customer buys for at the brand, with their role."""
    row = session.execute(
        select(CompanyAccount, CompanyAccountMember.role)
        .join(CompanyAccountMember, CompanyAccountMember.account_id == CompanyAccount.id)
        .where(
            CompanyAccountMember.brand_id == brand_id,
            CompanyAccountMember.customer_id == customer_id,
        )
    ).first()
    return Membership(account=row[0], role=row[1]) if row is not None else None
