"""The nightly full run never reverts a live re-evaluation that committed late
(PostgreSQL: on SQLite writers are serialised from ``BEGIN IMMEDIATE``, so a lower event
id never commits after a higher one).

T1 re-evaluates customer C (who moved to SP) and takes its event id; T2 re-evaluates D
(moved to RJ), takes a higher id and commits; the full run reads its copy while T1 is
still open (C is not in SP there); then T1 commits. C's event is older by id than T2's,
so a run that settles on ``id > watermark`` took the copy's verdict and made C exit SP.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from segmenttest import NOW, brand, customer
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from dbtest import create_test_engine, wait_until_blocked_or_done
from recompra.db import unit_of_work
from recompra.models import Customer
from recompra.models.segments import SegmentMember, SegmentMembershipEvent
from recompra.segments.definition import parse_definition
from recompra.segments.flows import evaluate_all
from recompra.segments.service import apply_definition, reevaluate_customers


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[Engine]:
    yield from create_test_engine("postgres", tmp_path)


def _in_state(state: str) -> dict[str, object]:
    key = state.lower()
    return {
        "key": key,
        "name": {"pt-BR": state, "en": state},
        "rule": {"field": "state", "op": "eq", "value": state},
    }


def _move(session: Session, brand_id: int, customer_id: int, state: str) -> None:
    """The customer moves to ``state``, re-evaluated live in the caller's transaction."""
    session.execute(update(Customer).where(Customer.id == customer_id).values(state=state))
    reevaluate_customers(session, brand_id, [customer_id], now=NOW)


@pytest.mark.postgres
def test_a_live_evaluation_committed_after_the_copy_is_kept(postgres: Engine) -> None:
    engine = postgres
    with unit_of_work(engine) as session:
        b = brand(session)
        late, early = customer(session, b, state="MG"), customer(session, b, state="MG")
        for state in ("SP", "RJ"):
            apply_definition(
                session, brand_id=b, definition=parse_definition(_in_state(state)), now=NOW
            )
    errors: list[BaseException] = []

    def nightly() -> None:
        try:
            evaluate_all(engine, brand_id=b, now=NOW)
        except BaseException as error:  # reported by the test's thread
            errors.append(error)

    with unit_of_work(engine) as t1:
        _move(t1, b, late, "SP")  # T1 takes the lower event id, and holds SP's row
        with unit_of_work(engine) as t2:
            _move(t2, b, early, "RJ")
        run = threading.Thread(target=nightly)
        run.start()
        # The run copied the hub without T1's write and now waits for T1 (or finished).
        wait_until_blocked_or_done(engine, run)
    run.join()
    assert not errors, errors

    with unit_of_work(engine, write=False) as session:
        events = [
            (c, t, i)
            for c, t, i in session.execute(
                select(
                    SegmentMembershipEvent.customer_id,
                    SegmentMembershipEvent.type,
                    SegmentMembershipEvent.id,
                ).order_by(SegmentMembershipEvent.id)
            )
        ]
        members = sorted(session.scalars(select(SegmentMember.customer_id)))
    # The race: the lower id (late's) committed last; nothing else happened to either.
    assert [(c, t) for c, t, _ in events] == [(late, "segment_entered"), (early, "segment_entered")]
    assert members == sorted([late, early])
