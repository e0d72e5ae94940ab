"""Per-key rate limit: an in-process token bucket with ``RateLimit-*`` headers.

In-process means each worker process has its own buckets, so with N workers a key can
make up to N times the configured rate; a shared store (Redis) would be needed for an
exact cluster-wide limit. The headers follow the IETF ``RateLimit`` header fields draft:
limit (bucket capacity), remaining (whole tokens left), reset (seconds until full).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Key under ``request.state`` where the decision's headers wait for the response.
STATE_KEY = "ratelimit_headers"


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class Decision:
    """The outcome of one take: allowed or not, plus the headers to send."""

    allowed: bool
    limit: int
    remaining: int
    reset_s: int

    @property
    def headers(self) -> dict[str, str]:
        """``RateLimit-Limit``, ``RateLimit-Remaining``, ``RateLimit-Reset``."""
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_s),
        }


@dataclass
class TokenBucketLimiter:
    """``capacity`` requests in a burst, refilled at ``per_second`` tokens a second."""

    capacity: int
    per_second: float
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[int, _Bucket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, key: int) -> Decision:
        """Spend one token of ``key``'s bucket if there is one."""
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(float(self.capacity), now)
            bucket.tokens = min(
                float(self.capacity), bucket.tokens + (now - bucket.updated) * self.per_second
            )
            bucket.updated = now
            allowed = bucket.tokens >= 1.0
            if allowed:
                bucket.tokens -= 1.0
            tokens = bucket.tokens
        missing = self.capacity - tokens
        if allowed:
            reset = math.ceil(missing / self.per_second) if self.per_second > 0 else 0
        else:
            # Seconds until the next token, the useful number for a client told to wait.
            reset = math.ceil((1.0 - tokens) / self.per_second) if self.per_second > 0 else 3600
        return Decision(allowed, self.capacity, math.floor(tokens), max(reset, 0))


class RateLimitHeadersMiddleware:
    """Copies the rate-limit headers a dependency left in the request state to the response.

    A dependency cannot add headers to error responses built by exception handlers; this
    ASGI middleware adds them to whatever response goes out (including 429 and 4xx).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: dict[str, str] | None = state.get(STATE_KEY)
                if headers:
                    raw = list(message.get("headers", []))
                    raw.extend((k.lower().encode(), v.encode()) for k, v in headers.items())
                    message = {**message, "headers": raw}
            await send(message)

        await self.app(scope, receive, send_with_headers)
