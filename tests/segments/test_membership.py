"""Live membership: full evaluation, incremental re-evaluation, entry/exit events and
versions, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from segmenttest import NOW, brand, customer, order, refund
from sqlalchemy import Engine, select

from dbtest import BACKENDS, create_test_engine
from recompra.db import unit_of_work
from recompra.models import Customer
from recompra.models.segments import SegmentMember, SegmentMembershipEvent
from recompra.segments.definition import parse_definition
from recompra.segments.service import apply_definition, reevaluate_customers

VALUABLE_SP = {
    "key": "valuable_sp",
    "name": {"pt-BR": "SP valiosos", "en": "Valuable SP"},
    "rule": {
        "all": [
            {"field": "state", "op": "eq", "value": "SP"},
            {"field": "net_revenue", "op": "gte", "value": 500.00},
        ]
    },
}


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from create_test_engine(request.param, tmp_path)


def events(engine: Engine) -> list[tuple[int, str, int]]:
    with unit_of_work(engine, write=False) as session:
        rows = session.execute(
            select(
                SegmentMembershipEvent.customer_id,
                SegmentMembershipEvent.type,
                SegmentMembershipEvent.version,
            ).order_by(SegmentMembershipEvent.id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def members(engine: Engine) -> dict[int, int]:
    with unit_of_work(engine, write=False) as session:
        rows = session.execute(select(SegmentMember.customer_id, SegmentMember.version))
        return {c: v for c, v in rows}


def test_an_order_across_the_boundary_enters_and_a_return_exits(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        b = brand(session)
        rich = customer(session, b)
        close = customer(session, b)
        carioca = customer(session, b, state="RJ")
        order(session, b, rich, total_minor=60_000, at=NOW - timedelta(days=10))
        order(session, b, close, total_minor=45_000, at=NOW - timedelta(days=10))
        order(session, b, carioca, total_minor=90_000, at=NOW - timedelta(days=10))
        result = apply_definition(
            session, brand_id=b, definition=parse_definition(VALUABLE_SP), now=NOW
        )
    assert result.created
    assert result.version == 1
    assert members(engine) == {rich: 1}
    assert events(engine) == [(rich, "segment_entered", 1)]

    # 450.00 + 60.00 crosses 500.00: the customer enters, and only they are re-evaluated.
    with unit_of_work(engine) as session:
        second = order(session, b, close, total_minor=6_000, at=NOW)
        changes = reevaluate_customers(session, b, [close], now=NOW)
    assert {k: (d.entered, d.exited) for k, d in changes.items()} == {"valuable_sp": ([close], [])}
    assert events(engine)[-1] == (close, "segment_entered", 1)

    # A refund of the second order takes net revenue back to 450.00: the customer exits.
    with unit_of_work(engine) as session:
        refund(session, b, second, amount_minor=6_000, at=NOW)
        changes = reevaluate_customers(session, b, [close, rich, carioca], now=NOW)
    assert {k: (d.entered, d.exited) for k, d in changes.items()} == {"valuable_sp": ([], [close])}
    assert events(engine)[-1] == (close, "segment_exited", 1)
    assert members(engine) == {rich: 1}

    # Nothing moved: re-evaluating again writes nothing.
    with unit_of_work(engine) as session:
        assert reevaluate_customers(session, b, [close, rich], now=NOW) == {}
    assert len(events(engine)) == 3


def test_a_new_version_keeps_stayers_and_stamps_newcomers(engine: Engine) -> None:
    with unit_of_work(engine) as session:
        b = brand(session)
        rich = customer(session, b)
        mid = customer(session, b)
        order(session, b, rich, total_minor=60_000, at=NOW - timedelta(days=1))
        order(session, b, mid, total_minor=30_000, at=NOW - timedelta(days=1))
        apply_definition(session, brand_id=b, definition=parse_definition(VALUABLE_SP), now=NOW)
    lowered: dict[str, Any] = {
        **VALUABLE_SP,
        "rule": {
            "all": [
                {"field": "state", "op": "eq", "value": "SP"},
                {"field": "net_revenue", "op": "gte", "value": 250.00},
            ]
        },
    }
    with unit_of_work(engine) as session:
        same = apply_definition(
            session, brand_id=b, definition=parse_definition(VALUABLE_SP), now=NOW
        )
        assert (same.changed, same.version) == (False, 1)
        second = apply_definition(
            session, brand_id=b, definition=parse_definition(lowered), now=NOW
        )
    assert (second.changed, second.version) == (True, 2)
    assert members(engine) == {rich: 1, mid: 2}
    assert events(engine) == [(rich, "segment_entered", 1), (mid, "segment_entered", 2)]


def test_the_nightly_run_evaluates_segments_together(engine: Engine) -> None:
    from recompra.segments.flows import evaluate_all

    rj = {
        "key": "rj",
        "name": {"pt-BR": "RJ", "en": "RJ"},
        "rule": {"field": "state", "op": "eq", "value": "RJ"},
    }
    with unit_of_work(engine) as session:
        b = brand(session)
        rich = customer(session, b)
        carioca = customer(session, b, state="RJ")
        order(session, b, rich, total_minor=60_000, at=NOW - timedelta(days=1))
        for document in (VALUABLE_SP, rj):
            apply_definition(session, brand_id=b, definition=parse_definition(document), now=NOW)
        # Changes no write path re-evaluated: only the nightly run sees them.
        order(session, b, carioca, total_minor=1_000, at=NOW)
        newcomer = customer(session, b)
        order(session, b, newcomer, total_minor=70_000, at=NOW)
    runs = evaluate_all(engine, brand_id=b, now=NOW + timedelta(days=1), batch=2)
    assert [(r.key, r.members, r.entered, r.exited) for r in runs] == [
        ("rj", 1, 0, 0),
        ("valuable_sp", 2, 1, 0),
    ]
    assert members(engine) == {rich: 1, carioca: 1, newcomer: 1}
    assert events(engine)[-1] == (newcomer, "segment_entered", 1)


def test_a_full_evaluation_leaves_customers_a_fresher_evaluation_settled(engine: Engine) -> None:
    """The nightly run evaluates a copy taken at its start; a customer whose membership in
    a segment a write re-evaluated since (``settled``) keeps it rather than get the copy's
    verdict."""
    from recompra.segments.service import evaluate_segments, get_segment

    with unit_of_work(engine) as session:
        b = brand(session)
        rich = customer(session, b)
        other = customer(session, b)
        for person in (rich, other):
            order(session, b, person, total_minor=60_000, at=NOW - timedelta(days=10))
        apply_definition(session, brand_id=b, definition=parse_definition(VALUABLE_SP), now=NOW)
        # Both move to RJ without a re-evaluation: a full one would make both exit.
        for person in (rich, other):
            session.get(Customer, person).state = "RJ"  # type: ignore[union-attr]
    with unit_of_work(engine) as session:
        segment = get_segment(session, brand_id=b, key="valuable_sp")
        diffs = evaluate_segments(
            session, segments=[segment], now=NOW, settled=[(segment.id, rich)]
        )
        assert segment.member_count == 1
    assert (diffs["valuable_sp"].exited, diffs["valuable_sp"].members) == ([other], 1)
    assert members(engine) == {rich: 1}


def test_each_batch_of_the_nightly_run_sees_its_own_segments_whole(engine: Engine) -> None:
    """The run's own entries in an earlier batch are newer than its copy too: they must
    not keep the same customers out of later batches' segments."""
    from recompra.segments.flows import evaluate_all

    with unit_of_work(engine) as session:
        b = brand(session)
        rich = customer(session, b)
        order(session, b, rich, total_minor=60_000, at=NOW - timedelta(days=1))
        for key in ("first", "second"):
            document = {**VALUABLE_SP, "key": key}
            apply_definition(
                session, brand_id=b, definition=parse_definition(document), evaluate=False
            )
    runs = evaluate_all(engine, brand_id=b, now=NOW, batch=1)
    assert [(r.key, r.members, r.entered) for r in runs] == [("first", 1, 1), ("second", 1, 1)]
