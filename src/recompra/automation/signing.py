"""Signed link tokens: ``<body>.<HMAC-SHA256 of body, 16 bytes, base64url>``.

One signing scheme for every link a message carries (unsubscribe, survey answers), keyed
by the installation secret. Each kind of link starts its body differently, so a token of
one kind never verifies as another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def sign(secret: str, body: str) -> str:
    """``body`` followed by its truncated HMAC, URL-safe."""
    mac = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()[:16]
    return f"{body}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"


def signed_body(secret: str, token: str) -> str | None:
    """The body of a token signed with ``secret``; ``None`` when forged or altered."""
    body, _, mac = token.rpartition(".")
    if not body or not mac:
        return None
    # Bytes, not str: compare_digest refuses non-ASCII text, and a link is user input.
    expected = sign(secret, body).encode()
    return body if hmac.compare_digest(expected, token.encode()) else None
