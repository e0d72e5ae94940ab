"""The measurement reports the worker computes and stores, and the page and the API read.

Computing the page "O que cada ação rendeu" takes seconds of CPU on the demo store (the
program ROI matches members day by day; each journey's comparison reads its runs, outbox
and orders and runs the statistics), far over the dashboard's 300 ms. So no request
computes it: :class:`MeasurementRefresh`, a job of every worker
(``recompra.server.worker_jobs``), stores each brand's uplift and ROI report in
``measurement_reports`` with the data version it read
(:mod:`recompra.measurement.version`), and recomputes a report when that version moved
or, for the uplift, when an outcome window closed since. Readers (:func:`read_reports`)
look up the row and the current version, a constant number of statements, and show an
out-of-date report with its age while the worker catches up.

Several workers may run the job at once. On PostgreSQL each report is claimed with a
transaction-scoped advisory lock taken without waiting: a worker that finds it taken
leaves the report to the one computing it, and the freshness check runs again under the
lock, so a report another worker has just committed is not computed again. Within one
process the refreshes take turns. On SQLite two worker processes could compute the same
report at once (the same result is stored twice; a waste, not an error): a deployment
that runs several workers runs PostgreSQL (docs/operations.md). A report is computed in
a read transaction and stored in a short write transaction of its own, so SQLite's write
lock is not held while it computes, and a worker that dies while computing leaves the
previous report as it was.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Engine, and_, func, or_, select
from sqlalchemy.orm import Session

from recompra.config import get_settings
from recompra.db import unit_of_work
from recompra.db.dialect import is_postgresql
from recompra.errors import Conflict
from recompra.measurement.loyalty_roi import RoiSettings
from recompra.measurement.service import roi_report, uplift_report
from recompra.measurement.uplift import Settings
from recompra.measurement.version import next_change, version_key
from recompra.models import Brand, MeasurementReport

UPLIFT, ROI = "uplift", "roi"


class ReportPending(Conflict):
    """No report has been stored yet for these settings: the worker computes it."""

    code = "report_pending"


@dataclass(frozen=True)
class ReportSpec:
    """One report the worker keeps: its kind and its settings."""

    kind: str
    settings: Settings | RoiSettings

    @property
    def key(self) -> str:
        """The settings as canonical JSON: the row's ``settings_key``."""
        return json.dumps(dataclasses.asdict(self.settings), sort_keys=True, default=str)

    def compute(
        self, session: Session, *, brand_id: int, now: datetime
    ) -> tuple[dict[str, Any], datetime | None]:
        """The report as of ``now`` and until when it holds with no write."""
        if isinstance(self.settings, Settings):
            report = uplift_report(session, brand_id=brand_id, now=now, settings=self.settings)
            return report, next_change(session, now, self.settings.window_days)
        # As of the last purchase day: the ROI depends on the data only.
        return roi_report(session, brand_id=brand_id, settings=self.settings), None


def uplift_spec(settings: Settings | None = None) -> ReportSpec:
    """The uplift report with ``settings`` (default: the page's)."""
    return ReportSpec(UPLIFT, settings or Settings())


def roi_spec(*, point_value_minor_per_1000: int) -> ReportSpec:
    """The loyalty ROI with the page's settings and the configured point value."""
    return ReportSpec(ROI, RoiSettings(point_value_minor_per_1000=point_value_minor_per_1000))


def page_specs(*, point_value_minor_per_1000: int) -> tuple[ReportSpec, ReportSpec]:
    """The reports the page shows (and the API serves with its default parameters)."""
    return uplift_spec(), roi_spec(point_value_minor_per_1000=point_value_minor_per_1000)


@dataclass(frozen=True)
class StoredReport:
    """A stored report, when it was computed, and whether it is the report of now."""

    payload: dict[str, Any]
    computed_at: datetime
    current: bool


def _is_current(row: MeasurementReport | None, version: str, now: datetime) -> bool:
    return (
        row is not None
        and row.data_version == version
        and (row.valid_until is None or now < row.valid_until)
    )


def read_reports(
    session: Session, *, brand_id: int, specs: tuple[ReportSpec, ...], now: datetime
) -> dict[str, StoredReport | None]:
    """The brand's stored reports by kind (``None``: not computed yet), whatever the
    number of reports: one lookup, and the data version's statements when one exists."""
    rows = {
        row.kind: row
        for row in session.scalars(
            select(MeasurementReport).where(
                MeasurementReport.brand_id == brand_id,
                or_(
                    *(
                        and_(
                            MeasurementReport.kind == spec.kind,
                            MeasurementReport.settings_key == spec.key,
                        )
                        for spec in specs
                    )
                ),
            )
        )
    }
    version = version_key(session) if rows else ""
    found: dict[str, StoredReport | None] = {}
    for spec in specs:
        row = rows.get(spec.kind)
        found[spec.kind] = (
            None
            if row is None
            else StoredReport(row.payload, row.computed_at, _is_current(row, version, now))
        )
    if any(report is None or not report.current for report in found.values()):
        request_refresh()
    return found


#: Set by a reader that found a report missing or out of date: this process's worker
#: (``recompra serve --worker``) then looks at once instead of at its next check.
_REQUESTED = threading.Event()


