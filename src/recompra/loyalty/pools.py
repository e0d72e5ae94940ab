"""B2B pooled accounts: who may spend the pool, and what each buyer put into it.

The pool itself is an ordinary ``loyalty_accounts`` row (``company_account_id`` set) that
``programs.find_account`` resolves every buyer of the company to, so earning, the tier on
the total volume, expiry and redemption all run through the ledger's one posting path.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from recompra.errors import NotFound
from recompra.loyalty.errors import RoleCannotRedeem
from recompra.loyalty.prepared import Record
from recompra.loyalty.tiers.service import effective_tier
from recompra.models.accounts import CompanyAccount, CompanyAccountMember
from recompra.models.customer import Customer
from recompra.models.loyalty import LoyaltyAccount, LoyaltyMovement

#: Roles within a company account that may spend its pooled points.
REDEEMING_ROLES = frozenset({"owner", "buyer"})


def check_may_redeem(session: Session, *, account: Record, customer_id: int) -> None:
    """Refuse a pooled account's redemption by a member whose role may not spend."""
    if account.company_account_id is None:
        return
    role = session.scalar(
        select(CompanyAccountMember.role).where(
            CompanyAccountMember.account_id == account.company_account_id,
            CompanyAccountMember.customer_id == customer_id,
        )
    )
    if role not in REDEEMING_ROLES:
        raise RoleCannotRedeem(
            f"customer {customer_id} is {role or 'not a member'} of the company account: "
            "only owners and buyers may redeem its points"
        )


@dataclass(frozen=True)
class Contribution:
    """What one buyer put into (and took out of) the pool."""

    customer_id: int
    name: str | None
    role: str | None
    earned: int
    redeemed: int


@dataclass(frozen=True)
class PoolSummary:
    """A company account's pooled balance, tier, benefits and per-buyer contributions."""

    company_account_id: int
    name: str
    account_id: int | None
    balance: int
    pending: int
    tier_code: str | None
    benefits: dict[str, Any]
    contributions: list[Contribution]


def pool_summary(
    session: Session, *, program_id: int, company_account_id: int, now: datetime
) -> PoolSummary:
    """The pool of ``company_account_id`` in the program (empty before its first earn)."""
    company = session.get(CompanyAccount, company_account_id)
    if company is None:
        raise NotFound(f"company account {company_account_id} not found", field="account_id")
    account = session.scalar(
        select(LoyaltyAccount).where(
            LoyaltyAccount.program_id == program_id,
            LoyaltyAccount.company_account_id == company_account_id,
        )
    )
    tier = effective_tier(session, account=account, now=now) if account else None
    benefits: dict[str, Any] = {
        "price_list_ref": company.price_list_ref,
        "discount_bps": company.discount_bps,
        "free_shipping": company.free_shipping,
        "manager_name": company.manager_name,
        "manager_email": company.manager_email,
        **(tier.benefits if tier else {}),
    }
    return PoolSummary(
        company_account_id=company.id,
        name=company.name,
        account_id=account.id if account else None,
        balance=account.balance if account else 0,
        pending=account.pending if account else 0,
        tier_code=tier.code if tier else None,
        benefits=benefits,
        contributions=_contributions(session, company=company, account=account),
    )


def _contributions(
    session: Session, *, company: CompanyAccount, account: LoyaltyAccount | None
) -> list[Contribution]:
    """Every current member, and every past buyer with movements, with their sums."""
    sums: dict[int, tuple[int, int]] = {}
    if account is not None:
        earned = func.sum(
            case(
                (
                    LoyaltyMovement.kind == "earn",
                    LoyaltyMovement.points + LoyaltyMovement.pending_delta,
                ),
                else_=0,
            )
        )
        redeemed = func.sum(
            case((LoyaltyMovement.kind == "spend", -LoyaltyMovement.points), else_=0)
        )
        rows = session.execute(
            select(LoyaltyMovement.customer_id, earned, redeemed)
            .where(
                LoyaltyMovement.account_id == account.id,
                LoyaltyMovement.customer_id.is_not(None),
            )
            .group_by(LoyaltyMovement.customer_id)
        ).all()
        sums = {int(c): (int(e or 0), int(r or 0)) for c, e, r in rows}
    roles = {
        key: value
        for key, value in session.execute(
            select(CompanyAccountMember.customer_id, CompanyAccountMember.role).where(
                CompanyAccountMember.account_id == company.id
            )
        )
    }
    ids = sorted(set(sums) | set(roles))
    names = {
        key: value
        for key, value in session.execute(
            select(Customer.id, Customer.name).where(Customer.id.in_(ids))
        )
    }
    return [
        Contribution(
            customer_id=cid,
            name=names.get(cid),
            role=roles.get(cid),
            earned=sums.get(cid, (0, 0))[0],
            redeemed=sums.get(cid, (0, 0))[1],
        )
        for cid in ids
    ]
