"""Opens, clicks, bounces and complaints of journey e-mails.

* **Tracked links and the open pixel.** When a journey e-mail is decided, every
  ``http(s)`` link to another site, in its HTML and its plain text, becomes a signed redirect,
  ``/v1/automation/t/click?token=``, and a 1x1 image, ``/v1/automation/t/open?token=``,
  is appended. The token signs the kind, the outbox row's execution key and the target
  (:mod:`recompra.automation.signing`), so the redirect cannot be pointed elsewhere.
* Each open and click is an ``events`` row (``email_opened`` / ``email_clicked``,
  source ``email_tracking``, through the hub's event write path) with ``journey``,
  ``node`` and ``outbox_id`` in its payload: what ``recompra.measurement.attribution``
  reads, what ``wait_for_event``/``exit_when`` react to. The external id makes them
  idempotent: one open per message and kind of opener, one click per message and link.
  Opens by machines are flagged (``machine: true``), not dropped: mail privacy proxies
  and scanners fetch images without a person (a known user agent, or within
  :data:`MACHINE_SECONDS` of the hand-over).
* **Bounces and complaints** arrive as a Standard Webhooks request signed with the
  installation's bounce secret (:func:`bounce_secret`). A hard bounce or a complaint
  withdraws e-mail consent for every purpose (``contact_consents``, source
  ``hard_bounce``/``complaint``) and ends the runs that exit on ``unsubscribed``; each is
  also an event (``email_bounced``, ``email_complained``) linked to its outbox row.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recompra.automation.consent import ALL_PURPOSES, end_unsubscribed_runs, record_consent
from recompra.automation.email import message_id
from recompra.automation.signing import sign, signed_body
from recompra.automation.webhooks import SECRET_PREFIX, verify
from recompra.errors import InvalidInput
from recompra.hub.aftersale import EVENTS
from recompra.hub.rejects import EntityCounts
from recompra.models import Customer, Event
from recompra.models.automation import Journey, JourneyRun, OutboxMessage

SOURCE = "email_tracking"
OPENED, CLICKED, BOUNCED, COMPLAINED = (
    "email_opened",
    "email_clicked",
    "email_bounced",
    "email_complained",
)
#: An open this soon after the hand-over is a scanner's, not a reader's.
MACHINE_SECONDS = 2.0
#: User agents of image proxies and security scanners that open without a person.
MACHINE_AGENTS = re.compile(
    r"GoogleImageProxy|YahooMailProxy|Barracuda|Proofpoint|Mimecast|"
    r"Microsoft Office/|ms-office|python-requests|curl/|bot\b",
    re.IGNORECASE,
)
#: Standard Webhooks: a signed request older (or newer) than this is refused (replays).
TOLERANCE = timedelta(minutes=5)
_HREF = re.compile(r'href="(https?://[^"]+)"')
#: A link in plain text: up to white space, without a closing sentence punctuation.
_TEXT_LINK = re.compile(r"https?://\S+?(?=[.,;:!?)\]]*(?:\s|$))")
_TOKEN_PREFIX = "trk."


def _token(secret: str, kind: str, execution_key: str, url: str = "") -> str:
    packed = json.dumps([kind, execution_key, url], separators=(",", ":")).encode()
    return sign(secret, _TOKEN_PREFIX + base64.urlsafe_b64encode(packed).decode().rstrip("="))


def read_token(secret: str, token: str) -> tuple[str, str, str]:
    """The kind (``open``/``click``), execution key and target of a tracking token."""
    body = signed_body(secret, token) or ""
    if body.startswith(_TOKEN_PREFIX):
        packed = body[len(_TOKEN_PREFIX) :]
        try:
            kind, key, url = json.loads(base64.urlsafe_b64decode(packed + "=" * (-len(packed) % 4)))
        except (ValueError, TypeError):
            pass
        else:
            if kind in ("open", "click") and isinstance(key, str) and isinstance(url, str):
                return kind, key, url
    raise InvalidInput("invalid tracking link", field="token")


def _click_url(target: str, *, public_url: str, secret: str, execution_key: str) -> str:
    """``target`` through the signed redirect; a link to Recompra itself is kept as it is
    (unsubscribe, survey answers: they record what they do themselves)."""
    if target.startswith(f"{public_url}/"):
        return target
    token = _token(secret, "click", execution_key, target)
    return f"{public_url}/v1/automation/t/click?token={token}"


def track_html(markup: str, *, public_url: str, secret: str, execution_key: str) -> str:
    """``markup`` with its links to other sites through the signed redirect and the open
    pixel appended."""

    def redirect(match: re.Match[str]) -> str:
        target = html.unescape(match.group(1))
        tracked = _click_url(
            target, public_url=public_url, secret=secret, execution_key=execution_key
        )
        return match.group(0) if tracked == target else f'href="{tracked}"'

    pixel = (
        f'<img src="{public_url}/v1/automation/t/open?token='
        f'{_token(secret, "open", execution_key)}" width="1" height="1" alt="">'
    )
    tracked = _HREF.sub(redirect, markup)
    closing = tracked.rfind("</body>")
    if closing < 0:
        return tracked + pixel
    return tracked[:closing] + pixel + tracked[closing:]


def track_text(text: str, *, public_url: str, secret: str, execution_key: str) -> str:
    """The plain-text part with its links to other sites through the signed redirect
    (a reader who clicks in a text-only client counts like one in HTML). Punctuation
    that ends a sentence after a link is not taken as part of it."""

    def redirect(match: re.Match[str]) -> str:
        return _click_url(
            match.group(0), public_url=public_url, secret=secret, execution_key=execution_key
        )

    return _TEXT_LINK.sub(redirect, text)


@dataclass(frozen=True)
class _Message:
    id: int
    brand_id: int
    customer_id: int
    journey: str | None
    node: str
    sent_at: datetime | None


def _message(session: Session, execution_key: str) -> _Message | None:
    row = session.execute(
        select(
            OutboxMessage.id,
            OutboxMessage.brand_id,
            OutboxMessage.customer_id,
            Journey.key,
            OutboxMessage.sent_at,
        )
        .outerjoin(JourneyRun, JourneyRun.id == OutboxMessage.run_id)
        .outerjoin(Journey, Journey.id == JourneyRun.journey_id)
        .where(OutboxMessage.execution_key == execution_key)
    ).first()
    if row is None:
        return None
    # The node is the key's second field from the end (see runs.execution_key).
    node = execution_key.rsplit(":", 2)[-2] if row[3] is not None else ""
    return _Message(row[0], row[1], row[2], row[3], node, row[4])


def _record_event(
    session: Session, message: _Message, kind: str, distinct: str, now: datetime, **extra: Any
) -> None:
    digest = hashlib.sha256(f"{message.id}:{distinct}".encode()).hexdigest()[:40]
    external_id = f"{kind}:{digest}"
    seen = session.scalar(
        select(Event.id).where(
            Event.brand_id == message.brand_id,
            Event.source == SOURCE,
            Event.external_id == external_id,
        )
    )
    if seen is not None:
        # The first open or click is kept: an upsert would move it to the latest.
        return
    payload = {"journey": message.journey, "node": message.node, "outbox_id": message.id}
    EVENTS.upsert(
        session,
        brand_id=message.brand_id,
        source=SOURCE,
        rows=[
            {
                "external_id": external_id,
                "customer_id": message.customer_id,
                "type": kind,
                "occurred_at": now,
                "payload": {**payload, **extra},
            }
        ],
        counts=EntityCounts(),
    )


def record_open(
    session: Session, *, secret: str, token: str, user_agent: str, now: datetime
) -> bool:
    """Record an open from the pixel; ``False`` when the link is not an open's."""
    kind, key, _ = read_token(secret, token)
    message = _message(session, key) if kind == "open" else None
    if message is None:
        return False
    early = message.sent_at is not None and now - message.sent_at < timedelta(
        seconds=MACHINE_SECONDS
    )
    machine = early or bool(MACHINE_AGENTS.search(user_agent or ""))
    kind_of_opener = "machine" if machine else "person"
    _record_event(session, message, OPENED, kind_of_opener, now, machine=machine)
    return True


