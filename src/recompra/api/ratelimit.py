"""Per-key rate limit: a token bucket shared by every worker process, with
``RateLimit-*`` headers.

Each key's bucket is 16 bytes (tokens, last refill) in its own file, read and rewritten
under an exclusive ``flock``: every uvicorn worker on the host spends from the same
bucket, so N workers allow the configured rate, not N times it (issue 20). A lock and two
small ``pread``/``pwrite`` calls cost microseconds, where a database row would put a
write transaction (SQLite's single writer) in front of every read request. Each process
keeps its buckets' files open (opening, creating the directory and closing cost more
than the take itself): a take is four system calls and no database round trip. Workers on
*several hosts* need the directory on storage they share with working ``flock`` (see
docs/operations.md). The headers follow the IETF ``RateLimit`` header fields draft:
limit (bucket capacity), remaining (whole tokens left), reset (seconds until full).
"""

from __future__ import annotations

import fcntl
import hashlib
import math
import os
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Key under ``request.state`` where the decision's headers wait for the response.
STATE_KEY = "ratelimit_headers"
#: Bucket files one process keeps open; the least recently opened is closed beyond it.
MAX_OPEN_BUCKETS = 256


#: A bucket on disk: tokens left and the wall-clock time of the last refill (the workers
#: share no monotonic clock).
_BUCKET = struct.Struct("<dd")


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


def bucket_directory(database_url: str, home: Path) -> Path:
    """Where the buckets of one database live: beside a SQLite file, else under ``home``
    (named after the URL, so two databases never share buckets of equal key ids)."""
    if database_url.startswith("sqlite:///"):
        database = Path(database_url.removeprefix("sqlite:///"))
        return database.with_name(database.name + ".ratelimit")
    digest = hashlib.sha256(database_url.encode()).hexdigest()[:16]
    return home / "ratelimit" / digest


@dataclass
class TokenBucketLimiter:
    """``capacity`` requests in a burst, refilled at ``per_second`` tokens a second, with
    the buckets in ``directory`` (shared by every process that uses it)."""

    capacity: int
    per_second: float
    directory: Path
    clock: Callable[[], float] = time.time
    #: Open bucket files by key, and the process that opened them: a descriptor
    #: inherited through ``fork`` shares its lock with the parent, so a child reopens.
    _files: dict[int, int] = field(default_factory=dict, init=False, repr=False)
    _owner: int = field(default=0, init=False, repr=False)
    #: ``flock`` excludes other open files, not threads sharing this one descriptor.
    _threads: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def _descriptor(self, key: int) -> int:
        if self._owner != os.getpid():
            self._files.clear()  # the parent's descriptors: not ours to lock or close
            self._owner = os.getpid()
        descriptor = self._files.get(key)
        if descriptor is None:
            if len(self._files) >= MAX_OPEN_BUCKETS:
                os.close(self._files.pop(next(iter(self._files))))
            self.directory.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(self.directory / f"{key}.bucket", os.O_RDWR | os.O_CREAT, 0o600)
            self._files[key] = descriptor
        return descriptor

    def __del__(self) -> None:
        # Tests build many apps: their limiters must not leak descriptors.
        if self._owner == os.getpid():
            for descriptor in self._files.values():
                os.close(descriptor)

    def take(self, key: int) -> Decision:
        """Spend one token of ``key``'s bucket if there is one."""
        with self._threads:
            return self._take(key)

    def _take(self, key: int) -> Decision:
        descriptor = self._descriptor(key)
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        try:
            now = self.clock()
            stored = os.pread(descriptor, _BUCKET.size, 0)
            tokens, updated = (
                _BUCKET.unpack(stored) if len(stored) == _BUCKET.size else (self.capacity, now)
            )
            tokens = min(float(self.capacity), tokens + max(now - updated, 0.0) * self.per_second)
            allowed = tokens >= 1.0
            if allowed:
                tokens -= 1.0
            os.pwrite(descriptor, _BUCKET.pack(tokens, now), 0)
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
        missing = self.capacity - tokens
        if allowed:
            reset = math.ceil(missing / self.per_second) if self.per_second > 0 else 0
        else:
            # Seconds until the next token, the useful number for a client told to wait.
            reset = math.ceil((1.0 - tokens) / self.per_second) if self.per_second > 0 else 3600
        return Decision(allowed, self.capacity, math.floor(tokens), max(reset, 0))


def rate_limit_headers(state: dict[str, Any]) -> list[tuple[bytes, bytes]]:
    """The rate-limit headers the key's dependency left in the request ``state``, as raw
    ASGI headers (none before it ran: a 413, a 404).

    A dependency cannot add headers to error responses built by exception handlers; the
    server's outermost middleware (``recompra.server.EdgeMiddleware``) adds these to
    whatever response goes out (including 429 and 4xx).
    """
    headers: dict[str, str] | None = state.get(STATE_KEY)
    if not headers:
        return []
    return [(name.lower().encode(), value.encode()) for name, value in headers.items()]
