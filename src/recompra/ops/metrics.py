"""Prometheus metrics: HTTP requests by route and status, and the depth of the work queues.

Request metrics are counted by the server's outermost ASGI middleware and labelled with the matched
route's *template* (``/v1/customers/{customer_id}``), never the raw path, so an id or an
e-mail in a URL neither leaks into the metrics nor multiplies their series.

With several server processes (``recompra serve --workers N``) each process counts its
own requests; ``prometheus_client``'s multi-process mode, switched on by the
``PROMETHEUS_MULTIPROC_DIR`` variable that ``recompra serve`` sets, writes the samples to
files there so that whichever process answers a scrape reports the sum over all of them.
Queue gauges are read from the database at scrape time, so every process reports the
same figure.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from datetime import datetime

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select
from starlette.types import Scope

from recompra.models.automation import JourneyTimer, OutboxMessage
from recompra.models.base import utcnow
from recompra.models.voc import Case

#: The environment variable that turns on prometheus_client's multi-process mode.
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: The label of a request that matched no route (404s): raw paths would be unbounded.
UNMATCHED_ROUTE = "unmatched"
#: Latency buckets, seconds: the API's targets sit between 5 ms and 1 s.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter(
    "recompra_http_requests",
    "HTTP requests answered, by method, route template and status code",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "recompra_http_request_duration_seconds",
    "Time from receiving a request to sending its last byte, by method and route template",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)


def route_template(scope: Scope) -> str:
    """The template of the route Starlette matched for this request, or ``unmatched``."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


def observe_request(scope: Scope, status: int, started: float) -> None:
    """Count an answered HTTP request and time it (``started``: its ``perf_counter``),
    labelled by its route template. Called by the server's outermost middleware
    (``recompra.server.EdgeMiddleware``), so every answer is counted: a 413, a 429, a
    replayed idempotent one, and a 500 for an exception before the response started."""
    method = str(scope.get("method", ""))
    route = route_template(scope)
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(method, route).observe(time.perf_counter() - started)


class QueueCollector(Collector):
    """Gauges read from the database when scraped: the automation outbox by state, the
    journey timers already due, the age of the oldest message waiting to be sent, and the
    open cases whose resolution deadline has passed."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        now = utcnow()
        with self.engine.connect() as connection:
            outbox = connection.execute(
                select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)
            ).all()
            timers_due = connection.scalar(
                select(func.count())
                .select_from(JourneyTimer)
                .where(JourneyTimer.state == "pending", JourneyTimer.due_at <= now)
            )
            oldest_pending: datetime | None = connection.scalar(
                select(func.min(OutboxMessage.next_attempt_at)).where(
                    OutboxMessage.state == "pending"
                )
            )
            overdue_cases = connection.scalar(
                select(func.count())
                .select_from(Case)
                .where(Case.status.not_in(("resolved", "closed")), Case.resolution_due_at < now)
            )
        by_state = GaugeMetricFamily(
            "recompra_outbox_messages", "Automation outbox messages by state", labels=["state"]
        )
        for state, count in outbox:
            by_state.add_metric([state], count)
        yield by_state
        yield GaugeMetricFamily(
            "recompra_journey_timers_due",
            "Journey timers whose time has come and that no worker has fired yet",
            value=timers_due or 0,
        )
        yield GaugeMetricFamily(
            "recompra_outbox_oldest_pending_seconds",
            "How long the oldest pending outbox message has been due (0 when none is)",
            value=_seconds_overdue(oldest_pending, now),
        )
        yield GaugeMetricFamily(
            "recompra_cases_overdue",
            "Open cases past their resolution deadline",
            value=overdue_cases or 0,
        )


def _seconds_overdue(due: datetime | None, now: datetime) -> float:
    if due is None:
        return 0.0
    if due.tzinfo is None:  # SQLite hands back naive values on aggregates
        due = due.replace(tzinfo=now.tzinfo)
    return max(0.0, (now - due).total_seconds())


def scrape(engine: Engine) -> tuple[bytes, str]:
    """The metrics text (Prometheus exposition format) and its content type."""
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROCESS_ENV):
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        for collector in _process_collectors():
            registry.register(collector)
    registry.register(QueueCollector(engine))
    return generate_latest(registry), CONTENT_TYPE_LATEST


def _process_collectors() -> Iterable[Collector]:
    # In single-process mode the module-level metrics live in the default registry.
    yield REQUESTS
    yield LATENCY
