"""Delivering the outbox: claim due rows, hand them over in small batches, record outcomes.

At-least-once with idempotency. A claim marks rows ``sending`` and commits *before*
anything leaves, so a crash afterwards leaves them ``sending``. A lane (one per SMTP
connection) then works through its rows in **hand-over batches** of at most
:data:`HAND_OVER_BATCH`, each ending at its first message that is not marketing. One
short transaction per batch records the previous batch's outcomes, reads the consent of
every recipient of this batch and marks the allowed rows handed over (``sent_at``) or
``suppressed``; then the batch's messages leave one after the other over the open
connection, and the next batch's transaction records them.

After a crash, once the lease has passed, rows never handed over go back to ``pending``
(nothing of them left: no duplicate, no loss). A handed-over row whose outcome was not
recorded may or may not have left: a transactional one is resent (same Message-ID or
``webhook-id``, so receivers can deduplicate), a marketing one becomes ``unknown`` and is
not resent — a missing offer is better than a duplicate one. A batch ends at its first
transactional message, and that message leaves only while its lane holds the worker's
gate, released once its outcome is committed: a worker never has two transactional
messages accepted but unrecorded, so a crash resends at most one message that had
already left, never a batch, whatever the number of connections. It may give up
(``unknown``) at most one batch of marketing messages per connection, some of which had
not left. Consent is read in the transaction that hands the batch over, so an
unsubscribe recorded before it stops every message of the batch, and one recorded after
it stops every later batch.
"""

from __future__ import annotations

import threading
import urllib.error
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Engine, bindparam, select, update
from sqlalchemy.orm import Session

from recompra.automation.consent import consent_allows, consent_statements
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


#: The columns of a claimed row, in :class:`Claimed`'s order (``attempts`` as it was).
_CLAIMED_COLUMNS = (
    OUTBOX.c.id,
    OUTBOX.c.brand_id,
    OUTBOX.c.customer_id,
    OUTBOX.c.execution_key,
    OUTBOX.c.channel,
    OUTBOX.c.purpose,
    OUTBOX.c.payload,
    OUTBOX.c.attempts,
)
_CLAIMING = (
    update(OUTBOX)
    .where(OUTBOX.c.id == bindparam("outbox_id"))
    .values(state="sending", attempts=bindparam("attempts"), next_attempt_at=bindparam("now"))
)


