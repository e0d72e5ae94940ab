"""The reports the worker stores (measurement/reports.py): equal to the ones computed
afresh after writes and as outcome windows close, computed only when out of date, never
twice at once, and left intact by a compute that fails."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import pytest
from automationtest import NOON, Store, add_order, apply, context, make_store, thank_you
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from recompra.automation.worker import decide_due, ingest_triggers
from recompra.db import unit_of_work
from recompra.measurement import reports, version
from recompra.measurement.reports import (
    ROI,
    UPLIFT,
    MeasurementRefresh,
    ReportSpec,
    page_specs,
    read_reports,
    refresh_reports,
    request_refresh,
)
from recompra.measurement.service import roi_report, uplift_report
from recompra.models import MeasurementReport

CUSTOMERS = 24
SPECS = page_specs(point_value_minor_per_1000=5_000)


@pytest.fixture
def store(engine: Engine) -> Store:
    """A brand whose thank-you journey holds out half its entrants, after its orders."""
    made = make_store(engine, customers=CUSTOMERS, points=0)
    journey = thank_you(start="hold")
    journey["nodes"]["hold"] = {"type": "holdout", "percent": 50, "next": "send"}
    apply(engine, made, journey)
    with unit_of_work(engine) as session:
        for i, customer in enumerate(made.customers):
            add_order(session, made, customer, f"E-{i}")
            if i % 3 == 0:
                add_order(session, made, customer, f"F-{i}", at=NOON + timedelta(days=2))
    ingest_triggers(engine, now=NOON)
    decide_due(engine, context(), now=NOON)
    return made


def _refresh(engine: Engine, now: datetime) -> int:
    return refresh_reports(engine, specs=SPECS, now=now)


def _stored(engine: Engine, brand_id: int, now: datetime) -> dict[str, Any]:
    with unit_of_work(engine, write=False) as session:
        return read_reports(session, brand_id=brand_id, specs=SPECS, now=now)


def test_the_stored_report_is_the_fresh_one_after_writes_and_as_windows_close(
    engine: Engine, store: Store
) -> None:
    def stored_and_fresh(now: datetime) -> tuple[Any, Any]:
        report = _stored(engine, store.brand_id, now)[UPLIFT]
        with unit_of_work(engine, write=False) as session:
            fresh = uplift_report(session, brand_id=store.brand_id, now=now)
        return report.payload["journeys"], fresh["journeys"]

    day_29, day_31 = NOON + timedelta(days=29), NOON + timedelta(days=31)
    assert _refresh(engine, day_29) == 2  # the uplift and the ROI
    early, fresh = stored_and_fresh(day_29)
    assert early == fresh
    assert _refresh(engine, day_29 + timedelta(hours=1)) == 0  # nothing changed
    # The same data a day after the 30-day windows closed: the uplift report is out of
    # date with no write at all (the ROI depends on the data only).
    assert not _stored(engine, store.brand_id, day_31)[UPLIFT].current
    assert _refresh(engine, day_31) == 1
    late, fresh = stored_and_fresh(day_31)
    assert late == fresh != early
    # A new order inside a window changes the data version: both are out of date.
    with unit_of_work(engine) as session:
        add_order(session, store, store.customers[1], "G-1", at=NOON + timedelta(days=3))
    stale = _stored(engine, store.brand_id, day_31)
    assert not stale[UPLIFT].current
    assert not stale[ROI].current
    assert stale[UPLIFT].payload["journeys"] == late
    assert _refresh(engine, day_31) == 2
    after, fresh = stored_and_fresh(day_31)
    assert after == fresh != late
    with unit_of_work(engine, write=False) as session:
        expected_roi = roi_report(session, brand_id=store.brand_id)
    assert _stored(engine, store.brand_id, day_31)[ROI].payload == expected_roi


def test_a_new_report_definition_recomputes_reports_stored_under_the_old_one(
    engine: Engine, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A release that changes how a figure is counted must not keep showing the old
    figure until the store's data happens to change."""
    assert _refresh(engine, NOON) == 2
    assert _stored(engine, store.brand_id, NOON)[UPLIFT].current
    monkeypatch.setattr(version, "REPORT_DEFINITION", version.REPORT_DEFINITION + 1)
    stored = _stored(engine, store.brand_id, NOON)
    assert not stored[UPLIFT].current
    assert not stored[ROI].current
    assert _refresh(engine, NOON) == 2


