"""Opens, clicks, bounces and complaints (both backends): the pixel, the signed redirect
and the signed bounce webhook, through the API; the events measurement reads."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from automationtest import NOON, Store, add_order, apply, context, make_store, thank_you
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from recompra.api.settings import ApiSettings
from recompra.automation.consent import may_contact
from recompra.automation.email import message_id
from recompra.automation.tracking import bounce_secret, read_token, track_html, track_text
from recompra.automation.webhooks import sign
from recompra.automation.worker import decide_due, ingest_triggers
from recompra.config import Settings
from recompra.db import unit_of_work
from recompra.measurement.attribution import AttributionWindows, attribute
from recompra.models import Event
from recompra.models.automation import ContactConsent, JourneyRun, OutboxMessage
from recompra.server import create_app

SECRET = "test-secret"  # automationtest.context()'s


@pytest.fixture
def client(engine: Engine, tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(
        engine,
        Settings(home=tmp_path, environment="test", secret_key=SECRET),
        ApiSettings(rate_limit_burst=1000, rate_limit_per_second=1000),
    )
    with TestClient(app) as test_client:
        yield test_client


def _sent_message(engine: Engine, store: Store) -> OutboxMessage:
    """A decided thank-you e-mail, marked handed over an hour ago."""
    apply(engine, store, thank_you())
    with unit_of_work(engine) as session:
        add_order(session, store, store.customers[0], "T-1")
    ingest_triggers(engine, now=NOON)
    decide_due(engine, context(), now=NOON)
    with unit_of_work(engine) as session:
        session.execute(
            update(OutboxMessage).values(state="sent", sent_at=NOON - timedelta(hours=1))
        )
        return session.scalars(select(OutboxMessage)).one()


def _events(engine: Engine, kind: str) -> list[Event]:
    with unit_of_work(engine, write=False) as session:
        return list(session.scalars(select(Event).where(Event.type == kind).order_by(Event.id)))


def _path(url: str) -> str:
    return url.removeprefix("https://loja.test")


def test_links_to_other_sites_are_signed_redirects_and_the_pixel_is_appended() -> None:
    markup = (
        '<p><a href="https://shop.example/p?a=1&amp;b=2">ver</a>'
        ' <a href="https://loja.test/v1/automation/unsubscribe?token=x">sair</a></p></body>'
    )
    tracked = track_html(
        markup, public_url="https://loja.test", secret=SECRET, execution_key="7:1:order:3:send:9"
    )
    click = tracked.split('href="')[1].split('"')[0]
    assert click.startswith("https://loja.test/v1/automation/t/click?token=")
    assert read_token(SECRET, click.split("token=")[1]) == (
        "click",
        "7:1:order:3:send:9",
        "https://shop.example/p?a=1&b=2",
    )
    # Recompra's own links are left alone; the pixel comes before </body>.
    assert 'href="https://loja.test/v1/automation/unsubscribe?token=x"' in tracked
    assert tracked.endswith('width="1" height="1" alt=""></body>')
    forged = click.split("token=")[1].replace("click", "clack")
    with pytest.raises(Exception, match="invalid tracking link"):
        read_token("another-secret", forged)


def test_opens_and_clicks_are_events_measurement_attributes(
    engine: Engine, client: TestClient
) -> None:
    store = make_store(engine, customers=1)
    message = _sent_message(engine, store)
    html = message.payload["html"]
    pixel = html.split('<img src="')[1].split('"')[0]
    person = {"user-agent": "Mozilla/5.0 (Windows NT 10.0) Thunderbird/115"}
    opened = client.get(_path(pixel), headers=person)
    assert (opened.status_code, opened.headers["content-type"]) == (200, "image/gif")
    client.get(_path(pixel), headers=person)  # a second look is the same open
    client.get(_path(pixel), headers={"user-agent": "Mozilla/5.0 (via ggpht.com GoogleImageProxy)"})
    opens = _events(engine, "email_opened")
    assert [(e.payload["machine"], e.payload["node"]) for e in opens] == [
        (False, "send"),
        (True, "send"),
    ]
    assert opens[0].payload["journey"] == "thanks"
    assert opens[0].payload["outbox_id"] == message.id
    assert opens[0].customer_id == store.customers[0]

    token = (
        track_html(
            '<a href="https://shop.example/p/1">x</a>',
            public_url="https://loja.test",
            secret=SECRET,
            execution_key=message.execution_key,
        )
        .split("token=")[1]
        .split('"')[0]
    )
    followed = client.get(f"/v1/automation/t/click?token={token}", follow_redirects=False)
    assert (followed.status_code, followed.headers["location"]) == (302, "https://shop.example/p/1")
    bad = client.get(f"/v1/automation/t/click?token={token[:-3]}xyz", follow_redirects=False)
    assert bad.status_code == 400
    clicks = _events(engine, "email_clicked")
    assert [(c.payload["url"], c.payload["node"]) for c in clicks] == [
        ("https://shop.example/p/1", "send")
    ]
    with unit_of_work(engine, write=False) as session:
        response = attribute(session, brand_id=store.brand_id, windows=AttributionWindows())
    thanks = response.by_node[("thanks", None)]
    # The proxy's open is flagged a machine's: no open, no touch for attribution.
    assert (thanks.delivered, thanks.clicks, thanks.opens) == (1, 1, 1)


def test_links_in_the_plain_text_part_are_signed_redirects_too(
    engine: Engine, client: TestClient
) -> None:
    store = make_store(engine, customers=1)
    message = _sent_message(engine, store)
    text = (
        "Veja https://shop.example/p/2?c=azul. Ou (https://shop.example/p/3)\n"
        "Sair: https://loja.test/v1/automation/unsubscribe?token=x\n"
    )
    tracked = track_text(
        text, public_url="https://loja.test", secret=SECRET, execution_key=message.execution_key
    )
    assert "shop.example" not in tracked
    # Recompra's own links are left alone, and so is the punctuation around a link.
    assert tracked.endswith("Sair: https://loja.test/v1/automation/unsubscribe?token=x\n")
    first, second = (w for w in tracked.split() if "/t/click?token=" in w)
    assert first.endswith(".")
    assert (second[0], second[-1]) == ("(", ")")
    for link, target in ((first[:-1], "https://shop.example/p/2?c=azul"), (second[1:-1], None)):
        followed = client.get(_path(link), follow_redirects=False)
        assert followed.status_code == 302
        assert target is None or followed.headers["location"] == target
    clicks = _events(engine, "email_clicked")
    assert sorted(c.payload["url"] for c in clicks) == [
        "https://shop.example/p/2?c=azul",
        "https://shop.example/p/3",
    ]
    assert {c.payload["outbox_id"] for c in clicks} == {message.id}


def _bounce(client: TestClient, document: dict[str, object], *, secret: str) -> int:
    body = json.dumps(document).encode()
    stamp = int(time.time())
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign([secret], "msg_1", stamp, body),
        "content-type": "application/json",
    }
    return client.post("/v1/automation/bounces", content=body, headers=headers).status_code


def test_a_hard_bounce_or_complaint_suppresses_e_mail_a_soft_bounce_does_not(
    engine: Engine, client: TestClient
) -> None:
    store = make_store(engine, customers=3)
    message = _sent_message(engine, store)
    secret = bounce_secret(SECRET)
    forged = bounce_secret("another-installation")
    hard = {
        "type": "bounce",
        "bounce": "hard",
        "email": "C0@example.com",
        "message_id": message_id(message.execution_key, "Loja <loja@loja.test>"),
    }
    assert _bounce(client, hard, secret=forged) == 400
    assert (
        _bounce(
            client, {"type": "bounce", "bounce": "soft", "email": "c1@example.com"}, secret=secret
        )
        == 200
    )
    assert _bounce(client, hard, secret=secret) == 200
    assert _bounce(client, {"type": "complaint", "email": "c2@example.com"}, secret=secret) == 200
    with unit_of_work(engine, write=False) as session:
        allowed = [
            may_contact(
                session,
                customer_id=c,
                channel="email",
                purpose="transactional",
                require_opt_in=False,
            )
            for c in store.customers
        ]
        sources = sorted(session.scalars(select(ContactConsent.source)))
        run = session.scalars(select(JourneyRun)).one()
    assert allowed == [False, True, False]
    assert sources == ["complaint", "hard_bounce"]
    assert run.customer_id == store.customers[0]
    bounced = _events(engine, "email_bounced")
    assert [(b.payload["bounce"], b.payload["outbox_id"]) for b in bounced] == [
        ("hard", message.id)
    ]
