"""Answering a feedback survey credits the survey bonus by itself (to a buyer's company
pool), once per answer, and enrols nobody."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from recompra.automation.steps import DecisionContext
from recompra.automation.surveys import survey_token
from recompra.db import unit_of_work
from recompra.errors import Conflict
from recompra.loyalty import earn_for_order, find_account
from recompra.models import Customer, LoyaltyAccount
from recompra.voc.surveys import answer_survey, send_survey

from .b2b_world import NOW, brand_customer, company
from .conftest import World

LINKS = DecisionContext()
RULES = [{"type": "base", "points_per_unit": 1}, {"type": "survey_bonus", "points": 25}]


def _send(world: World, brand: int, customer: int) -> int:
    with unit_of_work(world.engine) as s:
        s.get_one(Customer, customer).email = f"buyer{customer}@example.com"
        return send_survey(
            s, brand_id=brand, customer_id=customer, kind="nps", links=LINKS, now=NOW
        )


def _answer(world: World, send: int, score: int = 9) -> None:
    with unit_of_work(world.engine) as s:
        answer_survey(
            s,
            secret=LINKS.secret,
            token=survey_token(LINKS.secret, send),
            score=score,
            comment=None,
            via="link",
            now=NOW,
        )


def _pool_balance(world: World, program: int, customer: int) -> int:
    with unit_of_work(world.engine, write=False) as s:
        account = find_account(s, program_id=program, customer_id=customer)
        return account.balance if account is not None else -1


def test_an_answer_credits_the_company_pool_once(world: World) -> None:
    brand, program = world.program(rules=RULES)
    _, (owner, buyer) = company(world, brand, ["owner", "buyer"])
    order = world.order(brand, owner, amount=10_000)
    with unit_of_work(world.engine) as s:
        earn_for_order(s, program_id=program, order_id=order, now=NOW)
    assert _pool_balance(world, program, buyer) == 100
    send = _send(world, brand, buyer)
    _answer(world, send)
    assert _pool_balance(world, program, buyer) == 125
    # A second answer of the same send is refused and pays nothing.
    with pytest.raises(Conflict):
        _answer(world, send, score=3)
    assert _pool_balance(world, program, buyer) == 125
    # Another survey answered is another bonus.
    _answer(world, _send(world, brand, buyer))
    assert _pool_balance(world, program, buyer) == 150


def test_a_non_member_answering_is_not_enrolled(world: World) -> None:
    brand, program = world.program(rules=RULES)
    stranger = brand_customer(world, brand)
    _answer(world, _send(world, brand, stranger))
    with unit_of_work(world.engine, write=False) as s:
        accounts = s.scalar(
            select(func.count()).where(
                LoyaltyAccount.program_id == program, LoyaltyAccount.customer_id == stranger
            )
        )
    assert accounts == 0
