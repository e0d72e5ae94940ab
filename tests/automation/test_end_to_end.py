"""From an order posted to the API to the e-mail at a real SMTP sink, on both backends."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from automationtest import NO_QUIET, make_store, received, smtp_sink, wait_for
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from recompra.api.settings import ApiSettings
from recompra.auth.keys import create_api_key
from recompra.automation.email import SmtpSender, smtp_settings
from recompra.automation.steps import DecisionContext
from recompra.automation.worker import run_worker
from recompra.config import Settings
from recompra.db import unit_of_work
from recompra.loyalty.operations.adjust import adjust
from recompra.models import Customer
from recompra.models.automation import ContactConsent, JourneyRun
from recompra.models.base import utcnow
from recompra.server import create_app

SENDER = "Loja <loja@example.com>"
SECRET = "e2e-secret"
JOURNEY = {
    "key": "thanks_now",
    "name": {"pt-BR": "Obrigado", "en": "Thanks"},
    "trigger": {"type": "order_placed"},
    "entry": {"key": "order", "reentry": "once_per_key"},
    "exit_when": [{"type": "unsubscribed"}],
    "start": "send",
    "nodes": {
        "send": {
            "type": "send",
            "channel": "email",
            "template": "post_purchase_thanks",
            "purpose": "marketing",
            "next": "done",
        },
        "done": {"type": "exit"},
    },
}
ORDER = {
    "order_id": "API-1",
    "purchased_at": "2026-06-17T15:00:00Z",
    "customer": {"id": "novo", "email": "marina@example.com", "name": "Marina Costa"},
    "items": [{"product_id": "p1", "unit_price_minor": 8990}],
}


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_an_ingested_order_gets_its_personalised_email_within_5_seconds(
    engine: Engine, tmp_path: Path
) -> None:
    store = make_store(engine, customers=1, points=0)
    with unit_of_work(engine) as session:
        _, admin = create_api_key(session, scopes=["admin", "ingest"], brand_id=store.brand_id)
    app = create_app(
        engine,
        Settings(home=tmp_path, environment="test", secret_key=SECRET),
        ApiSettings(rate_limit_burst=1000, rate_limit_per_second=1000),
    )
    with TestClient(app) as client, smtp_sink(tmp_path / "sink") as port:
        assert (
            client.post("/v1/automation/journeys", json=JOURNEY, headers=_auth(admin)).status_code
            == 200
        )
        smtp = SmtpSender(smtp_settings(f"smtp://127.0.0.1:{port}", SENDER))
        ctx = DecisionContext(policy=NO_QUIET, secret=SECRET, public_url="https://loja.test")
        started = time.monotonic()
        response = client.post(
            "/v1/ingest/orders/batch", json={"items": [ORDER]}, headers=_auth(admin)
        )
        assert response.status_code in (200, 207), response.json()
        with unit_of_work(engine) as session:
            customer = session.scalars(
                select(Customer).where(Customer.email == "marina@example.com")
            ).one()
            adjust(
                session,
                program_id=store.program_id,
                customer_id=customer.id,
                points=320,
                request_key="welcome",
                reason="welcome",
                now=utcnow(),
            )
        worker = threading.Thread(
            target=run_worker,
            args=(engine, ctx),
            kwargs={"smtp": smtp, "sender": SENDER, "until_idle": True, "poll_seconds": 0.2},
        )
        worker.start()
        assert wait_for(lambda: len(received(tmp_path / "sink")) == 1, timeout=5.0)
        elapsed = time.monotonic() - started
        worker.join(timeout=30)
        smtp.close()
        (message,) = received(tmp_path / "sink")
        assert elapsed <= 5.0
        assert message["To"] == "marina@example.com"
        assert message["Subject"] == "Marina, obrigado pela sua compra na Loja Exemplo!"
        text = message.get_body(("plain",)).get_content()
        assert "pedido API-1, R$ 89,90" in text
        assert "Você tem 320 pontos" in text

        # The one-click unsubscribe link in the message works and ends nothing twice.
        link = message["List-Unsubscribe"].strip("<>").replace("https://loja.test", "")
        assert client.get(link).status_code == 200
        assert client.post(link, data={"List-Unsubscribe": "One-Click"}).status_code == 200
        assert client.post(link.replace("token=", "token=9"), data={}).status_code == 400
    with unit_of_work(engine, write=False) as session:
        consent = session.scalars(select(ContactConsent)).one()
        run = session.scalars(select(JourneyRun)).one()
    assert (consent.customer_id, consent.channel, consent.purpose, consent.granted) == (
        customer.id,
        "email",
        "marketing",
        False,
    )
    assert consent.source == "unsubscribe_link"
    assert run.state == "completed"
