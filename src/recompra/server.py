"""The application factory: the REST API and the dashboard on one ASGI app.

It sits above both ``recompra.api`` and ``recompra.web`` (neither imports the other;
both read through :mod:`recompra.reads`). ``recompra serve`` runs it with
``uvicorn recompra.server:create_app --factory``.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, ExitStack, asynccontextmanager, suppress
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import Engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from recompra.api.body_limit import BodyTooLarge, counting, declared_too_large, refuse
from recompra.api.deps import KnownBrands, document_security
from recompra.api.errors import install_error_handlers
from recompra.api.idempotency import IdempotencyMiddleware, purge_job, purge_pending
from recompra.api.ratelimit import TokenBucketLimiter, bucket_directory, rate_limit_headers
from recompra.api.routers import (
    analytics,
    automation,
    cases,
    commercial,
    customers,
    engagement,
    health,
    ingest,
    keys,
    loyalty,
    loyalty_accounts,
    measurement,
    metrics,
    privacy,
    recommendations,
    segments,
    shopper,
    surveys,
    tracking,
    voc,
)
from recompra.api.settings import ApiSettings
from recompra.auth.keys import VerifiedKeys
from recompra.automation.embedded import EmbeddedWorker
from recompra.automation.settings import AutomationSettings
from recompra.automation.worker import ReadFirst, WorkerJob
from recompra.commercial.refit import LeadScoreRefit
from recompra.config import Settings, get_settings
from recompra.db import get_engine
from recompra.measurement.reports import MeasurementRefresh
from recompra.ops.metrics import observe_request
from recompra.privacy.audit_writer import PersonalReadLog
from recompra.reads.recommendations import recommendations_root
from recompra.voc.feedback import feedback_pending, open_cases_from_feedback
from recompra.web.app import install_dashboard
from recompra.web.security import RawHeaders, with_defaults

#: Seconds an idle kept-alive connection stays open. uvicorn's default (5 s) is below the
#: idle timeout of the proxies usually in front (nginx's upstream ``keepalive_timeout``
#: and AWS load balancers: 60 s): a proxy reusing a connection the server has just
#: closed answers its client 502. The server must outlast the proxy (docs/operations.md).
KEEP_ALIVE_S = 75

#: Seconds a worker process may take to start before the supervisor gives up on it. A
#: worker imports the whole application before it answers the supervisor's first ping;
#: on a busy 2-core host that takes longer than uvicorn's 5 s default, and the worker
#: was killed as hung, in a loop (the benchmark's floor app never started).
WORKER_STARTUP_S = 120

DESCRIPTION = """\
Recompra's REST API. Authenticate with an API key (`recompra keys create`) sent as
`Authorization: Bearer rk_...` (or `X-API-Key`). Keys carry scopes (`admin`, `ingest`,
`read`, `loyalty`) and may be restricted to one brand. Every error has the body
`{"error": {"code", "message", "field"}}`. Every POST honours an `Idempotency-Key`
header. Responses carry `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`.
"""


def worker_jobs() -> tuple[WorkerJob, ...]:
    """The jobs of the domains above automation that a worker runs on every pass, the
    server's embedded one and ``recompra worker`` alike: cases opened from low reviews,
    the lead-score refit, the purge of expired idempotency records, the measurement
    reports the dashboard and the API read. Each transaction job reads first whether it
    has anything to do (``ReadFirst``, ``LeadScoreRefit.pending``): an idle one opens no
    write transaction (on SQLite, the one write lock)."""
    return (
        ReadFirst(open_cases_from_feedback, feedback_pending),
        LeadScoreRefit.from_settings(),
        ReadFirst(purge_job, purge_pending),
        MeasurementRefresh.from_settings(),
    )


def _lifespan(
    engine: Engine, settings: Settings
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """While the server runs: the embedded automation worker when it is configured
    (``RECOMPRA_EMBEDDED_WORKER``), stopped before the server exits. (Workers in other
    processes are woken by PostgreSQL itself: ``automation.wakeup``.)"""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        automation = AutomationSettings()
        worker = None
        if automation.embedded_worker:
            worker = EmbeddedWorker(engine, settings, automation, jobs=worker_jobs())
            worker.start()
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()

    return lifespan


def create_app(
    engine: Engine | None = None,
    settings: Settings | None = None,
    api_settings: ApiSettings | None = None,
) -> FastAPI:
    """Build the ASGI app over ``engine`` (default: the configured database)."""
    settings = settings or get_settings()
    engine = engine or get_engine(settings)
    api_settings = api_settings or ApiSettings()
    app = FastAPI(
        title="Recompra",
        version="1",
        description=DESCRIPTION,
        # /docs is served by recompra.web.app from packaged assets (no CDN); no ReDoc.
        docs_url=None,
        redoc_url=None,
        lifespan=_lifespan(engine, settings),
    )
    app.state.engine = engine
    app.state.settings = settings
    app.state.api_settings = api_settings
    # Resolved once here so that the API and the dashboard read the same tables.
    app.state.recommendations_root = recommendations_root(
        home=settings.home, configured=api_settings.recommendations_dir
    )
    app.state.limiter = TokenBucketLimiter(
        capacity=api_settings.rate_limit_burst,
        per_second=api_settings.rate_limit_per_second,
        directory=bucket_directory(engine.url.render_as_string(False), settings.home),
    )
    # Per app (one per worker process): what a request would otherwise read or write in
    # a unit of work of its own (issue 20).
    app.state.keys = VerifiedKeys(engine)
    app.state.brands = KnownBrands(engine)
    app.state.personal_reads = PersonalReadLog(engine)
    install_error_handlers(app)
    # Routers are matched in this order, route by route (a few microseconds each): the
    # hot paths (the profile read, the loyalty writes) come first. No path matches
    # routes of two routers, so the order changes no answer (issue 20).
    for module in (
        health,
        customers,
        loyalty,
        loyalty_accounts,
        engagement,
        analytics,
        ingest,
        recommendations,
        keys,
        segments,
        automation,
        voc,
        measurement,
        cases,
        surveys,
        commercial,
        metrics,
        tracking,
        privacy,
        shopper,
    ):
        add_routes(app, module.router)
    serve_first(app, HOT_ROUTES)
    security = install_dashboard(app)
    document_security(app)
    app.add_middleware(IdempotencyMiddleware, engine=engine, keys=app.state.keys)
    # Outermost, so that every answer (a 413, a 429, a replayed idempotent one) is
    # counted, timed and given its headers.
    app.add_middleware(
        EdgeMiddleware, max_body_bytes=api_settings.max_body_bytes, security=security
    )
    return app


#: The hottest requests (method, path template), matched before every other route: the
#: router tries the routes in order, a few microseconds each, and the loyalty earn was
#: the 19th (after FastAPI's ``/openapi.json``, the customers' routes and nine loyalty
#: reads), about 3 % of its server CPU (issue 20).
HOT_ROUTES = (
    ("GET", "/v1/customers/{customer_id}"),
    ("POST", "/v1/loyalty/orders/{order_id}/earn"),
)


def serve_first(app: FastAPI, wanted: Sequence[tuple[str, str]]) -> None:
    """Move the routes ``wanted`` (method, path template) to the front of ``app``'s
    routes, in that order.

    The first route that matches a request answers it, so this changes no answer only
    for routes that no other route matches a request of
    (``tests/api/test_route_order.py`` checks it for :data:`HOT_ROUTES`). The OpenAPI
    document lists them first as well.
    """
    routes = app.router.routes
    first: list[APIRoute] = []
    for method, path in wanted:
        matching = [
            route
            for route in routes
            if isinstance(route, APIRoute)
            and route.path == path
            and method in (route.methods or ())
        ]
        if len(matching) != 1:
            raise ValueError(f"serve_first: {len(matching)} routes {method} {path}")
        first += matching
    moved = {id(route) for route in first}
    routes[:] = [*first, *(route for route in routes if id(route) not in moved)]


def add_routes(app: FastAPI, router: APIRouter) -> None:
    """Serve ``router``'s routes as routes of ``app`` itself, in their order.

    ``app.include_router`` keeps a router as one route of the app: every request then
    asked each included router before its own in turn, and the router that matched
    matched its routes a second time to handle the request (FastAPI's context objects
    and scope keys on every step), about 8 % of a loyalty earn's server CPU; here each
    route's path is tested once. Our routers carry their full paths (their ``prefix``)
    and nothing ``include_router`` would add (tags, dependencies, responses), so the
    routes, their OpenAPI document and their answers are the same. What is lost:
    ``app.dependency_overrides`` does not reach these routes (nothing uses it; tests
    build the app over their own engine) (issue 20).
    """
    if router.on_startup or router.on_shutdown:
        raise ValueError("add_routes: a router with event handlers needs include_router")
    app.router.routes.extend(router.routes)


class EdgeMiddleware:
    """What every HTTP exchange gets, in one pure ASGI layer: the body limit (413 before
    the app reads an oversized body, ``api.body_limit``), the response's security headers
    (``web.security``) and rate-limit headers (``api.ratelimit``), and its count and
    time (``ops.metrics``).

    They were four middlewares, each a layer a request and its two response messages
    went through (a call, a closure and an ``await`` apiece): about 3 % of a loyalty
    earn's server CPU before any of them did its own work (issue 20).
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, security: RawHeaders) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.security = security

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception before the response starts is answered as a 500
        responded = False
        try:
            if declared_too_large(scope, self.max_body_bytes):
                status = 413
                await refuse(send, self.max_body_bytes)
                return
            state = scope.setdefault("state", {})

            async def send_with_headers(message: Message) -> None:
                nonlocal status, responded
                if message["type"] == "http.response.start":
                    status, responded = int(message["status"]), True
                    headers = with_defaults(list(message.get("headers", ())), self.security)
                    headers += rate_limit_headers(state)
                    message = {**message, "headers": headers}
                await send(message)

            try:
                await self.app(scope, counting(receive, self.max_body_bytes), send_with_headers)
            except BodyTooLarge:
                # Refused when it passed the limit; a response already begun just ends.
                if not responded:
                    status = 413
                    await refuse(send, self.max_body_bytes)
        finally:
            observe_request(scope, status, started)


