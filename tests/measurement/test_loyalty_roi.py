"""Loyalty ROI on a store built so each member has a non-member twin before enrolment:
the expected figures are worked out by hand below from the orders placed here."""

from __future__ import annotations

import math
import statistics
from datetime import timedelta

from automationtest import NOON, add_order, make_store
from scipy import stats as scipy_stats
from sqlalchemy import Engine

from recompra.db import unit_of_work
from recompra.loyalty.operations.adjust import adjust
from recompra.measurement.loyalty_roi import RoiSettings, loyalty_roi

ENROLLED = NOON
AMOUNTS = (5_000, 10_000, 20_000, 40_000)


def test_members_are_matched_to_their_pre_enrolment_twins(engine: Engine) -> None:
    store = make_store(engine, customers=8, points=0)
    members, others = store.customers[:4], store.customers[4:]
    with unit_of_work(engine) as session:
        for i, amount in enumerate(AMOUNTS):
            for who, customer in (("m", members[i]), ("n", others[i])):
                before = ENROLLED - timedelta(days=30)
                add_order(session, store, customer, f"{who}{i}-pre", at=before, total_minor=amount)
            adjust(
                session,
                program_id=store.program_id,
                customer_id=members[i],
                points=100,
                request_key=f"join-{i}",
                reason="join",
                now=ENROLLED,
            )
            after = ENROLLED + timedelta(days=10)
            add_order(session, store, members[i], f"m{i}-post", at=after, total_minor=10_000)
        add_order(session, store, others[0], "n0-post", at=after, total_minor=4_000)
        # Outside the 180-day window: not counted.
        late = ENROLLED + timedelta(days=200)
        add_order(session, store, members[3], "m3-late", at=late, total_minor=99_000)
    with unit_of_work(engine, write=False) as session:
        report = loyalty_roi(
            session,
            brand_id=store.brand_id,
            now=ENROLLED + timedelta(days=400),
            settings=RoiSettings(post_days=180, margin_rate=0.3, point_value_minor_per_1000=5_000),
        )
    # Margins after enrolment: members 10,000 x 0.3 each; twins 4,000 x 0.3, 0, 0, 0.
    differences = [3_000 - 1_200, 3_000, 3_000, 3_000]
    total = sum(differences)
    half = scipy_stats.t.ppf(0.975, 3) * statistics.stdev(differences) / math.sqrt(4)
    assert (report.members, report.matched) == (4, 4)
    assert report.incremental_margin is not None
    assert report.incremental_margin.value_minor == total
    assert report.incremental_margin.ci_low_minor == round((total / 4 - half) * 4)
    assert report.incremental_margin.ci_high_minor == round((total / 4 + half) * 4)
    points = report.points
    assert points is not None
    assert (points.issued, points.redeemed, points.outstanding) == (400, 0, 400)
    assert points.liability_minor == 400 * 5
    assert points.redemption_rate == 0
    assert report.roi is not None
    assert math.isclose(report.roi.value, (total - 2_000) / 2_000)
    assert report.incremental_margin_per_point_minor == total / 400
    # Churn (no order in the window): members 0 of 4, twins 3 of 4.
    assert report.churn_difference is not None
    assert math.isclose(report.churn_difference.value, 0 - 3 / 4)


def test_a_brand_without_a_program_gets_a_reason(engine: Engine) -> None:
    store = make_store(engine, customers=1, points=0)
    with unit_of_work(engine) as session:
        from recompra.models.loyalty import LoyaltyProgram

        session.get_one(LoyaltyProgram, store.program_id).status = "archived"
    with unit_of_work(engine, write=False) as session:
        report = loyalty_roi(session, brand_id=store.brand_id, now=NOON)
    assert (report.reason, report.incremental_margin) == ("no_program", None)
