"""Surveys sent outside journeys: the e-mail in the outbox, its signed link, one answer
per send (409 for a second), forged and altered links refused, detractors opening cases."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import Engine, select
from voctest import LINKS, SECRET, WEDNESDAY_10H, make_shop

from recompra.automation.consent import unsubscribe_token
from recompra.automation.surveys import survey_token
from recompra.db import unit_of_work
from recompra.errors import Conflict, InvalidInput
from recompra.models.automation import OutboxMessage
from recompra.models.voc import Case, SurveyAnswer
from recompra.voc.surveys import answer_survey, list_surveys, send_survey


def _send(engine: Engine, customer_id: int, brand_id: int, kind: str = "nps") -> tuple[int, str]:
    with unit_of_work(engine) as session:
        send_id = send_survey(
            session,
            brand_id=brand_id,
            customer_id=customer_id,
            kind=kind,
            links=LINKS,
            now=WEDNESDAY_10H,
            request_key=f"t-{customer_id}-{kind}",
        )
    with unit_of_work(engine, write=False) as session:
        row = session.scalars(
            select(OutboxMessage).where(OutboxMessage.payload["survey"].as_integer() == send_id)
        ).one()
    match = re.search(r"https://loja\.test/survey/([^?\s]+)\?score=\d+", row.payload["text"])
    assert match is not None, row.payload["text"]
    return send_id, match.group(1)


def _answer(engine: Engine, token: str, score: int, comment: str | None = None) -> SurveyAnswer:
    with unit_of_work(engine) as session:
        return answer_survey(
            session,
            secret=SECRET,
            token=token,
            score=score,
            comment=comment,
            via="api",
            now=WEDNESDAY_10H,
        )


def test_a_survey_is_answered_once_through_its_signed_link(engine: Engine) -> None:
    shop = make_shop(engine)
    send_id, token = _send(engine, shop.customers[0], shop.brand_id)
    assert token == survey_token(SECRET, send_id)
    with unit_of_work(engine) as session:  # a retried request reuses its send
        again = send_survey(
            session,
            brand_id=shop.brand_id,
            customer_id=shop.customers[0],
            kind="nps",
            links=LINKS,
            now=WEDNESDAY_10H,
            request_key=f"t-{shop.customers[0]}-nps",
        )
    assert again == send_id
    answer = _answer(engine, token, 9, "  Ótimo atendimento ")
    assert (answer.score, answer.comment) == (9, "Ótimo atendimento")
    with pytest.raises(Conflict):
        _answer(engine, token, 3)
    with unit_of_work(engine, write=False) as session:
        total, rows = list_surveys(session, brand_id=shop.brand_id)
        cases = session.scalars(select(Case)).all()
    assert total == 1
    assert (rows[0].score, rows[0].comment) == (9, "Ótimo atendimento")  # the first answer stays
    assert cases == []  # a promoter opens no case


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # altered signature
        lambda t: t.replace("survey.", "survey.9"),  # another send id, same signature
        lambda t: survey_token("another-secret", int(t.split(".")[1])),  # forged
        lambda t: unsubscribe_token(SECRET, 1, "email"),  # a genuine link of another kind
        lambda t: "survey",
        lambda t: t[:-2] + "çã",  # non-ASCII: refused, not a server error
    ],
)
def test_forged_and_altered_links_are_refused(engine: Engine, tamper: object) -> None:
    shop = make_shop(engine, customers=1)
    _, token = _send(engine, shop.customers[0], shop.brand_id)
    with pytest.raises(InvalidInput):
        _answer(engine, tamper(token), 5)  # type: ignore[operator]
    with unit_of_work(engine, write=False) as session:
        assert session.scalars(select(SurveyAnswer)).all() == []


def test_negative_answers_open_a_case_and_scales_are_checked(engine: Engine) -> None:
    shop = make_shop(engine)
    _, nps = _send(engine, shop.customers[0], shop.brand_id, "nps")
    _, csat = _send(engine, shop.customers[1], shop.brand_id, "csat")
    _, ces = _send(engine, shop.customers[1], shop.brand_id, "ces")
    with pytest.raises(InvalidInput):
        _answer(engine, csat, 6)  # CSAT is 1-5
    with pytest.raises(InvalidInput):
        _answer(engine, nps, 11)
    detractor = _answer(engine, nps, 6, "demorou")
    _answer(engine, csat, 3)  # neutral: no case
    negative = _answer(engine, ces, 3)
    with unit_of_work(engine, write=False) as session:
        cases = session.scalars(select(Case).order_by(Case.id)).all()
    assert [(c.survey_answer_id, c.channel, c.subject) for c in cases] == [
        (detractor.id, "survey", "NPS 6: demorou"),
        (negative.id, "survey", "CES 3"),
    ]
    assert cases[0].customer_id == shop.customers[0]