def run_uvicorn(app: str, *, workers: int, factory: bool = True, **options: Any) -> None:
    """Serve ``app`` (an import string) with uvicorn in ``workers`` processes: each
    worker with a listening socket of its own (``SO_REUSEPORT``), Nagle's algorithm off
    on every connection, idle kept-alive connections closed after
    ``timeout_keep_alive`` seconds (default :data:`KEEP_ALIVE_S`), and
    :data:`WORKER_STARTUP_S` for a worker to start (``timeout_worker_healthcheck``).

    uvicorn's workers share one listening socket and each keeps the connections it
    accepted: under kept-alive load the first worker to wake takes most of them and the
    others idle (16 connections, 2 workers: 100 % / 0 % of the CPU, no faster than one
    worker; issue 20). With a socket per worker in one ``SO_REUSEPORT`` group the kernel
    spreads new connections over the workers by a hash of their addresses.
    """
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    options.setdefault("timeout_keep_alive", KEEP_ALIVE_S)
    options.setdefault("timeout_worker_healthcheck", WORKER_STARTUP_S)
    if workers <= 1:
        uvicorn.run(app, factory=factory, **options)
        return
    config = uvicorn.Config(app, factory=factory, workers=workers, **options)
    # A PerWorkerListener stands in for a socket: uvicorn only hands it to the workers.
    sockets: list[Any]
    with ExitStack() as held, suppress(KeyboardInterrupt):  # Ctrl+C stops, as uvicorn.run
        if config.uds or config.fd is not None or not hasattr(socket, "SO_REUSEPORT"):
            listener = held.enter_context(config.bind_socket())
            no_delay(listener)
            sockets = [listener]
        else:
            # Held by the supervisor, bound but never listening: the port stays this
            # server's while workers come and go (a taken port fails here, once), and
            # no connection is ever queued on it.
            reservation = held.enter_context(reserve_port(config.host, config.port))
            address = reservation.getsockname()
            sockets = [PerWorkerListener(address)]
            logging.getLogger("uvicorn.error").info(
                "Uvicorn running on %s:%d, one SO_REUSEPORT socket per worker", *address[:2]
            )
        Multiprocess(config, sockets=sockets).run()