def test_a_failed_compute_leaves_the_previous_report(
    engine: Engine, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    _refresh(engine, NOON)
    before = _stored(engine, store.brand_id, NOON)
    with unit_of_work(engine) as session:
        add_order(session, store, store.customers[2], "H-1", at=NOON + timedelta(hours=1))

    def crash(self: ReportSpec, session: Session, **_: Any) -> Any:
        raise RuntimeError("worker died mid-compute")

    monkeypatch.setattr(ReportSpec, "compute", crash)
    with pytest.raises(RuntimeError, match="mid-compute"):
        _refresh(engine, NOON + timedelta(hours=2))
    after = _stored(engine, store.brand_id, NOON + timedelta(hours=2))
    for kind in (UPLIFT, ROI):
        assert after[kind].payload == before[kind].payload
        assert after[kind].computed_at == before[kind].computed_at
        assert not after[kind].current


def test_two_workers_at_once_compute_each_report_once(
    engine: Engine, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    computed: list[str] = []
    compute = ReportSpec.compute

    def slow(self: ReportSpec, session: Session, **kwargs: Any) -> Any:
        computed.append(self.kind)
        time.sleep(0.3)  # long enough for the other worker to arrive meanwhile
        return compute(self, session, **kwargs)

    monkeypatch.setattr(ReportSpec, "compute", slow)
    start = threading.Barrier(2)

    def worker() -> int:
        start.wait()
        return _refresh(engine, NOON)

    with ThreadPoolExecutor(max_workers=2) as pool:
        done = [f.result() for f in [pool.submit(worker) for _ in range(2)]]
    assert sum(done) == 2
    assert sorted(computed) == [ROI, UPLIFT]
    with unit_of_work(engine, write=False) as session:
        rows = session.scalars(
            select(MeasurementReport).where(MeasurementReport.brand_id == store.brand_id)
        ).all()
    assert sorted(row.kind for row in rows) == [ROI, UPLIFT]


@pytest.fixture
def no_request() -> Iterator[None]:
    reports._REQUESTED.clear()
    yield
    reports._REQUESTED.clear()


@pytest.mark.usefixtures("no_request")
def test_the_job_checks_every_interval_or_when_a_reader_asks(engine: Engine, store: Store) -> None:
    job = MeasurementRefresh(SPECS, interval=timedelta(minutes=1))

    def run(now: datetime) -> int:
        return job.run(engine, now=now)

    assert run(NOON) == 2
    with unit_of_work(engine) as session:
        add_order(session, store, store.customers[4], "K-1", at=NOON + timedelta(hours=1))
    assert run(NOON + timedelta(seconds=10)) == 0  # not checked again before the minute
    request_refresh()
    assert run(NOON + timedelta(seconds=11)) == 2
    assert run(NOON + timedelta(seconds=12)) == 0
    # A reader finding a report out of date asks for the check itself.
    with unit_of_work(engine) as session:
        add_order(session, store, store.customers[5], "K-2", at=NOON + timedelta(hours=2))
    assert not _stored(engine, store.brand_id, NOON + timedelta(seconds=13))[UPLIFT].current
    assert run(NOON + timedelta(seconds=14)) == 2


@pytest.mark.usefixtures("no_request")
def test_a_costly_refresh_rests_in_proportion_before_the_next(engine: Engine, store: Store) -> None:
    # Under a steady stream of writes every check finds the data moved: a refresh that
    # took 3 s (this clock's) is followed by 20 x 3 = 60 s without one, not by the
    # 10 s interval, so the job's share of the worker does not grow with the tables.
    ticks = iter(range(0, 1_000, 3))
    job = MeasurementRefresh(
        SPECS, interval=timedelta(seconds=10), clock=lambda: float(next(ticks))
    )
    assert job.run(engine, now=NOON) == 2
    with unit_of_work(engine) as session:
        add_order(session, store, store.customers[4], "K-1", at=NOON + timedelta(hours=1))
    assert job.run(engine, now=NOON + timedelta(seconds=59)) == 0
    assert job.run(engine, now=NOON + timedelta(seconds=60)) == 2
    request_refresh()  # a reader asking still gets a check at once
    assert job.run(engine, now=NOON + timedelta(seconds=61)) == 0  # nothing moved


def test_writers_are_not_held_while_a_report_is_computed(
    engine: Engine, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    compute = ReportSpec.compute
    written: list[bool] = []

    def with_a_write_meanwhile(self: ReportSpec, session: Session, **kwargs: Any) -> Any:
        # Another request writes while the report is being computed: it must not wait
        # for the computation (SQLite has one write lock for the whole database).
        def write() -> None:
            with unit_of_work(engine) as other:
                add_order(other, store, store.customers[3], f"W-{self.kind}", at=NOON)
            written.append(True)

        writer = threading.Thread(target=write)
        writer.start()
        writer.join(10)
        assert not writer.is_alive(), "a write waited for the report's computation"
        return compute(self, session, **kwargs)

    monkeypatch.setattr(ReportSpec, "compute", with_a_write_meanwhile)
    assert _refresh(engine, NOON) == 2
    assert written == [True, True]
