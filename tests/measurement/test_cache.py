"""The reports the page and the API reuse (measurement/cache.py) are the ones computed
afresh: after a write, and after an outcome window closes with no write at all."""

from __future__ import annotations

from datetime import timedelta

from automationtest import NOON, add_order, apply, context, make_store, thank_you
from sqlalchemy import Engine

from recompra.automation.worker import decide_due, ingest_triggers
from recompra.db import unit_of_work
from recompra.measurement.cache import cached_roi_report, cached_uplift_report
from recompra.measurement.service import roi_report, uplift_report

CUSTOMERS = 24


def _journeys(report: dict[str, object]) -> object:
    return report["journeys"]


def test_a_cached_report_is_the_fresh_one_after_writes_and_as_windows_close(
    engine: Engine,
) -> None:
    store = make_store(engine, customers=CUSTOMERS, points=0)
    journey = thank_you(start="hold")
    journey["nodes"]["hold"] = {"type": "holdout", "percent": 50, "next": "send"}
    apply(engine, store, journey)
    with unit_of_work(engine) as session:
        for i, customer in enumerate(store.customers):
            add_order(session, store, customer, f"E-{i}")
            if i % 3 == 0:
                add_order(session, store, customer, f"F-{i}", at=NOON + timedelta(days=2))
    ingest_triggers(engine, now=NOON)
    decide_due(engine, context(), now=NOON)

    def both(now_days: float) -> tuple[object, object]:
        now = NOON + timedelta(days=now_days)
        with unit_of_work(engine, write=False) as session:
            cached = cached_uplift_report(session, brand_id=store.brand_id, now=now)
            fresh = uplift_report(session, brand_id=store.brand_id, now=now)
        return _journeys(cached), _journeys(fresh)

    # Before the 30-day windows close nobody is eligible; the same data a day after they
    # closed must not be answered from the earlier report.
    early, fresh = both(29)
    assert early == fresh
    late, fresh = both(31)
    assert late == fresh != early
    again, _ = both(31.5)
    assert again == late
    # A new order inside a window changes the version: recomputed.
    with unit_of_work(engine) as session:
        add_order(session, store, store.customers[1], "G-1", at=NOON + timedelta(days=3))
    after, fresh = both(31.5)
    assert after == fresh != late

    with unit_of_work(engine, write=False) as session:
        cached_roi = cached_roi_report(session, brand_id=store.brand_id)
        assert cached_roi == roi_report(session, brand_id=store.brand_id)
        assert cached_roi_report(session, brand_id=store.brand_id) is cached_roi
