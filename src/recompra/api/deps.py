"""Request dependencies as ``Annotated`` aliases: sessions, the caller, its brand.

Every endpoint declares what it needs in its signature::

    def get_customer(customer_id: CustomerId, brand: ReadBrand, session: ReadSession) -> ...

``ReadBrand`` authenticates the key, checks the ``read`` scope, applies the rate limit and
resolves which brand the request is about (a brand-restricted key can only name its own).
Hot write endpoints take a writer instead (``LoyaltyWriter``) and open its unit of work in
their body, so that it begins and commits inside one thread-pool call (ADR 0003).
"""

import functools
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Query, Request, Response
from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import ResponseValidationError
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import APIKeyHeader, HTTPBearer
from sqlalchemy import Engine, bindparam, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from recompra.api.errors import RateLimited, Unauthorized
from recompra.api.ratelimit import STATE_KEY, TokenBucketLimiter
from recompra.auth.keys import Principal, VerifiedKeys, last_used_is_stale, presented_key
from recompra.db import session_factory, unit_of_work
from recompra.errors import Forbidden, InvalidInput, NotFound
from recompra.loyalty.ledger.server_side import autocommit_session
from recompra.models import Brand
from recompra.privacy.audit_writer import PersonalReadLog

#: Largest id accepted in paths and queries (a BIGINT): larger values are malformed.
MAX_ID = 2**63 - 1
#: How long a resolved brand is remembered (see :class:`KnownBrands`).
BRAND_CACHE_TTL_S = 5.0