def record_click(session: Session, *, secret: str, token: str, now: datetime) -> str:
    """Record a click and return where it leads (the signed target)."""
    kind, key, url = read_token(secret, token)
    if kind != "click":
        raise InvalidInput("invalid tracking link", field="token")
    message = _message(session, key)
    if message is not None:
        _record_event(session, message, CLICKED, url, now, url=url)
    return url


def bounce_secret(installation_secret: str) -> str:
    """The secret bounce and complaint webhooks are signed with, derived from the
    installation's (``recompra webhooks bounce-secret`` prints it for the mail provider)."""
    key = hmac.new(installation_secret.encode(), b"bounces", hashlib.sha256).digest()
    return SECRET_PREFIX + base64.b64encode(key).decode()


def verify_bounce(
    installation_secret: str, headers: dict[str, str], body: bytes, *, now: float | None = None
) -> dict[str, Any]:
    """The JSON body of a bounce webhook whose signature and timestamp hold."""
    try:
        stamp = int(headers["webhook-timestamp"])
        signed = verify(bounce_secret(installation_secret), headers, body)
    except (KeyError, ValueError):
        signed = False
        stamp = 0
    moment = time.time() if now is None else now
    if not signed or abs(moment - stamp) > TOLERANCE.total_seconds():
        raise InvalidInput("bad or stale webhook signature", field="webhook-signature")
    try:
        document = json.loads(body)
    except ValueError as error:
        raise InvalidInput("the body is not JSON") from error
    if not isinstance(document, dict):
        raise InvalidInput("the body is a JSON object")
    return document


