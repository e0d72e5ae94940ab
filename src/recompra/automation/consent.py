"""Consent per channel and purpose (with its source and time, the LGPD proof), the
suppression check every send passes, and signed unsubscribe links.

A customer may be contacted on a channel for a purpose unless they withdrew it (for the
purpose, or for ``all`` purposes of the channel: hard bounces and complaints record
that). With ``require_opt_in`` (see :class:`~recompra.automation.schedule.ContactPolicy`)
marketing also needs an explicit grant.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from recompra.automation.runs import exit_matching
from recompra.automation.signing import sign, signed_body
from recompra.db.dialect import in_values, insert_ignoring_conflicts
from recompra.errors import InvalidInput
from recompra.models.automation import CONSENTS, ContactConsent

ALL_PURPOSES = "all"
CONSENT_CHANNELS = ("email", "webhook")
CONSENT_PURPOSES = ("marketing", "transactional", ALL_PURPOSES)


def record_consent(
    session: Session,
    *,
    customer_id: int,
    channel: str,
    purpose: str,
    granted: bool,
    source: str,
    now: datetime,
) -> None:
    """Record a grant or withdrawal; the latest statement replaces the previous one."""
    if channel not in CONSENT_CHANNELS:
        raise InvalidInput(f"channel must be one of {', '.join(CONSENT_CHANNELS)}", field="channel")
    if purpose not in CONSENT_PURPOSES:
        raise InvalidInput(f"purpose must be one of {', '.join(CONSENT_PURPOSES)}", field="purpose")
    values = {
        "customer_id": customer_id,
        "channel": channel,
        "purpose": purpose,
        "granted": granted,
        "source": source[:64],
        "recorded_at": now,
    }
    inserted = session.execute(
        insert_ignoring_conflicts(
            session,
            CONSENTS,
            index_elements=("customer_id", "channel", "purpose"),
            returning="id",
        ),
        values,
    ).scalar()
    if inserted is None:
        row = session.scalar(
            select(ContactConsent)
            .where(
                ContactConsent.customer_id == customer_id,
                ContactConsent.channel == channel,
                ContactConsent.purpose == purpose,
            )
            .with_for_update()
        )
        assert row is not None  # the conflict says it exists
        row.granted, row.source, row.recorded_at = granted, source[:64], now
    session.flush()


def may_contact(
    session: Session, *, customer_id: int, channel: str, purpose: str, require_opt_in: bool
) -> bool:
    """Whether nothing suppresses ``channel`` for ``purpose`` (and, if required, opted in)."""
    statements = consent_statements(session, [customer_id]).get((customer_id, channel), {})
    return consent_allows(statements, purpose, require_opt_in=require_opt_in)


def consent_statements(
    session: Session, customer_ids: Collection[int]
) -> dict[tuple[int, str], dict[str, bool]]:
    """The customers' consent statements, ``{(customer, channel): {purpose: granted}}``,
    read with one statement (a decision batch, a delivery's hand-over batch)."""
    statements: dict[tuple[int, str], dict[str, bool]] = defaultdict(dict)
    for customer_id, channel, purpose, granted in session.execute(
        select(
            CONSENTS.c.customer_id, CONSENTS.c.channel, CONSENTS.c.purpose, CONSENTS.c.granted
        ).where(in_values(session, CONSENTS.c.customer_id, customer_ids))
    ):
        statements[(customer_id, channel)][purpose] = granted
    return statements


def consent_allows(statements: dict[str, bool], purpose: str, *, require_opt_in: bool) -> bool:
    """Whether a channel's consent statements (``{purpose: granted}``) allow ``purpose``."""
    if statements.get(ALL_PURPOSES) is False or statements.get(purpose) is False:
        return False
    return not (require_opt_in and purpose == "marketing" and statements.get(purpose) is not True)


def unsubscribe(session: Session, *, secret: str, token: str, source: str, now: datetime) -> int:
    """Withdraw marketing consent for the token's channel and end the customer's runs that
    exit on ``unsubscribed`` (their pending timers are cancelled). Returns the customer."""
    customer_id, channel = read_unsubscribe_token(secret, token)
    record_consent(
        session,
        customer_id=customer_id,
        channel=channel,
        purpose="marketing",
        granted=False,
        source=source,
        now=now,
    )
    end_unsubscribed_runs(session, customer_id=customer_id, reason="unsubscribed", now=now)
    return customer_id


def end_unsubscribed_runs(session: Session, *, customer_id: int, reason: str, now: datetime) -> int:
    """End the customer's runs that exit on ``unsubscribed`` (an unsubscribe, a hard
    bounce, a complaint), cancelling their pending timers."""
    return exit_matching(
        session,
        customer_id=customer_id,
        reason=reason,
        matches=lambda condition: condition["type"] == "unsubscribed",
        now=now,
    )


def unsubscribe_token(secret: str, customer_id: int, channel: str) -> str:
    """A signed, URL-safe token naming the customer and channel to unsubscribe."""
    return sign(secret, f"{customer_id}.{channel}")


def unsubscribe_url(public_url: str, secret: str, customer_id: int, channel: str) -> str:
    """The one-click unsubscribe link of a message to the customer on ``channel``."""
    token = unsubscribe_token(secret, customer_id, channel)
    return f"{public_url}/v1/automation/unsubscribe?token={token}"


def read_unsubscribe_token(secret: str, token: str) -> tuple[int, str]:
    """The customer id and channel of a token signed with ``secret`` (InvalidInput if not)."""
    parts = (signed_body(secret, token) or "").split(".")
    if len(parts) == 2 and parts[0].isdigit() and parts[1] in CONSENT_CHANNELS:
        return int(parts[0]), parts[1]
    raise InvalidInput("invalid unsubscribe link", field="token")
