"""Fraud guards on a referral claim: each refusal has a stored, stable reason.

Checked in this order (the first that applies is the reason): ``self_referral``,
``already_referred`` (the friend was referred before), ``existing_customer`` (the friend
already bought from the brand), ``same_email`` (the same mailbox), ``same_document``
(CPF/CNPJ), ``same_phone``, ``same_address`` (same ZIP prefix, city and state, accents
ignored), ``referrer_limit`` and ``burst`` (too many claims of one code within the burst
window). ``same_payment`` is decided later, by the referral job, when the friend's first
order exists: it refuses the referral when that order was paid with a card or wallet (the
payment provider's fingerprint) the referrer has paid with at the brand.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recompra.loyalty.rules.engine import NON_EARNING_STATUSES
from recompra.models.customer import Customer
from recompra.models.engagement import EngagementReferral, EngagementReferralSettings
from recompra.models.order import Order

REJECTION_REASONS = (
    "self_referral",
    "already_referred",
    "existing_customer",
    "same_email",
    "same_document",
    "same_phone",
    "same_address",
    "referrer_limit",
    "burst",
    "same_payment",
)


def _digits(value: str | None) -> str:
    return re.sub(r"\D", "", value or "")


#: Mail providers that ignore dots in the local part (one mailbox, many spellings).
DOTLESS_DOMAINS = ("gmail.com", "googlemail.com")


def mailbox(value: str | None) -> str:
    """The mailbox an address delivers to: ``Ana.B+promo@Gmail.com`` -> ``anab@gmail.com``.

    The hub already merges customers with the same address; a second account made with a
    ``+tag`` or extra dots is the common way around that, so the guard compares mailboxes.
    """
    local, _, domain = (value or "").strip().lower().partition("@")
    local = local.split("+", 1)[0]
    if domain in DOTLESS_DOMAINS:
        local = local.replace(".", "")
    return f"{local}@{domain}" if local and domain else ""


def _plain(value: str | None) -> str:
    """Lower case without accents or extra spaces: ``São  Paulo`` -> ``sao paulo``."""
    decomposed = unicodedata.normalize("NFKD", value or "")
    letters = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(letters.lower().split())


def _address(customer: Customer) -> tuple[str, str, str] | None:
    parts = (_digits(customer.zip_prefix), _plain(customer.city), _plain(customer.state))
    return parts if all(parts) else None


def shared_identity(referrer: Customer, friend: Customer) -> str | None:
    """The first contact detail the two customers share, as a rejection reason."""
    pairs = (
        ("same_email", mailbox(referrer.email), mailbox(friend.email)),
        ("same_document", _digits(referrer.document), _digits(friend.document)),
        ("same_phone", _digits(referrer.phone), _digits(friend.phone)),
    )
    for reason, mine, theirs in pairs:
        if mine and mine == theirs:
            return reason
    address = _address(referrer)
    if address is not None and address == _address(friend):
        return "same_address"
    return None


def rejection_reason(
    session: Session,
    *,
    program_id: int,
    brand_id: int,
    referrer: Customer,
    friend: Customer,
    settings: EngagementReferralSettings,
    now: datetime,
) -> str | None:
    """Why the claim must be refused, or ``None`` when it may stand."""
    if referrer.id == friend.id:
        return "self_referral"
    accepted = EngagementReferral.status != "rejected"
    referred_before = session.scalar(
        select(EngagementReferral.id).where(
            EngagementReferral.program_id == program_id,
            EngagementReferral.friend_id == friend.id,
            accepted,
        )
    )
    if referred_before is not None:
        return "already_referred"
    bought_before = session.scalar(
        select(Order.id).where(
            Order.brand_id == brand_id,
            Order.customer_id == friend.id,
            Order.status.not_in(NON_EARNING_STATUSES),
            Order.purchased_at <= now,
        )
    )
    if bought_before is not None:
        return "existing_customer"
    shared = shared_identity(referrer, friend)
    if shared is not None:
        return shared
    by_referrer = (
        EngagementReferral.program_id == program_id,
        EngagementReferral.referrer_id == referrer.id,
    )
    accepted_so_far = session.scalar(
        select(func.count(EngagementReferral.id)).where(*by_referrer, accepted)
    )
    if int(accepted_so_far or 0) >= settings.max_per_referrer:
        return "referrer_limit"
    recent = session.scalar(
        select(func.count(EngagementReferral.id)).where(
            *by_referrer,
            EngagementReferral.created_at > now - timedelta(hours=settings.burst_window_hours),
        )
    )
    if int(recent or 0) >= settings.burst_limit:
        return "burst"
    return None


def same_payment(session: Session, *, brand_id: int, referrer_id: int, order_id: int) -> bool:
    """Whether the friend's order was paid with a fingerprint of one of the referrer's orders."""
    fingerprint = session.scalar(select(Order.payment_fingerprint).where(Order.id == order_id))
    if not fingerprint:
        return False
    found = session.scalar(
        select(Order.id)
        .where(
            Order.brand_id == brand_id,
            Order.customer_id == referrer_id,
            Order.payment_fingerprint == fingerprint,
        )
        .limit(1)
    )
    return found is not None
