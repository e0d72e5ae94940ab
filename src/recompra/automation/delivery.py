"""Delivering the outbox: claim due rows, send, record the outcome.

At-least-once with idempotency: a claim marks rows ``sending`` and commits *before*
anything leaves, so a crash afterwards leaves them ``sending``. Each row is marked
handed over (``sent_at``) in the transaction that reads its consent, just before it
leaves. When the lease of a crashed worker's rows has passed, rows never handed over go
back to ``pending`` (nothing of them left: no duplicate, no loss); a row handed over
whose outcome was not recorded is resent when transactional (with the same Message-ID
or ``webhook-id`` so receivers can deduplicate) and becomes ``unknown`` when marketing:
a missing offer is better than a duplicate one. So a crash loses at most the one
marketing message per connection that was in flight. Consent is read
again just before each send, so an unsubscribe recorded while a batch is in flight stops
the messages not yet handed over.
"""

from __future__ import annotations

import urllib.error
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Engine, bindparam, select, update
from sqlalchemy.orm import Session

from recompra.automation.consent import may_contact
from recompra.automation.email import SmtpSender, build_message, permanent_failure
from recompra.automation.webhooks import MAX_ATTEMPTS, PAUSE_AFTER_FAILURES, backoff, post
from recompra.db import unit_of_work
from recompra.models.automation import OUTBOX, OutboxMessage, WebhookEndpoint
from recompra.models.base import utcnow

#: How long a claimed row may stay ``sending`` before it is taken for crashed.
LEASE = timedelta(minutes=10)


@dataclass(frozen=True)
class Claimed:
    """An outbox row handed to this worker to send."""

    id: int
    brand_id: int
    customer_id: int
    execution_key: str
    channel: str
    purpose: str
    payload: dict[str, Any]
    attempts: int


