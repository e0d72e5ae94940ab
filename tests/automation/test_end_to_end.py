"""From an order posted to a real server to the e-mail at a real SMTP sink, on both
backends: uvicorn in a subprocess with its embedded worker (``RECOMPRA_EMBEDDED_WORKER``),
the project's aiosmtpd sink in another, recommendations computed from the store's orders.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import httpx
from automationtest import make_store, received, wait_for
from sqlalchemy import Engine, select

from liveserver import live_server
from recompra.auth.keys import create_api_key
from recompra.automation.sink import running_sink
from recompra.db import unit_of_work
from recompra.hub.ingest.orders import ingest_orders
from recompra.loyalty.operations.adjust import adjust
from recompra.models import Customer
from recompra.models.automation import ContactConsent, JourneyRun
from recompra.models.base import utcnow
from recompra.recommend import RefreshConfig, refresh
from recompra.snapshot.export import snapshot_tables

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
MARINA = {"id": "novo", "email": "marina@example.com", "name": "Marina Costa"}
ORDER = {
    "order_id": "API-1",
    "purchased_at": "2026-06-17T15:00:00Z",
    "customer": MARINA,
    "items": [{"product_id": "p1", "product_name": "Chá", "unit_price_minor": 8990}],
}
#: Earlier baskets of other customers: what the recommender learns from.
BASKETS = [
    [("mug", "Caneca"), ("coffee", "Café")],
    [("mug", "Caneca"), ("coffee", "Café")],
    [("mug", "Caneca"), ("filter", "Filtro")],
]


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _seed_history(engine: Engine, brand_id: int, home: Path) -> list[str]:
    """Three past orders and the recommendations refreshed from them; the best sellers."""
    orders = [
        {
            "order_id": f"past-{n}",
            "purchased_at": f"2026-05-0{n + 1}T10:00:00Z",
            "customer": {"email": f"basket{n}@example.com"},
            "items": [
                {"product_id": pid, "product_name": name, "unit_price_minor": 3000}
                for pid, name in basket
            ],
        }
        for n, basket in enumerate(BASKETS)
    ]
    with unit_of_work(engine) as session:
        assert ingest_orders(session, brand_id=brand_id, source="shop", orders=orders).rejects == []
    refresh(
        snapshot_tables(engine, brand_id=brand_id),
        home / "recommendations" / "loja",
        config=RefreshConfig(k=5),
    )
    # Independent of the recommender: a customer it does not know (Marina) gets the best
    # sellers, counted here from the baskets themselves.
    counts = Counter(name for basket in BASKETS for _, name in basket)
    return [name for name, n in counts.items() if n >= 2]


def test_an_ingested_order_gets_its_personalised_email_within_5_seconds(
    engine: Engine, tmp_path: Path
) -> None:
    store = make_store(engine, customers=1, points=0)
    best_sellers = _seed_history(engine, store.brand_id, tmp_path)
    with unit_of_work(engine) as session:
        _, admin = create_api_key(session, scopes=["admin", "ingest"], brand_id=store.brand_id)
    database_url = engine.url.render_as_string(hide_password=False)
    with running_sink(tmp_path / "sink") as port:
        env = {
            "RECOMPRA_EMBEDDED_WORKER": "true",
            "RECOMPRA_SMTP_URL": f"smtp://127.0.0.1:{port}",
            "RECOMPRA_SMTP_FROM": SENDER,
            "RECOMPRA_SECRET_KEY": SECRET,
            "RECOMPRA_PUBLIC_URL": "https://loja.test",
            # The clock is real here: quiet hours would defer the message at night.
            "RECOMPRA_QUIET_HOURS": "off",
        }
        with (
            live_server(database_url, tmp_path, env=env) as url,
            httpx.Client(base_url=url, headers=_auth(admin)) as client,
        ):
            assert client.post("/v1/automation/journeys", json=JOURNEY).status_code == 200
            # The customer exists with points before ordering (a customer's first order
            # is decided as soon as it is stored).
            assert client.post("/v1/ingest/customers", json=MARINA).status_code == 200
            with unit_of_work(engine) as session:
                marina = session.scalars(
                    select(Customer).where(Customer.email == "marina@example.com")
                ).one()
                adjust(
                    session,
                    program_id=store.program_id,
                    customer_id=marina.id,
                    points=320,
                    request_key="welcome",
                    reason="welcome",
                    now=utcnow(),
                )
            started = time.monotonic()
            response = client.post("/v1/ingest/orders", json=ORDER)
            assert response.status_code == 200, response.json()
            assert wait_for(lambda: len(received(tmp_path / "sink")) == 1, timeout=5.0)
            elapsed = time.monotonic() - started
            (message,) = received(tmp_path / "sink")
            assert elapsed <= 5.0
            assert message["To"] == "marina@example.com"
            assert message["Subject"] == "Marina, obrigado pela sua compra na Loja Exemplo!"
            text = message.get_body(("plain",)).get_content()
            assert "pedido API-1, R$\xa089,90" in text
            assert "Você tem 320 pontos" in text
            for name in best_sellers:
                assert f"- {name}" in text

            # The one-click unsubscribe link in the message works, and a forged one fails.
            link = message["List-Unsubscribe"].strip("<>").replace("https://loja.test", "")
            assert client.get(link).status_code == 200
            assert client.post(link, data={"List-Unsubscribe": "One-Click"}).status_code == 200
            assert client.post(link.replace("token=", "token=9"), data={}).status_code == 400
    with unit_of_work(engine, write=False) as session:
        consent = session.scalars(select(ContactConsent)).one()
        run = session.scalars(select(JourneyRun)).one()
    assert (consent.customer_id, consent.channel, consent.purpose, consent.granted) == (
        marina.id,
        "email",
        "marketing",
        False,
    )
    assert consent.source == "unsubscribe_link"
    assert run.state == "completed"
