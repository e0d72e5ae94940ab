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

The hot write endpoints (the loyalty earn, redemption and cancellation) record the key in
their own write unit of work instead (:func:`records_in_unit_of_work`): the middleware
claims nothing; the endpoint looks the key up first thing in its transaction
(:func:`replay_in`) and inserts the finished record, response included, before it
commits (:func:`record_in`). One transaction per request instead of three, and no
placeholder at all: a crash rolls the record back with the write. Writers are serialised
(SQLite's ``BEGIN IMMEDIATE``; on PostgreSQL the record's unique key), so a concurrent
request with the same key waits and then gets the replay instead of a 409. An error
answer rolls the endpoint's transaction back; the middleware then stores it on its own.

Elsewhere the record and the endpoint's write are two transactions: a crash between them
leaves a placeholder. A placeholder is therefore a **lease**: it answers 409
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
import re
import time
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import anyio.to_thread
from pydantic import BaseModel
from sqlalchemy import Engine, Table, delete, exists, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from recompra.api.errors import error_body
from recompra.auth.keys import VerifiedKeys, presented_key
from recompra.db import PREPARED, unit_of_work
from recompra.db.dialect import insert_ignoring_conflicts
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
_RECORDS = cast(Table, IdempotencyRecord.__table__)
#: The paths whose endpoints record their key in their own unit of work.
_RECORDED_IN_UNIT_OF_WORK: list[re.Pattern[str]] = []


@dataclass
class _Claim:
    """A request's key, for its endpoint to look up and record in its unit of work."""

    key_id: int
    idem_key: str
    fingerprint: str
    #: Whether expired records are due for their purge (once per interval per process).
    purge: bool
    #: Set once the endpoint recorded its response, or answered a replay or a conflict.
    settled: bool = False


_CLAIM: ContextVar[_Claim | None] = ContextVar("recompra_idempotency_claim", default=None)


def records_in_unit_of_work(path_regex: re.Pattern[str]) -> None:
    """Declare that the endpoint of the route matching ``path_regex`` calls
    :func:`replay_in` and :func:`record_in` in its write unit of work."""
    _RECORDED_IN_UNIT_OF_WORK.append(path_regex)


def claimed() -> bool:
    """Whether the request carries an ``Idempotency-Key`` its endpoint must record in its
    unit of work (:func:`replay_in`, :func:`record_in`): without one, the endpoint may
    commit its write as one statement."""
    return _CLAIM.get() is not None


def replay_in(session: Session) -> Response | None:
    """First thing in the endpoint's write unit of work: the stored answer to send
    instead (a replay, or a 409 for another request under the same key), or ``None``
    when the endpoint runs (always ``None`` without an ``Idempotency-Key``)."""
    claim = _CLAIM.get()
    if claim is None:
        return None
    now = utcnow()
    if claim.purge:
        purge_expired_records(session, now=now)
    outcome = _stored_outcome(session, claim.key_id, claim.idem_key, claim.fingerprint, now)
    if outcome is None:
        return None
    claim.settled = True
    return _response(*outcome)


def record_in(session: Session, answer: BaseModel, *, status: int = 200) -> BaseModel | Response:
    """Last thing in the endpoint's write unit of work: store ``answer`` under the
    request's key, committed with the write; returns what to send (``answer``, or the
    replay of a concurrent request with the same key that recorded first)."""
    claim = _CLAIM.get()
    if claim is None:
        return answer
    inserted = session.execute(
        insert_ignoring_conflicts(
            session, _RECORDS, index_elements=("api_key_id", "idempotency_key"), returning="id"
        )
        .values(
            api_key_id=claim.key_id,
            idempotency_key=claim.idem_key,
            request_hash=claim.fingerprint,
            status_code=status,
            body={"content": answer.model_dump(mode="json")},
            created_at=utcnow(),
        )
        .execution_options(**PREPARED)  # PostgreSQL parses it once per connection
    ).first()
    claim.settled = True
    if inserted is not None:
        return answer
    # PostgreSQL: a request with the same key committed its record after our lookup.
    outcome = _stored_outcome(session, claim.key_id, claim.idem_key, claim.fingerprint, utcnow())
    return answer if outcome is None else _response(*outcome)


def _stored_outcome(
    session: Session, key_id: int, idem_key: str, fingerprint: str, now: datetime
) -> tuple[int, Any, list[Any]] | None:
    """What a request must answer instead of running, given the record under its key
    (an expired one is deleted: the request runs)."""
    record = session.execute(
        select(IdempotencyRecord)
        .where(
            IdempotencyRecord.api_key_id == key_id,
            IdempotencyRecord.idempotency_key == idem_key,
        )
        # A lookup by the unique key, in every keyed write: planned once per connection.
        .execution_options(**PREPARED)
    ).scalar_one_or_none()
    if record is not None and _expired(record, now):
        # A crashed attempt's lease, or a response past its retention.
        session.delete(record)
        session.flush()
        return None
    if record is None:
        return None
    if record.request_hash != fingerprint:
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
    return (record.status_code, record.body.get("content"), [(b"idempotent-replayed", b"true")])