def no_delay(listener: socket.socket) -> None:
    """Turn Nagle's algorithm off on ``listener`` (and so on what it accepts), if TCP.

    Linux copies the option from the listening socket to each connection it accepts:
    without it asyncio leaves Nagle on for a socket it did not create, and a response's
    body (uvicorn writes it after the headers) waited ~40 ms for the client's delayed
    ACK on every kept-alive request (issue 20).
    """
    if listener.family in (socket.AF_INET, socket.AF_INET6):
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _reuse_port_socket(address: tuple[Any, ...]) -> socket.socket:
    """A TCP socket bound to ``address`` in its ``SO_REUSEPORT`` group, Nagle off."""
    family = socket.AF_INET6 if ":" in str(address[0]) else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        no_delay(sock)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def reserve_port(host: str, port: int) -> socket.socket:
    """``host:port`` bound (not listening) with ``SO_REUSEPORT``; port 0 picks one.

    ``SO_REUSEPORT`` would let a second server of the same user join the port's group
    and silently take half its connections (an old version left running during an
    upgrade, say), where a plain bind fails "address already in use". So the port is
    first bound *without* it, which fails while any server listens on it.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # SO_REUSEADDR only lets connections in TIME_WAIT from an earlier run pass.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
        address = probe.getsockname()
    return _reuse_port_socket(address)


def worker_socket(address: tuple[Any, ...], supervisor: int | None = None) -> socket.socket:
    """A socket of the worker's own on ``address``, in the port's ``SO_REUSEPORT`` group.

    Bound, not yet listening: asyncio listens on it when the worker's server starts
    serving, after the application is loaded. Until then the kernel hands the port's
    connections to the workers already serving (a listening socket would queue its
    share for the import's duration: a minute on a busy host). In a worker process
    started by ``supervisor`` (its pid), the worker first ties its life to it
    (:func:`exit_with_supervisor`).
    """
    if supervisor is not None and supervisor != os.getpid():
        exit_with_supervisor(supervisor)
    return _reuse_port_socket(address)


#: ``prctl`` option: the signal the kernel sends this process when its parent dies.
_PR_SET_PDEATHSIG = 1


def exit_with_supervisor(supervisor: int) -> None:
    """Make this worker process stop (SIGTERM: uvicorn's graceful shutdown) when
    ``supervisor``, its parent, dies, even by SIGKILL: without it the workers of a killed
    ``recompra serve --workers N`` went on serving, restarted or stopped by nobody.

    Linux: ``prctl(PR_SET_PDEATHSIG)``, then a check that the parent is still the
    supervisor (it may have died before the call). Elsewhere: a thread that watches the
    parent's pid once a second.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        armed = libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0
    except (OSError, AttributeError):
        armed = False
    if armed:
        if os.getppid() != supervisor:
            os.kill(os.getpid(), signal.SIGTERM)
        return

    def watch() -> None:
        while os.getppid() == supervisor:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="supervisor-watch", daemon=True).start()


class PerWorkerListener:
    """What uvicorn's supervisor hands each worker process instead of a shared socket:
    unpickled in the worker (uvicorn spawns its workers), it becomes a socket of that
    worker's own (:func:`worker_socket`). A worker started later (a restart,
    ``SIGTTIN``) gets its own too; a worker's socket closes with it, and the kernel
    spreads new connections over the sockets left."""

    def __init__(self, address: tuple[Any, ...]) -> None:
        self.address = address
        self.supervisor = os.getpid()

    def __reduce__(self) -> tuple[Callable[..., socket.socket], tuple[Any, ...]]:
        return worker_socket, (self.address, self.supervisor)
