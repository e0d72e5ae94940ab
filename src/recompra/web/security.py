"""Security headers for every response of the app (dashboard pages, ``/docs``, the API).

The Content-Security-Policy allows scripts only from this origin plus the exact inline
scripts the app ships (by their SHA-256, CSP Level 2 section 4.2.4), so an injected
``<script>`` never runs; ``frame-ancestors 'none'`` and ``X-Frame-Options: DENY`` stop
clickjacking. Styles allow ``'unsafe-inline'`` because Swagger UI and a few templates set
``style`` attributes (styles cannot run code). Swagger UI draws its icons from ``data:``
images.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def inline_script_hashes(html: str) -> list[str]:
    """The CSP source expressions (``'sha256-...'``) of the inline scripts in ``html``."""
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in _INLINE_SCRIPT.findall(html)
    ]


def content_security_policy(script_hashes: Iterable[str]) -> str:
    """The policy: same origin only, plus the listed inline scripts."""
    scripts = " ".join(["'self'", *sorted(set(script_hashes))])
    return "; ".join(
        (
            "default-src 'self'",
            f"script-src {scripts}",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


#: Raw ASGI response headers (lower-case names).
RawHeaders = list[tuple[bytes, bytes]]


def security_headers(policy: str) -> RawHeaders:
    """The security headers of every response, with the Content-Security-Policy
    ``policy``."""
    return [
        (b"content-security-policy", policy.encode("latin-1")),
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
    ]


def with_defaults(headers: RawHeaders, defaults: RawHeaders) -> RawHeaders:
    """``headers`` plus each of ``defaults`` the response does not set itself (a page
    may set its own policy)."""
    present = {name.lower() for name, _ in headers}
    return [*headers, *(pair for pair in defaults if pair[0] not in present)]