@dataclass
class DeliveryStats:
    """What one delivery pass did."""

    sent: int = 0
    failed: int = 0
    suppressed: int = 0
    recovered: int = 0

    def add(self, other: DeliveryStats) -> None:
        """Add ``other``'s counts to these."""
        for name in ("sent", "failed", "suppressed", "recovered"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def recover_stale(engine: Engine, *, now: datetime) -> int:
    """Rows left ``sending`` by a crashed worker: those never handed over go back to
    ``pending``; of those handed over, transactional ones are resent, marketing ones
    become ``unknown``."""
    stale = (OutboxMessage.state == "sending", OutboxMessage.next_attempt_at < now - LEASE)
    handed_over = OutboxMessage.sent_at.is_not(None)
    with unit_of_work(engine) as session:
        unknown = session.execute(
            update(OutboxMessage)
            .where(*stale, handed_over, OutboxMessage.purpose == "marketing")
            .values(state="unknown", last_error="outcome unknown after a crash; not resent")
        )
        retried = session.execute(
            update(OutboxMessage)
            .where(*stale)
            .values(state="pending", next_attempt_at=now, sent_at=None)
        )
    return int(unknown.rowcount or 0) + int(retried.rowcount or 0)  # type: ignore[attr-defined]


def claim(engine: Engine, *, now: datetime, limit: int) -> list[Claimed]:
    """Mark up to ``limit`` due rows ``sending`` (committed) and return them."""
    with unit_of_work(engine) as session:
        rows = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.state == "pending", OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        claimed = []
        for row in rows:
            row.state, row.attempts, row.next_attempt_at = "sending", row.attempts + 1, now
            claimed.append(
                Claimed(
                    row.id,
                    row.brand_id,
                    row.customer_id,
                    row.execution_key,
                    row.channel,
                    row.purpose,
                    dict(row.payload),
                    row.attempts,
                )
            )
    return claimed


def deliver(
    engine: Engine,
    claimed: list[Claimed],
    *,
    smtp: SmtpSender | None,
    sender: str,
    require_opt_in: bool = False,
) -> DeliveryStats:
    """Send claimed rows, recording each outcome in its own short transaction.

    E-mails are spread over the sender's connections, one thread per connection, each
    sending its share one message at a time; webhooks go one by one afterwards.
    """
    emails = [m for m in claimed if m.channel == "email"]
    lanes = min(smtp.connections, len(emails)) if smtp is not None else 1
    if lanes <= 1:
        return _deliver_each(
            engine, claimed, smtp=smtp, sender=sender, require_opt_in=require_opt_in
        )
    stats = DeliveryStats()
    send_share = partial(
        _deliver_each, engine, smtp=smtp, sender=sender, require_opt_in=require_opt_in
    )
    with ThreadPoolExecutor(lanes, thread_name_prefix="recompra-smtp") as pool:
        # Round-robin shares keep the claim's order (oldest first) roughly across lanes.
        for share in pool.map(send_share, [emails[i::lanes] for i in range(lanes)]):
            stats.add(share)
    stats.add(
        _deliver_each(
            engine,
            [m for m in claimed if m.channel != "email"],
            smtp=smtp,
            sender=sender,
            require_opt_in=require_opt_in,
        )
    )
    return stats


@dataclass(frozen=True)
class _Outcome:
    """What became of a handed-over row, written with the next row's consent read."""

    outbox_id: int
    state: str
    error: str | None
    endpoint_id: int | None = None


#: Built once: constructing the statement per message cost more than running it.
_HANDING_OVER = (
    update(OUTBOX).where(OUTBOX.c.id == bindparam("outbox_id")).values(sent_at=bindparam("at"))
)
_RECORD = (
    update(OUTBOX)
    .where(OUTBOX.c.id == bindparam("outbox_id"))
    .values(state=bindparam("state"), last_error=bindparam("error"), sent_at=bindparam("sent_at"))
)


def _deliver_each(
    engine: Engine,
    claimed: list[Claimed],
    *,
    smtp: SmtpSender | None,
    sender: str,
    require_opt_in: bool,
) -> DeliveryStats:
    """Send ``claimed`` one by one, consent read just before each send.

    One short transaction per message records the previous message's outcome and reads
    this one's consent (half the transactions of doing each apart): an unsubscribe
    committed before a message's turn stops it, and a crash leaves at most one message
    of this thread sent but unrecorded.
    """
    stats = DeliveryStats()
    previous: _Outcome | None = None
    for message in claimed:
        with unit_of_work(engine) as session:
            if previous is not None:
                _record(session, previous)
            allowed = may_contact(
                session,
                customer_id=message.customer_id,
                channel=message.channel,
                purpose=message.purpose,
                require_opt_in=require_opt_in,
            )
            endpoint = (
                session.scalar(
                    select(WebhookEndpoint).where(
                        WebhookEndpoint.brand_id == message.brand_id,
                        WebhookEndpoint.name == message.payload["endpoint"],
                    )
                )
                if message.channel == "webhook"
                else None
            )
            if allowed:
                # Committed before the message leaves: after a crash, only a row marked
                # here can have been delivered (see recover_stale).
                session.execute(_HANDING_OVER, {"outbox_id": message.id, "at": utcnow()})
        previous = None
        if not allowed:
            previous = _Outcome(message.id, "suppressed", "consent withdrawn before send")
            stats.suppressed += 1
            continue
        try:
            _hand_over(message, smtp=smtp, sender=sender, endpoint=endpoint)
        except (OSError, urllib.error.HTTPError) as error:
            _failed(
                engine,
                message,
                endpoint_id=endpoint.id if endpoint else None,
                error=str(error),
                permanent=permanent_failure(error),
            )
            stats.failed += 1
            continue
        previous = _Outcome(message.id, "sent", None, endpoint.id if endpoint else None)
        stats.sent += 1
    if previous is not None:
        with unit_of_work(engine) as session:
            _record(session, previous)
    return stats


def _hand_over(
    message: Claimed, *, smtp: SmtpSender | None, sender: str, endpoint: WebhookEndpoint | None
) -> None:
    """Send one message on its channel; raises what the SMTP server or endpoint did."""
    if message.channel == "email":
        if smtp is None:
            raise OSError("no SMTP server configured (RECOMPRA_SMTP_URL)")
        smtp.send(
            build_message(message.payload, execution_key=message.execution_key, sender=sender)
        )
        return
    if endpoint is None or endpoint.status != "active":
        raise OSError(f"webhook endpoint {message.payload['endpoint']!r} missing or paused")
    post(
        endpoint.url,
        list(endpoint.secrets["active"]),
        message.execution_key,
        message.payload["body"],
        now=utcnow(),
    )


def _record(session: Session, outcome: _Outcome) -> None:
    sent_at = utcnow() if outcome.state == "sent" else None
    session.execute(
        _RECORD,
        {
            "outbox_id": outcome.outbox_id,
            "state": outcome.state,
            "error": outcome.error,
            "sent_at": sent_at,
        },
    )
    if outcome.endpoint_id is not None:
        session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == outcome.endpoint_id)
            .values(failures=0)
        )


def _failed(
    engine: Engine, message: Claimed, *, endpoint_id: int | None, error: str, permanent: bool
) -> None:
    """Retry later with backoff, or give up on a permanent refusal or after
    :data:`MAX_ATTEMPTS`; count endpoint failures."""
    now = utcnow()
    with unit_of_work(engine) as session:
        final = permanent or message.attempts >= MAX_ATTEMPTS
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message.id)
            .values(
                state="failed" if final else "pending",
                next_attempt_at=now + backoff(message.attempts),
                last_error=error[:1000],
                sent_at=None,
            )
        )
        if endpoint_id is not None:
            endpoint = session.get(WebhookEndpoint, endpoint_id)
            if endpoint is not None:
                endpoint.failures += 1
                if endpoint.failures >= PAUSE_AFTER_FAILURES:
                    endpoint.status = "paused"
