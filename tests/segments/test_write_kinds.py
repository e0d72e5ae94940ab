"""A write re-evaluates segments only when an active segment tests a field it can change.

The probe is a clock-dependent segment (days since the last order): re-evaluating a
customer 40 days after their order puts them in, so whether a loyalty, review or event
write evaluated anything shows in the memberships. SQLite only: the decision is made
before any SQL of the dialect runs (test_live_writes.py covers both databases end to end).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from segmenttest import NOW, brand, customer, order
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from dbtest import create_test_engine
from recompra.db import unit_of_work
from recompra.models.aftersale import Event
from recompra.models.segments import SegmentMember, SegmentMembershipEvent
from recompra.segments.definition import parse_definition
from recompra.segments.live import reevaluate_loyalty, reevaluate_properties, reevaluate_written
from recompra.segments.service import apply_definition

LAPSED = {
    "key": "lapsed",
    "name": {"pt-BR": "Sem comprar há 30 dias", "en": "No purchase for 30 days"},
    "rule": {"field": "days_since_last_order", "op": "gte", "value": 30},
}
POINTS = {
    "key": "points",
    "name": {"pt-BR": "Com pontos", "en": "With points"},
    "rule": {"field": "points_balance", "op": "gte", "value": 1},
}
LATER = NOW + timedelta(days=40)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    yield from create_test_engine("sqlite", tmp_path)


def _store(engine: Engine, *definitions: dict[str, object]) -> tuple[int, int]:
    """A brand with one customer whose order is at NOW, and ``definitions`` applied."""
    with unit_of_work(engine) as session:
        b = brand(session)
        c = customer(session, b)
        order(session, b, c, total_minor=10_000, at=NOW)
        for definition in definitions:
            apply_definition(session, brand_id=b, definition=parse_definition(definition), now=NOW)
    return b, c


def _entries(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(SegmentMembershipEvent)) or 0)


def test_loyalty_and_event_writes_skip_a_brand_whose_segments_read_neither(
    engine: Engine,
) -> None:
    b, c = _store(engine, LAPSED)
    with unit_of_work(engine) as session:
        assert reevaluate_loyalty(session, b, [c], now=LATER) == {}
        event = Event(
            brand_id=b, source="test", external_id="e1", customer_id=c, type="cart", occurred_at=NOW
        )
        session.add(event)
        session.flush()
        assert reevaluate_written(session, b, "events", [event.id], now=LATER) == {}
        assert _entries(session) == 0
        # A customer write is never skipped (it can create or link the customer), and
        # the customer has lapsed by then.
        assert reevaluate_written(session, b, "customers", [c], now=LATER)["lapsed"].entered == [c]
        assert list(session.scalars(select(SegmentMember.customer_id))) == [c]


def test_a_loyalty_write_evaluates_every_segment_when_one_reads_loyalty(engine: Engine) -> None:
    b, c = _store(engine, LAPSED, POINTS)
    with unit_of_work(engine) as session:
        changes = reevaluate_loyalty(session, b, [c], now=LATER)
        # The points segment makes the evaluation happen; the customer, without an
        # account, stays out of it but enters the lapsed segment.
        assert list(changes) == ["lapsed"]
        assert changes["lapsed"].entered == [c]
        assert list(session.scalars(select(SegmentMember.customer_id))) == [c]


PLAN = {
    "key": "gold",
    "name": {"pt-BR": "Plano ouro", "en": "Gold plan"},
    "rule": {"field": "property.plan", "op": "eq", "value": "gold"},
}


def test_a_property_write_evaluates_only_when_a_segment_tests_that_property(
    engine: Engine,
) -> None:
    b, c = _store(engine, LAPSED, PLAN)
    with unit_of_work(engine) as session:
        # Nothing tests "pets": the lapsed customer is not looked at.
        assert reevaluate_properties(session, b, c, ["pets"], now=LATER) == {}
        assert _entries(session) == 0
        # "plan" is tested: the customer is re-evaluated in every segment.
        changes = reevaluate_properties(session, b, c, ["plan"], now=LATER)
        assert list(changes) == ["lapsed"]
        assert changes["lapsed"].entered == [c]
