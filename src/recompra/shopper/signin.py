"""Sign-in with a one-time e-mail link, and the shopper sessions it opens.

* A link token is ``shopper-link:<brand>:<random>`` signed with the installation secret
  (a forged one is refused before any lookup); only its SHA-256 is stored. It lives
  :data:`LINK_TTL`, opens one session and is then spent.
* Asking for a link answers the same for every well-formed e-mail: nothing tells a
  caller whether the address belongs to a customer (no account enumeration). Requests
  are rate-limited per brand and address (:data:`MAX_LINKS`, known or unknown alike), by
  a keyed hash of the address, so unknown addresses are never stored.
* A session token is random; only its SHA-256 is stored. It carries one customer at one
  brand and nothing else: a dashboard session never opens the shopper's page and a
  shopper session never opens the dashboard or another brand's page.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from recompra.automation.consent import unsubscribe_url
from recompra.automation.outbox import email_payload, record_outbox
from recompra.automation.signing import sign, signed_body
from recompra.automation.steps import DecisionContext
from recompra.errors import InvalidInput, NotFound, RecompraError
from recompra.hub.customers import lookup_identities, personal_identity
from recompra.hub.normalize import normalize_email
from recompra.models import Brand, Customer
from recompra.models.shopper import ShopperSession, ShopperSignInLink

#: How long a sign-in link can be used.
LINK_TTL = timedelta(minutes=15)
#: How long a shopper stays signed in.
SESSION_TTL = timedelta(days=7)
#: Links one address may ask for per brand within :data:`RATE_WINDOW`.
MAX_LINKS = 3
RATE_WINDOW = timedelta(minutes=15)
_LINK_PREFIX = "shopper-link"


class SignInRateLimited(RecompraError):
    """Too many sign-in links asked for one address (known or not) in the window."""

    status_code = 429
    code = "rate_limited"


class SignInRefused(RecompraError):
    """A sign-in link or a shopper session that is forged, expired, spent or revoked."""

    status_code = 401
    code = "unauthorized"


@dataclass(frozen=True)
class Shopper:
    """Who a shopper session is: one customer at one brand."""

    session_id: int
    brand_id: int
    customer_id: int
    expires_at: datetime


def token_hash(token: str) -> str:
    """What is stored of a link or session token (SHA-256, hex)."""
    return hashlib.sha256(token.encode()).hexdigest()


def email_hash(secret: str, brand_id: int, email: str) -> str:
    """A keyed hash of the normalised address: enough to count requests, not to read it."""
    body = f"shopper-email\0{brand_id}\0{email}".encode()
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def brand_by_slug(session: Session, slug: str) -> Brand:
    """The brand whose page this is."""
    brand = session.scalar(select(Brand).where(Brand.slug == slug))
    if brand is None:
        raise NotFound(f"brand {slug!r} not found", field="brand")
    return brand


def request_link(
    session: Session,
    *,
    brand: Brand,
    email: str,
    links: DecisionContext,
    now: datetime,
) -> None:
    """Mail a sign-in link if ``email`` is a customer of ``brand``; answer the same if not.

    The e-mail is a transactional outbox row: the worker's delivery sends it over SMTP.
    """
    try:
        address = normalize_email(email)
    except ValueError as exc:
        raise InvalidInput("not an e-mail address", field="email") from exc
    hashed = email_hash(links.secret, brand.id, address)
    recent = session.scalar(
        select(func.count()).where(
            ShopperSignInLink.brand_id == brand.id,
            ShopperSignInLink.email_hash == hashed,
            ShopperSignInLink.requested_at > now - RATE_WINDOW,
        )
    )
    if (recent or 0) >= MAX_LINKS:
        raise SignInRateLimited("too many sign-in links asked for; try again in a few minutes")
    identity = personal_identity(brand.id, "email", address)
    customer_id = lookup_identities(session, [identity]).get(identity)
    customer = session.get(Customer, customer_id) if customer_id is not None else None
    token = sign(links.secret, f"{_LINK_PREFIX}:{brand.id}:{secrets.token_urlsafe(24)}")
    link = ShopperSignInLink(
        brand_id=brand.id,
        email_hash=hashed,
        customer_id=customer.id if customer is not None else None,
        token_hash=token_hash(token) if customer is not None else None,
        requested_at=now,
        expires_at=now + LINK_TTL,
    )
    session.add(link)
    session.flush()
    if customer is None or not customer.email:
        return
    context = {
        "brand": {"name": brand.name},
        "customer": {"first_name": (customer.name or "").split(" ")[0] or None},
        "sign_in_url": f"{links.public_url}/shop/{brand.slug}/sign-in/{token}",
        "minutes": int(LINK_TTL.total_seconds() // 60),
        "unsubscribe_url": unsubscribe_url(links.public_url, links.secret, customer.id, "email"),
    }
    record_outbox(
        session,
        brand_id=brand.id,
        run_id=None,
        customer_id=customer.id,
        execution_key=f"shopper:sign-in:{link.id}",
        channel="email",
        purpose="transactional",
        state="pending",
        payload=email_payload("shopper_sign_in", customer, context),
        now=now,
    )


def open_session(
    session: Session, *, brand: Brand, token: str, secret: str, now: datetime
) -> tuple[str, Shopper]:
    """Spend a sign-in link of ``brand`` and open a session: its token and who it is."""
    body = signed_body(secret, token) or ""
    if not body.startswith(f"{_LINK_PREFIX}:{brand.id}:"):
        raise SignInRefused("this sign-in link is not valid here")
    # One UPDATE spends the link: of two concurrent uses exactly one matches a row.
    spent = session.execute(
        update(ShopperSignInLink)
        .where(
            ShopperSignInLink.token_hash == token_hash(token),
            ShopperSignInLink.brand_id == brand.id,
            ShopperSignInLink.used_at.is_(None),
            ShopperSignInLink.expires_at > now,
        )
        .values(used_at=now)
        .returning(ShopperSignInLink.customer_id)
    ).scalar()
    if spent is None:
        raise SignInRefused("this sign-in link has expired or was already used")
    raw = secrets.token_urlsafe(32)
    row = ShopperSession(
        brand_id=brand.id,
        customer_id=int(spent),
        token_hash=token_hash(raw),
        created_at=now,
        expires_at=now + SESSION_TTL,
    )
    session.add(row)
    session.flush()
    return raw, Shopper(row.id, brand.id, int(spent), row.expires_at)


def shopper_of(session: Session, *, token: str | None, now: datetime) -> Shopper:
    """The live session of ``token``, or :class:`SignInRefused`."""
    if not token:
        raise SignInRefused("sign in to see your points")
    row = session.scalar(
        select(ShopperSession).where(
            ShopperSession.token_hash == token_hash(token),
            ShopperSession.revoked_at.is_(None),
            ShopperSession.expires_at > now,
        )
    )
    if row is None:
        raise SignInRefused("your session has ended; sign in again")
    return Shopper(row.id, row.brand_id, row.customer_id, row.expires_at)


def close_session(session: Session, *, token: str, now: datetime) -> None:
    """Sign out: the token stops working at once."""
    session.execute(
        update(ShopperSession)
        .where(ShopperSession.token_hash == token_hash(token), ShopperSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
