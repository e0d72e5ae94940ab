"""Delivering the outbox: claim due rows, send, record the outcome.

At-least-once with idempotency: a claim marks rows ``sending`` and commits *before*
anything leaves, so a crash afterwards leaves them ``sending``. When their lease has
passed, transactional messages go back to ``pending`` (resent, with the same Message-ID
or ``webhook-id`` so receivers can deduplicate) and marketing messages become ``unknown``
and are not resent: a missing thank-you is better than a duplicate one. Consent is read
again just before each send, so an unsubscribe recorded while a batch is in flight stops
the messages not yet handed over.
"""

from __future__ import annotations

import urllib.error
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select, update

from recompra.automation.consent import may_contact
from recompra.automation.email import SmtpSender, build_message
from recompra.automation.webhooks import MAX_ATTEMPTS, PAUSE_AFTER_FAILURES, backoff, post
from recompra.db import unit_of_work
from recompra.models.automation import OutboxMessage, WebhookEndpoint
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


def recover_stale(engine: Engine, *, now: datetime) -> int:
    """Rows left ``sending`` by a crashed worker: resend transactional, not marketing."""
    stale = (OutboxMessage.state == "sending", OutboxMessage.next_attempt_at < now - LEASE)
    with unit_of_work(engine) as session:
        unknown = session.execute(
            update(OutboxMessage)
            .where(*stale, OutboxMessage.purpose == "marketing")
            .values(state="unknown", last_error="outcome unknown after a crash; not resent")
        )
        retried = session.execute(
            update(OutboxMessage)
            .where(*stale, OutboxMessage.purpose != "marketing")
            .values(state="pending", next_attempt_at=now)
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
    """Send claimed rows one by one, recording each outcome in its own short transaction."""
    stats = DeliveryStats()
    for message in claimed:
        with unit_of_work(engine, write=False) as session:
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
        if not allowed:
            _finish(engine, message.id, state="suppressed", error="consent withdrawn before send")
            stats.suppressed += 1
            continue
        try:
            if message.channel == "email":
                if smtp is None:
                    raise OSError("no SMTP server configured (RECOMPRA_SMTP_URL)")
                smtp.send(
                    build_message(
                        message.payload, execution_key=message.execution_key, sender=sender
                    )
                )
            else:
                if endpoint is None or endpoint.status != "active":
                    raise OSError(
                        f"webhook endpoint {message.payload['endpoint']!r} missing or paused"
                    )
                post(
                    endpoint.url,
                    list(endpoint.secrets["active"]),
                    message.execution_key,
                    message.payload["body"],
                    now=utcnow(),
                )
        except (OSError, urllib.error.HTTPError) as error:
            _failed(
                engine, message, endpoint_id=endpoint.id if endpoint else None, error=str(error)
            )
            stats.failed += 1
            continue
        _finish(
            engine,
            message.id,
            state="sent",
            error=None,
            endpoint_id=endpoint.id if endpoint else None,
        )
        stats.sent += 1
    return stats


def _finish(
    engine: Engine, outbox_id: int, *, state: str, error: str | None, endpoint_id: int | None = None
) -> None:
    with unit_of_work(engine) as session:
        values: dict[str, Any] = {"state": state, "last_error": error}
        if state == "sent":
            values["sent_at"] = utcnow()
        session.execute(update(OutboxMessage).where(OutboxMessage.id == outbox_id).values(**values))
        if endpoint_id is not None:
            session.execute(
                update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id).values(failures=0)
            )


def _failed(engine: Engine, message: Claimed, *, endpoint_id: int | None, error: str) -> None:
    """Retry later with backoff, or give up after :data:`MAX_ATTEMPTS`; count endpoint failures."""
    now = utcnow()
    with unit_of_work(engine) as session:
        final = message.attempts >= MAX_ATTEMPTS
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message.id)
            .values(
                state="failed" if final else "pending",
                next_attempt_at=now + backoff(message.attempts),
                last_error=error[:1000],
            )
        )
        if endpoint_id is not None:
            endpoint = session.get(WebhookEndpoint, endpoint_id)
            if endpoint is not None:
                endpoint.failures += 1
                if endpoint.failures >= PAUSE_AFTER_FAILURES:
                    endpoint.status = "paused"
