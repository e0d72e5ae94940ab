"""The application factory: the REST API and the dashboard on one ASGI app.

It sits above both ``recompra.api`` and ``recompra.web`` (neither imports the other;
both read through :mod:`recompra.reads`). ``recompra serve`` runs it with
``uvicorn recompra.server:create_app --factory``.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine

from recompra.api.body_limit import BodyLimitMiddleware
from recompra.api.deps import KnownBrands
from recompra.api.errors import install_error_handlers
from recompra.api.idempotency import IdempotencyMiddleware, purge_job
from recompra.api.ratelimit import (
    RateLimitHeadersMiddleware,
    TokenBucketLimiter,
    bucket_directory,
)
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
from recompra.automation.wakeup import notify_on_trigger_writes
from recompra.automation.worker import WorkerJob
from recompra.commercial.refit import LeadScoreRefit
from recompra.config import Settings, get_settings
from recompra.db import get_engine
from recompra.measurement.reports import MeasurementRefresh
from recompra.ops.metrics import MetricsMiddleware
from recompra.privacy.audit_writer import PersonalReadLog
from recompra.reads.recommendations import recommendations_root
from recompra.voc.feedback import open_cases_from_feedback
from recompra.web.app import install_dashboard

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
    reports the dashboard and the API read."""
    return (
        open_cases_from_feedback,
        LeadScoreRefit.from_settings(),
        purge_job,
        MeasurementRefresh.from_settings(),
    )


def _lifespan(
    engine: Engine, settings: Settings
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """While the server runs: announce trigger writes to workers in other processes
    (PostgreSQL ``NOTIFY``), and run the embedded automation worker when it is configured
    (``RECOMPRA_EMBEDDED_WORKER``), stopped before the server exits."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        automation = AutomationSettings()
        stop_notifying = notify_on_trigger_writes(engine)
        worker = None
        if automation.embedded_worker:
            worker = EmbeddedWorker(engine, settings, automation, jobs=worker_jobs())
            worker.start()
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()
            stop_notifying()

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
    for module in (
        health,
        customers,
        analytics,
        ingest,
        loyalty,
        loyalty_accounts,
        engagement,
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
        app.include_router(module.router)
    install_dashboard(app)
    # Outermost first: headers are added to whatever the idempotency layer answers.
    app.add_middleware(IdempotencyMiddleware, engine=engine, keys=app.state.keys)
    app.add_middleware(RateLimitHeadersMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=api_settings.max_body_bytes)
    # Outermost of all, so that every answer (a 413, a 429, a replayed idempotent one)
    # is counted and timed.
    app.add_middleware(MetricsMiddleware)
    return app


def run_uvicorn(app: str, *, workers: int, factory: bool = True, **options: Any) -> None:
    """Serve ``app`` (an import string) with uvicorn in ``workers`` processes, with
    Nagle's algorithm off on every connection.

    With several workers uvicorn binds the listening socket itself, without a protocol
    number, and asyncio then leaves ``TCP_NODELAY`` off on the accepted connections (it
    sets it for one worker). uvicorn writes a response's headers and body separately, so
    the body waited for the client's delayed ACK: about 40 ms on every kept-alive
    request (issue 20). Linux copies the option from the listening socket to each
    connection it accepts, so it is set there.
    """
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    if workers <= 1:
        uvicorn.run(app, factory=factory, **options)
        return
    config = uvicorn.Config(app, factory=factory, workers=workers, **options)
    listener = config.bind_socket()
    no_delay(listener)
    with suppress(KeyboardInterrupt):  # Ctrl+C stops the server, as uvicorn.run does
        Multiprocess(config, sockets=[listener]).run()


def no_delay(listener: socket.socket) -> None:
    """Turn Nagle's algorithm off on ``listener`` (and so on what it accepts), if TCP."""
    if listener.family in (socket.AF_INET, socket.AF_INET6):
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
