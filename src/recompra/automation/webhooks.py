"""Signed webhooks per the Standard Webhooks specification (standardwebhooks.com).

Each request carries ``webhook-id`` (the outbox execution key: stable across retries, so
receivers deduplicate), ``webhook-timestamp`` (Unix seconds) and ``webhook-signature``:
space-separated ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, one per secret in
force, so a secret can be rotated without the receiver missing a beat. Secrets are
``whsec_<base64 key>``. Failed attempts back off exponentially with full jitter; an
endpoint that keeps failing is paused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import secrets as secrets_module
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from recompra.errors import InvalidInput, NotFound
from recompra.models.automation import WebhookEndpoint

SECRET_PREFIX = "whsec_"
BACKOFF_BASE = timedelta(seconds=5)
BACKOFF_MAX = timedelta(hours=6)
MAX_ATTEMPTS = 8
PAUSE_AFTER_FAILURES = 20


def new_secret() -> str:
    """A fresh signing secret (24 random bytes)."""
    return SECRET_PREFIX + base64.b64encode(secrets_module.token_bytes(24)).decode()


def _key(secret: str) -> bytes:
    if not secret.startswith(SECRET_PREFIX):
        raise InvalidInput("webhook secrets start with whsec_", field="secret")
    return base64.b64decode(secret[len(SECRET_PREFIX) :])


def sign(secrets: list[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for ``body`` under every secret."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(_key(s), signed, hashlib.sha256).digest()).decode()
        for s in secrets
    )


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """Whether one of the request's signatures was made with ``secret`` (receiver side)."""
    expected = sign([secret], headers["webhook-id"], int(headers["webhook-timestamp"]), body)
    return any(hmac.compare_digest(expected, sig) for sig in headers["webhook-signature"].split())


def backoff(attempts: int, *, rng: random.Random | None = None) -> timedelta:
    """Delay before the next attempt: exponential, capped, with jitter (a random half)."""
    ceiling: timedelta = min(BACKOFF_MAX, BACKOFF_BASE * 2 ** max(attempts - 1, 0))
    factor: float = (rng or random).uniform(0.5, 1.0)
    return timedelta(seconds=ceiling.total_seconds() * factor)


def add_endpoint(
    session: Session, *, brand_id: int, name: str, url: str
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it and its first secret (shown once)."""
    if not url.startswith(("http://", "https://")):
        raise InvalidInput("the endpoint URL must be http(s)", field="url")
    secret = new_secret()
    endpoint = WebhookEndpoint(
        brand_id=brand_id,
        name=name,
        url=url,
        secrets={"active": [secret]},
        status="active",
        failures=0,
    )
    session.add(endpoint)
    session.flush()
    return endpoint, secret


def get_endpoint(session: Session, *, brand_id: int, name: str) -> WebhookEndpoint:
    """The brand's endpoint ``name`` (raises NotFound)."""
    endpoint = session.scalar(
        select(WebhookEndpoint).where(
            WebhookEndpoint.brand_id == brand_id, WebhookEndpoint.name == name
        )
    )
    if endpoint is None:
        raise NotFound(f"webhook endpoint {name!r} not found")
    return endpoint


def rotate_secret(session: Session, *, brand_id: int, name: str, keep_old: bool = True) -> str:
    """Add a new secret; the old one keeps signing until the next rotation (``keep_old``)."""
    endpoint = get_endpoint(session, brand_id=brand_id, name=name)
    secret = new_secret()
    previous = list(endpoint.secrets.get("active", []))[:1] if keep_old else []
    endpoint.secrets = {"active": [secret, *previous]}
    session.flush()
    return secret


def post(
    url: str,
    secrets: list[str],
    msg_id: str,
    body: dict[str, Any],
    *,
    now: datetime,
    timeout: float = 10.0,
) -> None:
    """POST one signed webhook; raises OSError/HTTPError unless the receiver answered 2xx."""
    data = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    timestamp = int(now.timestamp())
    request = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secrets, msg_id, timestamp, data),
        },
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        if not 200 <= response.status < 300:
            raise urllib.error.HTTPError(url, response.status, "not 2xx", response.headers, None)
