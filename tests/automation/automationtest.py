"""Helpers of the automation tests: a small store, journeys, and real SMTP/HTTP sinks.

The SMTP sink is the project's own (:mod:`recompra.automation.sink`, aiosmtpd in another
process); the webhook receiver is ``http.server`` in a thread verifying signatures.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from recompra.automation.consent import record_consent
from recompra.automation.definition import parse_journey
from recompra.automation.schedule import ContactPolicy
from recompra.automation.service import apply_journey
from recompra.automation.sink import read_message
from recompra.automation.steps import DecisionContext
from recompra.automation.webhooks import verify
from recompra.db import unit_of_work
from recompra.hub.properties import set_property
from recompra.loyalty.operations.adjust import adjust
from recompra.loyalty.programs import create_program
from recompra.models import Brand, BrandCustomer, Customer, Order

#: A Wednesday at 15:00 in São Paulo (18:00 UTC): inside business hours, outside quiet hours.
NOON = datetime(2026, 6, 17, 18, 0, tzinfo=UTC)
NO_QUIET = ContactPolicy(quiet_from=None, quiet_to=None)


def context(policy: ContactPolicy = NO_QUIET) -> DecisionContext:
    """A decision context with ``policy`` and no recommendations."""
    return DecisionContext(policy=policy, secret="test-secret", public_url="https://loja.test")


@dataclass
class Store:
    """Ids of a small store: a brand with a loyalty program and named customers."""

    brand_id: int
    program_id: int
    customers: list[int] = field(default_factory=list)


@contextmanager
def counted_statements(engine: Engine) -> Iterator[list[int]]:
    """Count the SQL statements ``engine`` runs inside the block (in ``counter[0]``)."""
    counter = [0]

    def count(*_: Any) -> None:
        counter[0] += 1

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield counter
    finally:
        event.remove(engine, "before_cursor_execute", count)


def make_store(engine: Engine, *, customers: int = 3, points: int = 150) -> Store:
    """A brand, a loyalty program and customers with e-mails and ``points`` each."""
    with unit_of_work(engine) as session:
        brand = Brand(slug="loja", name="Loja Exemplo")
        session.add(brand)
        session.flush()
        program = create_program(session, brand_id=brand.id, name="Clube")
        store = Store(brand.id, program.id)
        for i in range(customers):
            row = Customer(name=f"Cliente{i} Sobrenome", email=f"c{i}@example.com")
            session.add(row)
            session.flush()
            session.add(BrandCustomer(brand_id=brand.id, customer_id=row.id))
            store.customers.append(row.id)
            if points:
                adjust(
                    session,
                    program_id=program.id,
                    customer_id=row.id,
                    points=points,
                    request_key=f"seed-{row.id}",
                    reason="seed",
                    now=NOON - timedelta(days=1),
                )
    return store


def add_order(
    session: Session,
    store: Store,
    customer_id: int,
    external_id: str,
    *,
    at: datetime = NOON - timedelta(minutes=5),
    total_minor: int = 12990,
) -> int:
    """An order of ``customer_id`` created at ``at``; returns its id."""
    order = Order(
        brand_id=store.brand_id,
        source="test",
        external_id=external_id,
        customer_id=customer_id,
        status="delivered",
        purchased_at=at,
        total_minor=total_minor,
        items_total_minor=total_minor,
        created_at=at,
    )
    session.add(order)
    session.flush()
    return order.id


def withdraw_marketing(engine: Engine, customer_id: int, *, now: datetime | None = None) -> None:
    """Record that ``customer_id`` withdrew marketing e-mail consent (its own transaction)."""
    with unit_of_work(engine) as session:
        record_consent(
            session,
            customer_id=customer_id,
            channel="email",
            purpose="marketing",
            granted=False,
            source="test",
            now=now or datetime.now(UTC),
        )


def apply(engine: Engine, store: Store, document: dict[str, Any]) -> None:
    """Apply a journey definition to the store's brand."""
    with unit_of_work(engine) as session:
        apply_journey(session, brand_id=store.brand_id, definition=parse_journey(document))


def thank_you(**changes: Any) -> dict[str, Any]:
    """An order-placed journey: send the thank-you e-mail at once, then exit."""
    document: dict[str, Any] = {
        "key": "thanks",
        "name": {"pt-BR": "Obrigado", "en": "Thanks"},
        "trigger": {"type": "order_placed"},
        "entry": {"key": "order", "reentry": "once_per_key"},
        "start": "send",
        "nodes": {
            "send": {
                "type": "send",
                "channel": "email",
                "template": "post_purchase_thanks",
                "next": "done",
            },
            "done": {"type": "exit"},
        },
    }
    document.update(changes)
    return document


def received(directory: Path) -> list[EmailMessage]:
    """The messages the sink stored, oldest first."""
    return [read_message(path) for path in sorted(directory.glob("*.eml"))]


def wait_for(predicate: Any, timeout: float = 5.0) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds passed."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


@dataclass
class Receiver:
    """What the webhook receiver saw: (headers, body, signature valid) per request."""

    url: str
    requests: list[tuple[dict[str, str], bytes, bool]]
    fail_next: list[int]


@contextmanager
def webhook_receiver(secret: str) -> Iterator[Receiver]:
    """A real HTTP server verifying Standard Webhooks signatures against ``secret``."""
    box = Receiver("", [], [])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            headers = {k.lower(): v for k, v in self.headers.items()}
            box.requests.append((headers, body, verify(secret, headers, body)))
            status = box.fail_next.pop(0) if box.fail_next else 204
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield box
    finally:
        server.shutdown()
        server.server_close()


def json_body(raw: bytes) -> Any:
    """A request body as JSON."""
    return json.loads(raw)


def set_properties(engine: Engine, store: Store, name: str, values: dict[int, Any]) -> None:
    """Property ``name`` of the customers in ``values`` (customer id -> value), at NOON."""
    with unit_of_work(engine) as session:
        for customer_id, value in values.items():
            set_property(
                session,
                brand_id=store.brand_id,
                customer_id=customer_id,
                name=name,
                value=value,
                now=NOON,
            )
