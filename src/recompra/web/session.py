"""Signed session cookies and CSRF tokens with the standard library (HMAC-SHA256 over the
settings' key).

The cookie holds ``base64(json payload).signature``; the payload carries the user id, the
server-side session token (:mod:`recompra.auth.sessions`, revoked at sign-out) and an
expiry. Nothing secret is stored in it, only what the signature protects from change.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Annotated, Any

from fastapi import Form, HTTPException, Request

COOKIE = "recompra_session"
LANG_COOKIE = "recompra_lang"
#: The header dashboard writes carry their CSRF token in.
CSRF_HEADER = "X-CSRF-Token"
MAX_AGE_S = 12 * 3600
#: The hidden ``csrf`` field of a dashboard HTML form (checked by :func:`check_form_csrf`).
CsrfField = Annotated[str, Form(max_length=200)]


def _sign(secret: str, data: bytes) -> str:
    mac = hmac.new(secret.encode(), b"recompra-session\0" + data, hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")


def dumps(secret: str, payload: dict[str, Any], *, max_age_s: int = MAX_AGE_S) -> str:
    """A signed cookie value carrying ``payload`` until ``max_age_s`` from now."""
    body = dict(payload, exp=int(time.time()) + max_age_s)
    data = base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode())
    return data.decode().rstrip("=") + "." + _sign(secret, data.rstrip(b"="))


def loads(secret: str, value: str | None) -> dict[str, Any] | None:
    """The payload of a valid, unexpired cookie, else ``None``."""
    # A cookie is ASCII by RFC 6265; anything else is forged or garbage, not a crash.
    if not value or "." not in value or not value.isascii():
        return None
    data, _, signature = value.rpartition(".")
    if not hmac.compare_digest(_sign(secret, data.encode()), signature):
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
    except ValueError:
        return None
    if not isinstance(payload, dict) or payload.get("exp", 0) < time.time():
        return None
    return payload


def csrf_token(secret: str, request: Request) -> str:
    """The CSRF token of the signed-in session: an HMAC of its cookie, so it changes with
    every sign-in and needs no storage."""
    cookie = request.cookies.get(COOKIE, "")
    mac = hmac.new(secret.encode(), b"recompra-csrf\0" + cookie.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")


def check_csrf(secret: str, request: Request) -> None:
    """Refuse a dashboard write that is not a same-site JSON call with the session's token.

    Another site can make a browser send a form (with the cookie) but can neither read the
    token from our page nor set the header or a JSON content type without CORS.
    """
    sent = request.headers.get(CSRF_HEADER, "")
    is_json = request.headers.get("content-type", "").startswith("application/json")
    if not is_json:
        raise HTTPException(403, "missing or wrong CSRF token")
    check_form_csrf(secret, request, sent)


def check_form_csrf(secret: str, request: Request, sent: str) -> None:
    """Refuse an HTML form post whose hidden ``csrf`` field is not the session's token.

    Another site can post a form to us but cannot read the token from our page; the
    session cookie is ``SameSite=Lax`` besides, so a cross-site POST arrives without it.
    """
    if not sent or not hmac.compare_digest(sent, csrf_token(secret, request)):
        raise HTTPException(403, "missing or wrong CSRF token")
