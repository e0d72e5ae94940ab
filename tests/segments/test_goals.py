"""Goals per segment: the period cohort, the analytics KPI over it, the Wilson interval
and the linear-pace forecast."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from segmenttest import brand, customer, order

from dbtest import create_test_engine
from recompra.db import unit_of_work
from recompra.errors import InvalidInput
from recompra.segments.definition import parse_definition
from recompra.segments.goals import goal_progress, parse_period, set_goal, wilson_interval
from recompra.segments.service import apply_definition, reevaluate_customers

ONE_TIME = {
    "key": "one_time",
    "name": {"pt-BR": "Uma compra", "en": "One purchase"},
    "rule": {"field": "orders", "op": "eq", "value": 1},
}


def at(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    [
        # Newcombe (1998), Statistics in Medicine 17:857-872, Table I, method 3 (Wilson score).
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0000, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_interval_matches_newcombe(
    successes: int, trials: int, low: float, high: float
) -> None:
    found = wilson_interval(successes, trials)
    assert found == pytest.approx((low, high), abs=5e-5)


def test_periods_parse_to_calendar_bounds() -> None:
    q2 = parse_period("2026-Q2")
    assert (q2.granularity, q2.start, q2.end, q2.label) == (
        "quarter",
        date(2026, 4, 1),
        date(2026, 7, 1),
        "2026-Q2",
    )
    assert parse_period("2026-Q4").end == date(2027, 1, 1)
    assert parse_period("2026-12").end == date(2027, 1, 1)
    assert parse_period("2026").end == date(2027, 1, 1)
    with pytest.raises(InvalidInput):
        parse_period("2026-Q5")


def test_repurchase_goal_progress_over_the_period_cohort(tmp_path: Path) -> None:
    for engine in create_test_engine("sqlite", tmp_path):
        with unit_of_work(engine) as session:
            b = brand(session)
            first = {name: customer(session, b) for name in "ABCDE"}
            twice = customer(session, b)
            late = customer(session, b)
            for cid in first.values():
                order(session, b, cid, total_minor=10_000, at=at(1, 10))
            order(session, b, twice, total_minor=10_000, at=at(1, 5))
            order(session, b, twice, total_minor=10_000, at=at(2, 5))
            apply_definition(
                session,
                brand_id=b,
                definition=parse_definition(ONE_TIME),
                now=datetime(2026, 4, 1, tzinfo=UTC),
            )
            goal = set_goal(
                session,
                brand_id=b,
                key="one_time",
                kpi="repurchase_rate",
                period="2026-Q2",
                target=0.08,
            )
        with unit_of_work(engine) as session:
            order(session, b, first["B"], total_minor=10_000, at=at(4, 20))
            assert reevaluate_customers(session, b, [first["B"]], now=at(4, 20))["one_time"].exited
            order(session, b, late, total_minor=10_000, at=at(5, 10))
            assert reevaluate_customers(session, b, [late], now=at(5, 10))["one_time"].entered

        progress = goal_progress(engine, brand_id=b, key="one_time", goal_id=goal.id, now=at(5, 15))
        # Cohort: A-E were members at the start of Q2 (B left on 20 April), the late buyer
        # entered in May; the twice-buyer never was a member.
        assert progress.cohort == 6
        assert progress.status == "running"
        # analytics' repurchase rate to the end of Q2 so far: B bought twice, of 6 customers.
        assert (progress.numerator, progress.denominator) == (1, 6)
        assert progress.value == pytest.approx(1 / 6)
        assert (progress.ci_low, progress.ci_high) == pytest.approx(wilson_interval(1, 6))
        # Linear pace over 45 of Q2's 91 days: repeat buyers 0 -> 1, customers 5 -> 6.
        pace = 91 / 45
        assert progress.forecast == pytest.approx((1 * pace) / (5 + 1 * pace))
        assert progress.on_track is True
        assert (progress.elapsed_days, progress.period_days) == (45, 91)

        before = goal_progress(engine, brand_id=b, key="one_time", goal_id=goal.id, now=at(3, 1))
        assert (before.status, before.value, before.cohort) == ("not_started", None, 0)


def test_a_rate_target_above_one_is_refused(tmp_path: Path) -> None:
    for engine in create_test_engine("sqlite", tmp_path):
        with unit_of_work(engine) as session:
            b = brand(session)
            apply_definition(session, brand_id=b, definition=parse_definition(ONE_TIME))
            with pytest.raises(InvalidInput, match="share from 0 to 1"):
                set_goal(
                    session,
                    brand_id=b,
                    key="one_time",
                    kpi="repurchase_rate",
                    period="2026-Q2",
                    target=8,
                )
            with pytest.raises(InvalidInput, match="unknown KPI"):
                set_goal(
                    session, brand_id=b, key="one_time", kpi="happiness", period="2026-Q2", target=1
                )
