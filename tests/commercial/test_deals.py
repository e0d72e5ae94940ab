"""Pipeline use cases: stage history, mandatory lost reason, activities, kanban, accounts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dbtest import BACKENDS, create_test_engine
from recompra.commercial.deals import (
    add_activity,
    customer_from_won_deal,
    kanban,
    move_stage,
    open_opportunity,
)
from recompra.db import unit_of_work
from recompra.errors import InvalidInput
from recompra.hub.accounts import account_of_customer, members
from recompra.hub.brands import ensure_brand
from recompra.models import Customer, Opportunity, StageChange

AT = datetime(2026, 3, 2, 12, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from create_test_engine(request.param, tmp_path)


def _brand(engine: Engine) -> int:
    with unit_of_work(engine) as session:
        return ensure_brand(session, "b2b").id


def test_moves_are_recorded_and_kanban_sums_amounts(engine: Engine) -> None:
    brand_id = _brand(engine)
    with unit_of_work(engine) as session:
        a = open_opportunity(
            session, brand_id=brand_id, external_id="a", amount_minor=10_000, at=AT
        )
        open_opportunity(session, brand_id=brand_id, external_id="b", amount_minor=2_500, at=AT)
        move_stage(session, brand_id=brand_id, opportunity_id=a.id, stage_key="proposal", at=AT)
        move_stage(session, brand_id=brand_id, opportunity_id=a.id, stage_key="won", at=AT)
        history = session.scalars(
            select(StageChange).where(StageChange.opportunity_id == a.id).order_by(StageChange.id)
        ).all()
        assert len(history) == 3
        assert history[0].from_stage_id is None
        columns = {c.key: (c.count, c.amount_minor) for c in kanban(session, brand_id=brand_id)}
    assert columns["prospecting"] == (1, 2_500)
    assert columns["won"] == (1, 10_000)
    assert columns["proposal"] == (0, 0)


def test_lost_needs_a_reason_in_the_service_and_the_database(engine: Engine) -> None:
    brand_id = _brand(engine)
    with unit_of_work(engine) as session:
        opp_id = open_opportunity(session, brand_id=brand_id, external_id="x", at=AT).id

    def lose(session: Session, reason: str) -> None:
        move_stage(
            session,
            brand_id=brand_id,
            opportunity_id=opp_id,
            stage_key="lost",
            at=AT,
            lost_reason=reason,
        )

    with unit_of_work(engine) as session, pytest.raises(InvalidInput, match="lost reason"):
        lose(session, "  ")
    with pytest.raises(IntegrityError), unit_of_work(engine) as session:
        session.execute(update(Opportunity).where(Opportunity.id == opp_id).values(status="lost"))
    with unit_of_work(engine) as session:
        opp = session.get(Opportunity, opp_id)
        assert opp is not None
        assert opp.status == "open"
        lose(session, "price")
        assert opp.lost_reason == "price"


def test_proposal_needs_value_and_validity(engine: Engine) -> None:
    brand_id = _brand(engine)
    with unit_of_work(engine) as session:
        opp_id = open_opportunity(session, brand_id=brand_id, external_id="p", at=AT).id
        with pytest.raises(InvalidInput, match="proposal"):
            add_activity(session, brand_id=brand_id, opportunity_id=opp_id, kind="proposal", at=AT)
        activity = add_activity(
            session,
            brand_id=brand_id,
            opportunity_id=opp_id,
            kind="proposal",
            at=AT,
            proposal_amount_minor=50_000,
            proposal_valid_until=date(2026, 4, 1),
        )
        assert activity.id is not None


def test_won_deal_becomes_one_customer_account(engine: Engine) -> None:
    brand_id = _brand(engine)
    with unit_of_work(engine) as session:
        opp = open_opportunity(session, brand_id=brand_id, external_id="w", company="ACME", at=AT)
        with pytest.raises(InvalidInput, match="not won"):
            customer_from_won_deal(session, brand_id=brand_id, opportunity_id=opp.id)
        move_stage(session, brand_id=brand_id, opportunity_id=opp.id, stage_key="won", at=AT)
        first = customer_from_won_deal(session, brand_id=brand_id, opportunity_id=opp.id)
        again = customer_from_won_deal(session, brand_id=brand_id, opportunity_id=opp.id)
        assert first == again
        assert session.get(Customer, first).name == "ACME"  # type: ignore[union-attr]
        # The company account the buyers join: the deal's customer owns it.
        membership = account_of_customer(session, brand_id=brand_id, customer_id=first)
        assert membership is not None
        assert membership.role == "owner"
        assert membership.account.name == "ACME"
        # A second won deal with the same company joins the same account.
        other = open_opportunity(
            session, brand_id=brand_id, external_id="w2", company="ACME", at=AT
        )
        move_stage(session, brand_id=brand_id, opportunity_id=other.id, stage_key="won", at=AT)
        second = customer_from_won_deal(session, brand_id=brand_id, opportunity_id=other.id)
        again_membership = account_of_customer(session, brand_id=brand_id, customer_id=second)
        assert again_membership is not None
        assert again_membership.account.id == membership.account.id
        assert len(members(session, account_id=membership.account.id)) == 2