#: How a key is presented, for the OpenAPI document only (:func:`document_security`):
#: as dependencies they cost every request a resolution pass each (issue 20).
_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer rk_...`")
_header_key = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="The API key in `X-API-Key`"
)
#: The dependencies that authenticate a key: their operations document both schemes.
_AUTHENTICATING: set[Callable[..., Any]] = set()


async def get_engine_dep(request: Request) -> Engine:
    """The engine the app was created with (``async``: no thread-pool hop for a lookup)."""
    engine: Engine = request.app.state.engine
    return engine


EngineDep = Annotated[Engine, Depends(get_engine_dep)]


#: ``Session.info`` flag of a request's read session still to be ended.
_READ_UNIT = "recompra_read_unit"
#: The request's read session, for :class:`OneHopRoute` to end in the endpoint's call
#: (the endpoint may hold it inside another dependency's value). Set in the request's
#: task; the thread pool runs the endpoint in a copy of that context.
_request_read_unit: ContextVar[Session | None] = ContextVar("request_read_unit", default=None)


def _end_read_unit(session: Session, *, failed: bool) -> None:
    """Commit (or roll back) and close a read session, blocking: what the exit of
    :func:`~recompra.db.unit_of_work` does for a read."""
    try:
        if failed:
            session.rollback()
        else:
            session.commit()
    finally:
        session.close()


async def read_session(engine: EngineDep) -> AsyncIterator[Session]:
    """A read-only unit of work for the request, with no thread-pool hop of its own.

    ``async``: creating a session does no I/O (it connects at its first statement, in
    the endpoint's thread). A sync endpoint's route (:class:`OneHopRoute`) ends the unit
    in the endpoint's own thread-pool call; only when that did not happen (an ``async``
    endpoint, a session used by a sub-dependency alone) does the exit take a hop to
    end it. A sync generator dependency cost two more hops per request: its entry and
    its exit (issue 20).
    """
    session = session_factory(engine)()
    session.info[_READ_UNIT] = True
    _request_read_unit.set(session)
    failed = False
    try:
        yield session
    except BaseException:
        failed = True
        raise
    finally:
        if session.info.get(_READ_UNIT) and session.get_transaction() is not None:
            await run_in_threadpool(_end_read_unit, session, failed=failed)


def write_session(engine: EngineDep) -> Iterator[Session]:
    """A write unit of work: committed when the endpoint returns, rolled back on error."""
    with unit_of_work(engine, write=True) as session:
        yield session


# scope="function": the unit of work ends when the endpoint returns, before the response
# is sent. With the default ("request") FastAPI closes it after sending: a client could
# read 200 for a write whose commit then failed, its next request on the same kept-alive
# connection raced the previous commit, and the connection stayed checked out while the
# response was written (issue 20).
ReadSession = Annotated[Session, Depends(read_session, scope="function")]
WriteSession = Annotated[Session, Depends(write_session, scope="function")]


class OneHopRoute(APIRoute):
    """An API route whose sync endpoint runs in one thread-pool call with what FastAPI
    would otherwise do in more: the end of its ``ReadSession`` (a generator dependency's
    exit was a hop) and, where the response model is fixed, the response's validation
    and JSON encoding (FastAPI validates a sync endpoint's return value in a hop of its
    own). A read request thus takes one hop in all (issue 20).

    Every API router is built with ``route_class=OneHopRoute``.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if inspect.iscoroutinefunction(endpoint):
            super().__init__(path, endpoint, **kwargs)
            return
        # The route's response settings exist only once the route is built: the wrapper
        # reads them at call time.
        original = endpoint

        @functools.wraps(original)
        def run(*args: Any, **kw: Any) -> Any:
            unit = _request_read_unit.get()
            failed = True
            try:
                result = original(*args, **kw)
                failed = False
            finally:
                if unit is not None and unit.info.get(_READ_UNIT):
                    unit.info[_READ_UNIT] = False  # ended: the dependency's exit skips it
                    _end_read_unit(unit, failed=failed)
            return self._encoded(result)

        super().__init__(path, run, **kwargs)
        # A ``Response`` parameter's headers and status are merged into the response by
        # FastAPI only when the endpoint returns plain data: leave those routes alone.
        self._encodes = (
            self.response_field is not None
            # FastAPI's own fast path (``dump_json``) is taken for the default class only.
            and isinstance(self.response_class, DefaultPlaceholder)
            and self.dependant.response_param_name is None
        )

    def _encoded(self, result: Any) -> Any:
        """``result`` validated against the response model and encoded as FastAPI would
        (``response_model_*`` options included), in the caller's thread."""
        field = self.response_field
        if not self._encodes or field is None or isinstance(result, Response):
            return result
        value, errors = field.validate(result, {}, loc=("response",))
        if errors:
            raise ResponseValidationError(errors=errors, body=result)
        body = field.serialize_json(
            value,
            include=self.response_model_include,
            exclude=self.response_model_exclude,
            by_alias=self.response_model_by_alias,
            exclude_unset=self.response_model_exclude_unset,
            exclude_defaults=self.response_model_exclude_defaults,
            exclude_none=self.response_model_exclude_none,
        )
        return Response(body, status_code=self.status_code or 200, media_type="application/json")


async def authenticate(request: Request, key: str | None, scope: str) -> Principal:
    """The caller's key, verified, rate limited and holding ``scope`` (or ``admin``);
    reads of personal data are logged.

    ``async`` and mostly free of I/O: the key comes from :class:`VerifiedKeys` (its row is
    read once per :data:`~recompra.auth.keys.KEY_CACHE_TTL_S`), and the audit entry is
    committed in a batch with the other requests' entries before the read runs. A plain
    call, not a dependency of its own: each level of dependencies costs FastAPI a
    resolution pass per request.
    """
    if not key:
        raise Unauthorized("missing API key: send `Authorization: Bearer <key>`")
    keys: VerifiedKeys = request.app.state.keys
    principal = keys.cached(key) or await run_in_threadpool(keys.verify, key)
    if principal is None:
        raise Unauthorized("unknown or revoked API key")
    limiter: TokenBucketLimiter = request.app.state.limiter
    decision = limiter.take(principal.key_id)
    setattr(request.state, STATE_KEY, decision.headers)
    if not decision.allowed:
        error = RateLimited(f"rate limit exceeded; retry in {decision.reset_s} s")
        error.headers = {"Retry-After": str(decision.reset_s)}  # type: ignore[attr-defined]
        raise error
    if not principal.has_scope(scope):
        raise Forbidden(f"this key lacks the `{scope}` scope")
    if last_used_is_stale(principal):
        principal = await run_in_threadpool(keys.touch, key, principal)
    personal_reads: PersonalReadLog = request.app.state.personal_reads
    # LGPD: who read which customer, when.
    await personal_reads.record(
        route=getattr(request.scope.get("route"), "path", ""),
        path_params=dict(request.path_params),
        actor=f"key:{principal.key_id}",
        brand_id=principal.brand_id,
    )
    return principal


def _key_of(request: Request) -> str | None:
    headers = request.headers
    return presented_key(headers.get("authorization"), headers.get("x-api-key"))


def _authenticating(dependency: Callable[..., Any], name: str) -> None:
    dependency.__name__ = name
    _AUTHENTICATING.add(dependency)


def require(scope: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that lets through callers holding ``scope`` (or ``admin``)."""

    async def check(request: Request) -> Principal:
        # async: a scope check needs no thread-pool hop (each sync dependency is one).
        return await authenticate(request, _key_of(request), scope)

    _authenticating(check, f"require_{scope}")
    return check


def document_security(app: FastAPI) -> None:
    """Document the key's two schemes (``Authorization: Bearer``, ``X-API-Key``) on
    every operation that authenticates one, as FastAPI would for ``HTTPBearer`` and
    ``APIKeyHeader`` dependencies.

    The key is read from the headers by the dependency itself (:func:`require`): the
    two scheme dependencies cost each request a resolution pass of their own, only to
    parse two headers (issue 20).
    """
    generate = app.openapi
    documented: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        schema = generate()  # cached by FastAPI until the routes change
        if documented and documented[0] is schema:
            return schema
        schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
        requirement: list[dict[str, list[str]]] = []
        for scheme in (_bearer, _header_key):
            name = scheme.scheme_name
            # Another scheme of the same name documented by FastAPI stays (the shopper
            # token's ``HTTPBearer``), as FastAPI keeps the last one it meets.
            body = scheme.model.model_dump(mode="json", by_alias=True, exclude_none=True)
            schemes.setdefault(name, body)
            requirement.append({name: []})
        for context in iter_route_contexts(app.routes):
            route = context.original_route
            if isinstance(route, APIRoute) and _authenticates(route.dependant):
                operations = schema["paths"][context.path_format]
                for method in context.methods or ():
                    operations[method.lower()].setdefault("security", requirement)
        documented[:] = [schema]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _authenticates(dependant: Dependant) -> bool:
    return any(sub.call in _AUTHENTICATING or _authenticates(sub) for sub in dependant.dependencies)


ReadKey = Annotated[Principal, Depends(require("read"))]
IngestKey = Annotated[Principal, Depends(require("ingest"))]
LoyaltyKey = Annotated[Principal, Depends(require("loyalty"))]
AdminKey = Annotated[Principal, Depends(require("admin"))]


@dataclass(frozen=True)
class BrandScope:
    """The brand a request is about, and who asks."""

    id: int
    currency: str
    principal: Principal


BrandIdQuery = Annotated[
    int | None,
    Query(
        ge=1,
        le=MAX_ID,
        description="Brand id; optional for brand-restricted keys and single-brand installs",
    ),
]


#: Built once (issue 20): the single brand of an install, and a brand by id.
_ONLY_BRANDS = select(Brand.id, Brand.default_currency).limit(2)
_BRAND_BY_ID = select(Brand.id, Brand.default_currency).where(Brand.id == bindparam("brand_id"))


def resolve_brand(session: Session, principal: Principal, brand_id: int | None) -> BrandScope:
    """The brand named by ``brand_id`` (or implied), as visible to ``principal``."""
    if principal.brand_id is not None:
        if brand_id is not None and brand_id != principal.brand_id:
            # Not 403: a restricted key must not learn which other brands exist.
            raise NotFound(f"brand {brand_id} not found", field="brand_id")
        brand_id = principal.brand_id
    connection = session.connection()
    if brand_id is None:
        rows = connection.execute(_ONLY_BRANDS).all()
        if len(rows) != 1:
            raise InvalidInput(
                "brand_id is required (this key is not restricted to one brand)",
                field="brand_id",
            )
        return BrandScope(rows[0][0], rows[0][1], principal)
    row = connection.execute(_BRAND_BY_ID, {"brand_id": brand_id}).first()
    if row is None:
        raise NotFound(f"brand {brand_id} not found", field="brand_id")
    return BrandScope(row[0], row[1], principal)


class KnownBrands:
    """Brands resolved in the last :data:`BRAND_CACHE_TTL_S` seconds, per requested id.

    A read request resolves its brand without a database session (and its thread-pool
    hop): brands are created rarely and never change currency. A brand created or
    deleted shows up within the TTL.
    """

    def __init__(self, engine: Engine, *, ttl_s: float = BRAND_CACHE_TTL_S) -> None:
        self.engine = engine
        self.ttl_s = ttl_s
        self._entries: dict[int | None, tuple[float, int, str]] = {}

    @staticmethod
    def _requested(principal: Principal, brand_id: int | None) -> int | None:
        return principal.brand_id if principal.brand_id is not None else brand_id

    def cached(self, principal: Principal, brand_id: int | None) -> BrandScope | None:
        """The remembered brand, if fresh and visible to ``principal`` (no I/O)."""
        if principal.brand_id is not None and brand_id not in (None, principal.brand_id):
            return None  # resolve_brand answers the 404
        entry = self._entries.get(self._requested(principal, brand_id))
        if entry is None or entry[0] <= time.monotonic():
            return None
        return BrandScope(entry[1], entry[2], principal)

    def resolve(self, principal: Principal, brand_id: int | None) -> BrandScope:
        """Read the brand (blocking) and remember it."""
        with unit_of_work(self.engine, write=False) as session:
            brand = resolve_brand(session, principal, brand_id)
        return self.remember(principal, brand_id, brand)

    def remember(self, principal: Principal, brand_id: int | None, brand: BrandScope) -> BrandScope:
        """Remember ``brand`` as the answer for this principal's requested id."""
        self._entries[self._requested(principal, brand_id)] = (
            time.monotonic() + self.ttl_s,
            brand.id,
            brand.currency,
        )
        return brand


def _brand_for(scope: str) -> Callable[..., Awaitable[BrandScope]]:
    async def dependency(request: Request, brand_id: BrandIdQuery = None) -> BrandScope:
        principal = await authenticate(request, _key_of(request), scope)
        brands: KnownBrands = request.app.state.brands
        brand = brands.cached(principal, brand_id)
        if brand is None:
            brand = await run_in_threadpool(brands.resolve, principal, brand_id)
        return brand

    _authenticating(dependency, f"require_{scope}_brand")  # it checks the scope (see require)
    return dependency


@dataclass(frozen=True)
class BrandWriter:
    """What a write endpoint needs to run its whole unit of work in its own call.

    The endpoint opens :meth:`unit_of_work` in its body: the transaction (and SQLite's
    in-process writer lock) begins and ends inside one thread-pool call, the brand is
    resolved in the same session unless :class:`KnownBrands` remembers it (one pooled
    connection per write request), and the commit happens before the response is
    built, so a failed commit is a 500, never a 200 (issue 20, ADR 0003).
    """

    engine: Engine
    principal: Principal
    brand_id: int | None
    brands: KnownBrands

    @contextmanager
    def unit_of_work(self) -> Iterator[tuple[Session, BrandScope]]:
        """A write unit of work and the brand the request is about."""
        with unit_of_work(self.engine) as session:
            yield session, self._brand(session)

    @contextmanager
    def autocommit(self) -> Iterator[tuple[Session, BrandScope]]:
        """PostgreSQL: a session in autocommit (each statement its own transaction) and
        the brand, for a write that is one statement and the reads before it (the
        loyalty earn's one call): no ``BEGIN`` and no ``COMMIT`` round trip."""
        with autocommit_session(self.engine) as session:
            yield session, self._brand(session)

    def _brand(self, session: Session) -> BrandScope:
        remembered = self.brands.cached(self.principal, self.brand_id)
        if remembered is None:
            # Resolved in the write's own session, then remembered: the next writes of
            # this brand within the TTL skip the lookup.
            resolved = resolve_brand(session, self.principal, self.brand_id)
            remembered = self.brands.remember(self.principal, self.brand_id, resolved)
        return remembered


def _writer_for(scope: str) -> Callable[..., Awaitable[BrandWriter]]:
    async def dependency(request: Request, brand_id: BrandIdQuery = None) -> BrandWriter:
        principal = await authenticate(request, _key_of(request), scope)
        engine: Engine = request.app.state.engine
        return BrandWriter(engine, principal, brand_id, request.app.state.brands)

    _authenticating(dependency, f"require_{scope}_writer")  # it checks the scope (see require)
    return dependency


ReadBrand = Annotated[BrandScope, Depends(_brand_for("read"))]
IngestBrand = Annotated[BrandScope, Depends(_brand_for("ingest"))]
LoyaltyBrand = Annotated[BrandScope, Depends(_brand_for("loyalty"))]
AdminBrand = Annotated[BrandScope, Depends(_brand_for("admin"))]
LoyaltyWriter = Annotated[BrandWriter, Depends(_writer_for("loyalty"))]

CustomerId = Annotated[int, Path(ge=1, le=MAX_ID, description="Customer id")]
ProductId = Annotated[int, Path(ge=1, le=MAX_ID, description="Product id")]
Limit = Annotated[int, Query(ge=1, le=500, description="Page size")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="Rows to skip")]
