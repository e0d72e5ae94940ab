"""A journey sends an NPS survey to the real SMTP sink; the customer follows the link in
the received e-mail, answers on the public page, and the answer is stored (a detractor's
answer opens a case). On both backends."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from automationtest import add_order, apply, context, make_store, received, thank_you
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from recompra.api.settings import ApiSettings
from recompra.auth.keys import create_api_key
from recompra.automation.email import SmtpSender, smtp_settings
from recompra.automation.sink import running_sink
from recompra.automation.worker import run_worker
from recompra.config import Settings
from recompra.db import unit_of_work
from recompra.models.voc import Case, SurveyAnswer, SurveySend
from recompra.server import create_app

SENDER = "Loja <loja@example.com>"
#: The thank-you journey's trigger and entry, sending an NPS survey instead.
JOURNEY = thank_you(
    key="nps_after_delivery",
    name={"pt-BR": "NPS pós-entrega", "en": "NPS after delivery"},
    start="ask",
    nodes={
        "ask": {
            "type": "send",
            "channel": "email",
            "template": "survey",
            "survey": "nps",
            "purpose": "transactional",
            "next": "done",
        },
        "done": {"type": "exit"},
    },
)


def test_a_journey_survey_is_answered_from_the_received_email(
    engine: Engine, tmp_path: Path
) -> None:
    store = make_store(engine, customers=3, points=0)
    apply(engine, store, JOURNEY)
    with unit_of_work(engine) as session:
        for n, customer_id in enumerate(store.customers):
            add_order(session, store, customer_id, f"NPS-{n}")
        _, reader = create_api_key(session, scopes=["read"], brand_id=store.brand_id)
    ctx = context()  # secret "test-secret", links on https://loja.test
    with running_sink(tmp_path / "sink") as port:
        smtp = SmtpSender(smtp_settings(f"smtp://127.0.0.1:{port}", SENDER))
        run_worker(engine, ctx, smtp=smtp, sender=SENDER, until_idle=True, poll_seconds=0.1)
        smtp.close()
    by_recipient = {m["To"]: m for m in received(tmp_path / "sink")}
    assert sorted(by_recipient) == ["c0@example.com", "c1@example.com", "c2@example.com"]
    paths = {}
    for recipient, message in by_recipient.items():
        text = message.get_body(("plain",)).get_content()
        assert "De 0 a 10, quanto você recomendaria a Loja Exemplo a um amigo?" in text
        html = message.get_body(("html",)).get_content()
        links = re.findall(r'href="https://loja\.test(/survey/[^"?]+\?score=(\d+))"', html)
        assert [int(score) for _, score in links] == list(range(11))
        paths[recipient] = {score: p for p, score in links}
    path = paths["c0@example.com"]["3"]

    app = create_app(
        engine,
        Settings(home=tmp_path, environment="test", secret_key=ctx.secret),
        ApiSettings(rate_limit_burst=1000, rate_limit_per_second=1000),
    )
    with TestClient(app) as client:
        page = client.get(path)
        assert page.status_code == 200
        assert 'value="3" checked' in page.text
        answered = client.post(path.split("?")[0], data={"score": "3", "comment": "demorou"})
        assert answered.status_code == 200
        assert client.post(path.split("?")[0], data={"score": "10"}).status_code == 409
        # A passive (8) and a promoter (10): NPS 0 from one of each kind.
        for recipient, score in (("c1@example.com", "8"), ("c2@example.com", "10")):
            link = paths[recipient][score].split("?")[0]
            assert client.post(link, data={"score": score}).status_code == 200
        nps = client.get(
            f"/v1/voc/nps?brand_id={store.brand_id}", headers={"Authorization": f"Bearer {reader}"}
        ).json()["surveys"]
    # Independently: NPS = %P - %D; variance (p_P + p_D - (p_P - p_D)^2) / n (multinomial).
    p_promoters, p_detractors, n = 1 / 3, 1 / 3, 3
    half_width = 1.959964 * math.sqrt((p_promoters + p_detractors - 0.0) / n) * 100
    assert (nps["proxy"], nps["n"], nps["score"]) == (False, 3, pytest.approx(0.0))
    assert (nps["ci_low"], nps["ci_high"]) == (
        pytest.approx(-half_width, abs=0.01),
        pytest.approx(half_width, abs=0.01),
    )
    with unit_of_work(engine, write=False) as session:
        answer = session.scalars(select(SurveyAnswer).where(SurveyAnswer.score == 3)).one()
        send = session.get_one(SurveySend, answer.send_id)
        case = session.scalars(select(Case)).one()
    assert (send.kind, send.customer_id, send.order_id is not None) == (
        "nps",
        store.customers[0],
        True,
    )
    assert (answer.send_id, answer.score, answer.comment, answer.via) == (
        send.id,
        3,
        "demorou",
        "link",
    )
    assert (case.survey_answer_id, case.channel, case.customer_id) == (
        answer.id,
        "survey",
        store.customers[0],
    )


def test_only_an_email_send_may_carry_a_known_survey() -> None:
    from recompra.automation.definition import InvalidJourney, parse_journey

    for node in (
        {**JOURNEY["nodes"]["ask"], "survey": "stars"},  # type: ignore[dict-item]
        {"type": "send", "channel": "webhook", "endpoint": "x", "survey": "nps", "next": "done"},
    ):
        document = {**JOURNEY, "nodes": {"ask": node, "done": {"type": "exit"}}}
        with pytest.raises(InvalidJourney) as refused:
            parse_journey(document)
        assert "nodes.ask.survey" in str(refused.value.problems)