def claim(engine: Engine, *, now: datetime, limit: int) -> list[Claimed]:
    """Mark up to ``limit`` due rows ``sending`` (committed) and return them."""
    with unit_of_work(engine) as session:
        rows = session.execute(
            select(*_CLAIMED_COLUMNS)
            .where(OUTBOX.c.state == "pending", OUTBOX.c.next_attempt_at <= now)
            .order_by(OUTBOX.c.next_attempt_at, OUTBOX.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        claimed = [Claimed(*row[:-1], attempts=row.attempts + 1) for row in rows]
        if claimed:
            session.execute(
                _CLAIMING,
                [{"outbox_id": c.id, "attempts": c.attempts, "now": now} for c in claimed],
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
    """Send claimed rows in hand-over batches, one transaction per batch.

    E-mails are spread over the sender's connections, one thread per connection, each
    sending its share batch by batch; webhooks go afterwards.
    """
    emails = [m for m in claimed if m.channel == "email"]
    lanes = min(smtp.connections, len(emails)) if smtp is not None else 1
    send_share = partial(
        _deliver_lane,
        engine,
        smtp=smtp,
        sender=sender,
        require_opt_in=require_opt_in,
        resent_gate=threading.Lock(),
    )
    if lanes <= 1:
        return send_share(claimed)
    stats = DeliveryStats()
    with ThreadPoolExecutor(lanes, thread_name_prefix="recompra-smtp") as pool:
        # Round-robin shares keep the claim's order (oldest first) roughly across lanes.
        for share in pool.map(send_share, [emails[i::lanes] for i in range(lanes)]):
            stats.add(share)
    stats.add(send_share([m for m in claimed if m.channel != "email"]))
    return stats


#: Messages handed over per transaction. A larger batch spends less on transactions per
#: message but gives up more marketing messages when a worker crashes mid-batch (they
#: become ``unknown``, sent or not); at 8 the transaction costs a few percent of a send.
HAND_OVER_BATCH = 8


def hand_over_batches(claimed: Sequence[Claimed], size: int) -> Iterator[list[Claimed]]:
    """``claimed`` in order, cut into batches of at most ``size`` that each end at their
    first message that is not marketing (those are resent after a crash: see the
    module's docstring)."""
    batch: list[Claimed] = []
    for message in claimed:
        batch.append(message)
        if len(batch) == size or message.purpose != "marketing":
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass(frozen=True)
class _Outcome:
    """A message the server or endpoint accepted, recorded with the next batch."""

    outbox_id: int
    endpoint_id: int | None = None


#: Built once: constructing the statements per batch cost more than running them.
_HANDING_OVER = (
    update(OUTBOX).where(OUTBOX.c.id == bindparam("outbox_id")).values(sent_at=bindparam("at"))
)
_RECORD = (
    update(OUTBOX)
    .where(OUTBOX.c.id == bindparam("outbox_id"))
    .values(state=bindparam("state"), last_error=bindparam("error"), sent_at=bindparam("sent_at"))
)
_SUPPRESSED_ERROR = "consent withdrawn before send"


def _deliver_lane(
    engine: Engine,
    claimed: list[Claimed],
    *,
    smtp: SmtpSender | None,
    sender: str,
    require_opt_in: bool,
    resent_gate: threading.Lock,
) -> DeliveryStats:
    """Send ``claimed`` batch by batch: one transaction records the previous batch's
    outcomes and hands this batch over (consent read, ``sent_at`` marked), then its
    messages leave one at a time.

    A message that would be resent after a crash (not marketing; the last of its batch)
    leaves only while the lane holds ``resent_gate``, kept until its outcome is
    committed: however many connections, a worker never has two such messages accepted
    but unrecorded at once, so a crash duplicates at most one message.
    """
    stats = DeliveryStats()
    accepted: list[_Outcome] = []
    gated = False
    try:
        for batch in hand_over_batches(claimed, HAND_OVER_BATCH):
            with unit_of_work(engine) as session:
                _record(session, accepted)
                allowed = _hand_over_batch(session, batch, require_opt_in=require_opt_in)
                endpoints = _endpoints(session, batch)
            accepted = []
            if gated:
                resent_gate.release()
                gated = False
            stats.suppressed += len(batch) - len(allowed)
            for message in batch:
                if message.id not in allowed:
                    continue
                endpoint = (
                    endpoints.get((message.brand_id, message.payload["endpoint"]))
                    if message.channel == "webhook"
                    else None
                )
                if message.purpose != "marketing":
                    resent_gate.acquire()
                    gated = True
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
                accepted.append(_Outcome(message.id, endpoint.id if endpoint else None))
                stats.sent += 1
        if accepted:
            with unit_of_work(engine) as session:
                _record(session, accepted)
    finally:
        if gated:
            resent_gate.release()
    return stats


def _hand_over_batch(session: Session, batch: list[Claimed], *, require_opt_in: bool) -> set[int]:
    """Read the batch's consent; mark the allowed rows handed over (committed before
    they leave: after a crash only such a row can have been delivered, see
    :func:`recover_stale`) and the others ``suppressed``. Returns the allowed ids."""
    statements = consent_statements(session, {m.customer_id for m in batch})
    allowed = {
        m.id
        for m in batch
        if consent_allows(
            statements.get((m.customer_id, m.channel), {}),
            m.purpose,
            require_opt_in=require_opt_in,
        )
    }
    if allowed:
        at = utcnow()
        session.execute(_HANDING_OVER, [{"outbox_id": i, "at": at} for i in allowed])
    refused = [m.id for m in batch if m.id not in allowed]
    if refused:
        session.execute(
            _RECORD,
            [
                {"outbox_id": i, "state": "suppressed", "error": _SUPPRESSED_ERROR, "sent_at": None}
                for i in refused
            ],
        )
    return allowed


def _endpoints(session: Session, batch: list[Claimed]) -> dict[tuple[int, str], WebhookEndpoint]:
    """The webhook endpoints the batch's webhooks name, by (brand, name)."""
    wanted = {(m.brand_id, m.payload["endpoint"]) for m in batch if m.channel == "webhook"}
    if not wanted:
        return {}
    found = session.scalars(
        select(WebhookEndpoint).where(
            WebhookEndpoint.brand_id.in_({brand for brand, _ in wanted}),
            WebhookEndpoint.name.in_({name for _, name in wanted}),
        )
    )
    return {(e.brand_id, e.name): e for e in found}


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


def _record(session: Session, accepted: list[_Outcome]) -> None:
    """Mark accepted messages ``sent``; their endpoints' failure counts start again."""
    if not accepted:
        return
    at = utcnow()
    session.execute(
        _RECORD,
        [
            {"outbox_id": o.outbox_id, "state": "sent", "error": None, "sent_at": at}
            for o in accepted
        ],
    )
    endpoint_ids = {o.endpoint_id for o in accepted if o.endpoint_id is not None}
    if endpoint_ids:
        session.execute(
            update(WebhookEndpoint).where(WebhookEndpoint.id.in_(endpoint_ids)).values(failures=0)
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