def _local_part(header: str) -> str:
    return header.strip().strip("<>").split("@")[0]


def _message_digest(execution_key: str) -> str:
    """The local part of the Message-ID derived from an execution key
    (:func:`recompra.automation.email.message_id`; only its domain is the sender's)."""
    return _local_part(message_id(execution_key, "x@x"))


def record_bounce(session: Session, document: dict[str, Any], *, now: datetime) -> int:
    """Apply a bounce or complaint ``{type: bounce|complaint, bounce: hard|soft, email,
    message_id}``; returns how many customers had their e-mail consent withdrawn."""
    kind = document.get("type")
    email = document.get("email")
    if kind not in ("bounce", "complaint") or not isinstance(email, str) or "@" not in email:
        raise InvalidInput("type (bounce or complaint) and email are required", field="type")
    hard = kind == "complaint" or document.get("bounce", "hard") == "hard"
    customers = session.scalars(
        select(Customer.id).where(func.lower(Customer.email) == email.strip().lower())
    ).all()
    wanted = document.get("message_id")
    for customer_id in customers:
        sent = session.execute(
            select(OutboxMessage.execution_key)
            .where(
                OutboxMessage.customer_id == customer_id,
                OutboxMessage.channel == "email",
                OutboxMessage.sent_at.is_not(None),
            )
            .order_by(OutboxMessage.sent_at.desc())
            .limit(50)
        ).scalars()
        for key in sent:
            if wanted is None or _message_digest(key) == _local_part(str(wanted)):
                message = _message(session, key)
                if message is not None:
                    event = COMPLAINED if kind == "complaint" else BOUNCED
                    bounce = None if kind == "complaint" else ("hard" if hard else "soft")
                    _record_event(session, message, event, kind, now, bounce=bounce)
                break
        if hard:
            source = "complaint" if kind == "complaint" else "hard_bounce"
            record_consent(
                session,
                customer_id=customer_id,
                channel="email",
                purpose=ALL_PURPOSES,
                granted=False,
                source=source,
                now=now,
            )
            end_unsubscribed_runs(session, customer_id=customer_id, reason=source, now=now)
    return len(customers) if hard else 0
