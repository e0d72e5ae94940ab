"""``Idempotency-Key`` on every POST: a replay returns the first response.

An ASGI middleware (it must see the response body, which a dependency cannot):

1. the caller's API key is verified (requests without a valid key pass through and get
   their 401 from the endpoint);
2. a placeholder record ``(key, Idempotency-Key, request hash)`` is committed first, so
   two concurrent requests with the same key cannot both run: the second gets 409;
3. the endpoint runs in its own transaction; its status and JSON body are then stored.
   5xx, 401, 403 and 429 responses are not stored (the placeholder is removed), so the
   client can retry them.

The same key with a different method, path, query or body is a 409 ``idempotency_conflict``.
The record and the endpoint's write are two transactions: a crash between them leaves a
placeholder. A placeholder is therefore a **lease**: it answers 409
``idempotency_in_progress`` for :data:`IN_PROGRESS_LEASE` only; after that a retry with the
same key takes the lease over and runs (the crashed attempt committed nothing, or its
domain write is itself idempotent, like every loyalty write). Stored responses are kept for
:data:`RETENTION`. Expired records are deleted by :func:`purge_expired_records`: on a
schedule by the automation worker (``recompra worker``, or the server's embedded one) and
on demand by ``recompra keys purge-idempotency``; the claims also run it, at most once
per :data:`PURGE_INTERVAL` per process, so the table stays bounded without a worker.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import datetime, timedelta
from typing import Any

import anyio.to_thread
from sqlalchemy import Engine, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from recompra.api.errors import error_body
from recompra.auth.keys import VerifiedKeys
from recompra.db import unit_of_work
from recompra.models import IdempotencyRecord
from recompra.models.base import utcnow

HEADER = b"idempotency-key"
MAX_KEY_LENGTH = 200
_NOT_STORED = {401, 403, 429}
#: How long a placeholder blocks its key: longer than any request may run.
IN_PROGRESS_LEASE = timedelta(minutes=5)
#: How long a stored response is replayed (what clients may rely on for retries).
RETENTION = timedelta(hours=24)
#: Seconds between two purges of expired records by one process.
PURGE_INTERVAL = 60.0


def api_key_from_headers(headers: dict[bytes, bytes]) -> str | None:
    """The API key from ``Authorization: Bearer ...`` or ``X-API-Key``."""
    auth = headers.get(b"authorization", b"").decode("latin-1")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    key = headers.get(b"x-api-key", b"").decode("latin-1").strip()
    return key or None


def request_hash(scope: Scope, body: bytes) -> str:
    """What identifies a request under its key: method, path, query and body."""
    digest = hashlib.sha256()
    for part in (scope["method"], scope["path"], scope.get("query_string", b"").decode()):
        digest.update(part.encode() + b"\0")
    digest.update(body)
    return digest.hexdigest()


async def _send_json(send: Send, status: int, content: Any, extra: list[Any]) -> None:
    body = json.dumps(content).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + extra})
    await send({"type": "http.response.body", "body": body})


class IdempotencyMiddleware:
    """Stores and replays POST responses keyed by API key + ``Idempotency-Key``."""

    def __init__(self, app: ASGIApp, *, engine: Engine, keys: VerifiedKeys) -> None:
        self.app = app
        self.engine = engine
        self.keys = keys
        self._next_purge = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        idem_raw = headers.get(HEADER)
        api_key = api_key_from_headers(headers)
        if idem_raw is None or api_key is None:
            await self.app(scope, receive, send)
            return
        idem_key = idem_raw.decode("latin-1").strip()
        if not idem_key or len(idem_key) > MAX_KEY_LENGTH:
            body = error_body(
                "invalid_input",
                f"Idempotency-Key must have 1 to {MAX_KEY_LENGTH} characters",
                "Idempotency-Key",
            )
            await _send_json(send, 400, body, [])
            return

        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body_bytes = b"".join(chunks)
        replayed = False

        async def replay_receive() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body_bytes, "more_body": False}
            return await receive()

        principal = self.keys.cached(api_key) or await anyio.to_thread.run_sync(
            self.keys.verify, api_key
        )
        if principal is None:
            await self.app(scope, replay_receive, send)
            return

        fingerprint = request_hash(scope, body_bytes)
        outcome = await anyio.to_thread.run_sync(
            self._claim, principal.key_id, idem_key, fingerprint
        )
        if outcome is not None:
            await _send_json(send, *outcome)
            return

        status_holder: dict[str, int] = {}
        body_parts: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
            elif message["type"] == "http.response.body":
                body_parts.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, replay_receive, capture)
        except BaseException:
            await anyio.to_thread.run_sync(self._release, principal.key_id, idem_key)
            raise
        status = status_holder.get("status", 500)
        if status >= 500 or status in _NOT_STORED:
            await anyio.to_thread.run_sync(self._release, principal.key_id, idem_key)
            return
        raw = b"".join(body_parts)
        try:
            content: Any = json.loads(raw) if raw else None
        except ValueError:
            content = {"raw": raw.decode("utf-8", "replace")}
        await anyio.to_thread.run_sync(self._store, principal.key_id, idem_key, status, content)

    def _claim(
        self, key_id: int, idem_key: str, request_hash: str
    ) -> tuple[int, Any, list[Any]] | None:
        """``None`` when this request may run; else the response to send instead."""
        now = utcnow()
        try:
            with unit_of_work(self.engine) as session:
                self._purge_if_due(session, now)
                record = session.execute(
                    select(IdempotencyRecord).where(
                        IdempotencyRecord.api_key_id == key_id,
                        IdempotencyRecord.idempotency_key == idem_key,
                    )
                ).scalar_one_or_none()
                if record is not None and _expired(record, now):
                    # A crashed attempt's lease, or a response past its retention.
                    session.delete(record)
                    session.flush()
                    record = None
                if record is None:
                    session.add(
                        IdempotencyRecord(
                            api_key_id=key_id,
                            idempotency_key=idem_key,
                            request_hash=request_hash,
                            status_code=0,
                            body={},
                            created_at=now,
                        )
                    )
                    return None
                if record.request_hash != request_hash:
                    return (
                        409,
                        error_body(
                            "idempotency_conflict",
                            "this Idempotency-Key was used with a different request",
                            "Idempotency-Key",
                        ),
                        [],
                    )
                if record.status_code == 0:
                    return (409, _in_progress(), [])
                return (
                    record.status_code,
                    record.body.get("content"),
                    [(b"idempotent-replayed", b"true")],
                )
        except IntegrityError:
            # A concurrent request claimed the key between our read and insert.
            return (409, _in_progress(), [])

    def _purge_if_due(self, session: Session, now: datetime) -> None:
        """Delete expired records, at most once per ``PURGE_INTERVAL`` in this process."""
        if time.monotonic() < self._next_purge:
            return
        self._next_purge = time.monotonic() + PURGE_INTERVAL
        purge_expired_records(session, now=now)

    def _store(self, key_id: int, idem_key: str, status: int, content: Any) -> None:
        with unit_of_work(self.engine) as session:
            session.execute(
                update(IdempotencyRecord)
                .where(
                    IdempotencyRecord.api_key_id == key_id,
                    IdempotencyRecord.idempotency_key == idem_key,
                )
                .values(status_code=status, body={"content": content})
            )

    def _release(self, key_id: int, idem_key: str) -> None:
        with unit_of_work(self.engine) as session:
            session.execute(
                delete(IdempotencyRecord).where(
                    IdempotencyRecord.api_key_id == key_id,
                    IdempotencyRecord.idempotency_key == idem_key,
                )
            )


def purge_expired_records(session: Session, *, now: datetime) -> int:
    """Delete the records past their lease (placeholders) or retention (responses);
    returns how many."""
    result = session.execute(delete(IdempotencyRecord).where(_expired_clause(now)))
    return int(getattr(result, "rowcount", 0) or 0)


def purge_job(session: Session, *, now: datetime) -> int:
    """:func:`purge_expired_records` as a worker job (``WorkerJob``).

    Returns 0: the worker counts what may call for another pass (and reports it as cases
    opened); one DELETE removes every expired record, so none is left for a next pass.
    """
    purge_expired_records(session, now=now)
    return 0


def _expired(record: IdempotencyRecord, now: datetime) -> bool:
    """Whether a record no longer holds its key (see :func:`_expired_clause`)."""
    lifetime = IN_PROGRESS_LEASE if record.status_code == 0 else RETENTION
    return record.created_at <= now - lifetime


def _expired_clause(now: datetime) -> Any:
    """SQL twin of :func:`_expired`, for the bulk purge."""
    return or_(
        (IdempotencyRecord.status_code == 0)
        & (IdempotencyRecord.created_at <= now - IN_PROGRESS_LEASE),
        IdempotencyRecord.created_at <= now - RETENTION,
    )


def _in_progress() -> dict[str, Any]:
    return error_body(
        "idempotency_in_progress",
        "a request with this Idempotency-Key is still being processed",
        "Idempotency-Key",
    )