def request_refresh() -> None:
    """Ask this process's worker to check the reports on its next pass."""
    _REQUESTED.set()


def _claim(session: Session, brand_id: int, spec: ReportSpec) -> bool:
    """Whether this transaction may compute the report (see the module's docstring)."""
    if not is_postgresql(session.get_bind()):
        return True
    name = f"measurement_reports:{brand_id}:{spec.kind}:{spec.key}".encode()
    lock_id = int.from_bytes(hashlib.sha256(name).digest()[:8], "big", signed=True)
    return bool(session.scalar(select(func.pg_try_advisory_xact_lock(lock_id))))


def _stored_row(session: Session, brand_id: int, spec: ReportSpec) -> MeasurementReport | None:
    # populate_existing: under the claim, what another worker has just committed counts.
    return session.scalars(
        select(MeasurementReport)
        .where(
            MeasurementReport.brand_id == brand_id,
            MeasurementReport.kind == spec.kind,
            MeasurementReport.settings_key == spec.key,
        )
        .execution_options(populate_existing=True)
    ).first()


#: One refresh at a time in this process: a second worker thread (the embedded worker
#: beside a test's or a CLI's pass) waits, then finds the report the first one stored.
_COMPUTING = threading.Lock()


def refresh_reports(engine: Engine, *, specs: tuple[ReportSpec, ...], now: datetime) -> int:
    """Compute and store every brand's report of ``specs`` that is missing or out of
    date; returns how many were computed. The one write path of ``measurement_reports``.

    The reports are computed in a read transaction and each is stored in a short write
    transaction of its own: on SQLite a write transaction holds the database's one write
    lock, and a computation of seconds would make every ingest, earn and decision wait.
    """
    computed = 0
    with _COMPUTING, unit_of_work(engine, write=False) as reading:
        version = version_key(reading)
        for brand_id in reading.scalars(select(Brand.id).order_by(Brand.id)).all():
            for spec in specs:
                if _is_current(_stored_row(reading, brand_id, spec), version, now):
                    continue
                if not _claim(reading, brand_id, spec):
                    continue  # another worker is computing it
                if _is_current(_stored_row(reading, brand_id, spec), version, now):
                    continue  # another worker has just stored it
                payload, valid_until = spec.compute(reading, brand_id=brand_id, now=now)
                with unit_of_work(engine) as writing:
                    row = _stored_row(writing, brand_id, spec)
                    if row is None:
                        row = MeasurementReport(
                            brand_id=brand_id, kind=spec.kind, settings_key=spec.key
                        )
                        writing.add(row)
                    row.data_version, row.computed_at = version, now
                    row.valid_until, row.payload = valid_until, payload
                computed += 1
    return computed


class RefreshSettings(BaseSettings):
    """``RECOMPRA_MEASUREMENT_REFRESH_SECONDS``."""

    model_config = SettingsConfigDict(env_prefix="RECOMPRA_", extra="ignore")

    #: How often a worker reads the data version to see whether a report is out of date
    #: (a page that finds one out of date makes the server's own worker look at once).
    measurement_refresh_seconds: int = Field(default=30, ge=0)


#: A refresh that took ``t`` seconds is followed by at least ``REST_FACTOR * t`` seconds
#: without one (unless a reader asks): under a steady stream of writes every check finds
#: the version moved, and the reports read every run, message and order, so a fixed
#: interval let the job's share of the worker grow with the tables (a sustained run of
#: 720,000 events: 4 s a refresh, twice a minute, by its tenth minute).
REST_FACTOR = 20


class MeasurementRefresh:
    """The worker job that keeps every brand's page reports current.

    A worker passes every second; the data version (a dozen aggregates over the tables
    the reports read) is read at most every ``interval``, and after a refresh that took
    ``t`` seconds not before ``REST_FACTOR * t`` (the job takes at most about 5% of the
    worker's time, whatever the size of the data), or on the next pass after a reader of
    this process asked for it (:func:`request_refresh`). ``clock`` measures the refresh
    (seconds).
    """

    def __init__(
        self,
        specs: tuple[ReportSpec, ...],
        *,
        interval: timedelta,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.specs = specs
        self.interval = interval
        self.clock = clock
        self._checked_at: datetime | None = None
        self._rest = timedelta(0)

    @classmethod
    def from_settings(cls, settings: RefreshSettings | None = None) -> MeasurementRefresh:
        """The page's reports, checked as often as ``settings`` say (default: the
        environment), with the configured point value."""
        chosen = settings or RefreshSettings()
        return cls(
            page_specs(point_value_minor_per_1000=get_settings().point_value_minor_per_1000),
            interval=timedelta(seconds=chosen.measurement_refresh_seconds),
        )

    def run(self, engine: Engine, *, now: datetime) -> int:
        """Refresh what is out of date when a check is due; return how many reports were
        computed."""
        checked = self._checked_at
        wait = max(self.interval, self._rest)
        if checked is not None and now - checked < wait and not _REQUESTED.is_set():
            return 0
        _REQUESTED.clear()
        self._checked_at = now
        began = self.clock()
        computed = refresh_reports(engine, specs=self.specs, now=now)
        self._rest = timedelta(seconds=REST_FACTOR * (self.clock() - began))
        return computed