def _response(status: int, content: Any, extra: list[tuple[bytes, bytes]]) -> Response:
    headers = {name.decode(): value.decode() for name, value in extra}
    return Response(json.dumps(content), status, headers, media_type="application/json")


def api_key_from_headers(headers: dict[bytes, bytes]) -> str | None:
    """The API key the request presents, read as the endpoint's authentication reads it
    (:func:`~recompra.auth.keys.presented_key`)."""
    authorization = headers.get(b"authorization")
    x_api_key = headers.get(b"x-api-key")
    return presented_key(
        None if authorization is None else authorization.decode("latin-1"),
        None if x_api_key is None else x_api_key.decode("latin-1"),
    )


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


class _Captured:
    """The status and body of a response on their way to ``send``."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.status = 500
        self._parts: list[bytes] = []

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif message["type"] == "http.response.body":
            self._parts.append(message.get("body", b""))
        await self._send(message)

    @property
    def stored(self) -> bool:
        """Whether the answer is kept for replays (5xx and auth refusals are not)."""
        return self.status < 500 and self.status not in _NOT_STORED

    def content(self) -> Any:
        raw = b"".join(self._parts)
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return {"raw": raw.decode("utf-8", "replace")}


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
        # Most POSTs carry no Idempotency-Key: nothing more to read for them.
        api_key = None if idem_raw is None else api_key_from_headers(headers)
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
        if any(path.match(scope["path"]) for path in _RECORDED_IN_UNIT_OF_WORK):
            await self._recorded_by_endpoint(
                scope,
                replay_receive,
                send,
                _Claim(principal.key_id, idem_key, fingerprint, purge=self._purge_due()),
            )
            return
        outcome = await anyio.to_thread.run_sync(
            self._claim, principal.key_id, idem_key, fingerprint
        )
        if outcome is not None:
            await _send_json(send, *outcome)
            return

        captured = _Captured(send)
        try:
            await self.app(scope, replay_receive, captured.send)
        except BaseException:
            await anyio.to_thread.run_sync(self._release, principal.key_id, idem_key)
            raise
        if not captured.stored:
            await anyio.to_thread.run_sync(self._release, principal.key_id, idem_key)
            return
        await anyio.to_thread.run_sync(
            self._store, principal.key_id, idem_key, captured.status, captured.content()
        )

    async def _recorded_by_endpoint(
        self, scope: Scope, receive: Receive, send: Send, claim: _Claim
    ) -> None:
        """Run an endpoint that records its key itself; store its error answer, if any."""
        captured = _Captured(send)
        token = _CLAIM.set(claim)  # copied into the endpoint's thread-pool call
        try:
            await self.app(scope, receive, captured.send)
        finally:
            _CLAIM.reset(token)
        if claim.settled or not captured.stored:
            return
        await anyio.to_thread.run_sync(
            self._store_error,
            claim.key_id,
            claim.idem_key,
            claim.fingerprint,
            captured.status,
            captured.content(),
        )

    def _claim(
        self, key_id: int, idem_key: str, request_hash: str
    ) -> tuple[int, Any, list[Any]] | None:
        """``None`` when this request may run; else the response to send instead."""
        now = utcnow()
        try:
            with unit_of_work(self.engine) as session:
                if self._purge_due():
                    purge_expired_records(session, now=now)
                outcome = _stored_outcome(session, key_id, idem_key, request_hash, now)
                if outcome is None:
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
                return outcome
        except IntegrityError:
            # A concurrent request claimed the key between our read and insert.
            return (409, _in_progress(), [])

    def _purge_due(self) -> bool:
        """Whether this request purges the expired records: at most once per
        ``PURGE_INTERVAL`` in this process."""
        if time.monotonic() < self._next_purge:
            return False
        self._next_purge = time.monotonic() + PURGE_INTERVAL
        return True

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

    def _store_error(
        self, key_id: int, idem_key: str, request_hash: str, status: int, content: Any
    ) -> None:
        """Record the error answer of an endpoint that records in its unit of work (its
        transaction was rolled back); a record stored meanwhile under the key stays."""
        with unit_of_work(self.engine) as session:
            session.execute(
                insert_ignoring_conflicts(
                    session, _RECORDS, index_elements=("api_key_id", "idempotency_key")
                ).values(
                    api_key_id=key_id,
                    idempotency_key=idem_key,
                    request_hash=request_hash,
                    status_code=status,
                    body={"content": content},
                    created_at=utcnow(),
                )
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


def purge_pending(session: Session, now: datetime) -> bool:
    """Whether a record has expired (one read): the worker opens :func:`purge_job`'s
    write transaction only then (``automation.worker.ReadFirst``)."""
    return bool(session.scalar(select(exists().where(_expired_clause(now)))))


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
