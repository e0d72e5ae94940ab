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

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


class SecurityHeadersMiddleware:
    """Adds the security headers to each HTTP response that does not set them itself."""

    def __init__(self, app: ASGIApp, *, policy: str) -> None:
        self.app = app
        self.headers = {
            "Content-Security-Policy": policy,
            "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
