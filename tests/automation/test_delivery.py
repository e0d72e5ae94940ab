"""Delivery with real parts: an aiosmtpd sink in another process, an HTTP receiver that
verifies Standard Webhooks signatures; crash recovery of claimed rows; consent at send."""

from __future__ import annotations

import random
import time
from datetime import timedelta
from pathlib import Path

import pytest
from automationtest import (
    NOON,
    add_order,
    apply,
    context,
    json_body,
    make_store,
    received,
    thank_you,
    webhook_receiver,
    withdraw_marketing,
)
from sqlalchemy import Engine, select, update

from recompra.automation import delivery
from recompra.automation.delivery import LEASE, claim, recover_stale
from recompra.automation.email import SmtpSender, message_id, smtp_settings
from recompra.automation.sink import running_sink
from recompra.automation.webhooks import add_endpoint, backoff, rotate_secret, verify
from recompra.automation.worker import decide_due, deliver_due, ingest_triggers
from recompra.db import unit_of_work
from recompra.models.automation import OutboxMessage, WebhookEndpoint
from recompra.models.base import utcnow

SENDER = "Loja <loja@example.com>"


def _decided(engine: Engine, customers: int = 2, journey: dict | None = None) -> list[int]:
    store = make_store(engine, customers=customers)
    apply(engine, store, journey or thank_you())
    with unit_of_work(engine) as session:
        for i, customer in enumerate(store.customers):
            add_order(session, store, customer, f"D-{i}")
    ingest_triggers(engine, now=NOON)
    decide_due(engine, context(), now=NOON)
    return store.customers


def _states(engine: Engine) -> list[str]:
    with unit_of_work(engine, write=False) as session:
        return list(session.scalars(select(OutboxMessage.state).order_by(OutboxMessage.id)))


def test_emails_arrive_multipart_with_stable_ids_and_one_click_unsubscribe(
    engine: Engine, tmp_path: Path
) -> None:
    _decided(engine)
    with running_sink(tmp_path / "sink") as port:
        smtp = SmtpSender(smtp_settings(f"smtp://127.0.0.1:{port}", SENDER))
        stats = deliver_due(engine, smtp=smtp, sender=SENDER)
        smtp.close()
        messages = received(tmp_path / "sink")
    assert (stats.sent, stats.failed) == (2, 0)
    assert _states(engine) == ["sent", "sent"]
    assert sorted(m["To"] for m in messages) == ["c0@example.com", "c1@example.com"]
    first = next(m for m in messages if m["To"] == "c0@example.com")
    with unit_of_work(engine, write=False) as session:
        key = session.scalar(select(OutboxMessage.execution_key).order_by(OutboxMessage.id))
    assert first["Message-ID"] == message_id(str(key), SENDER)
    assert first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert (
        first["List-Unsubscribe"]
        .strip()
        .startswith("<https://loja.test/v1/automation/unsubscribe?token=")
    )
    assert first.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in first.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert "150 pontos" in first.get_body(("plain",)).get_content()


def test_a_send_rate_spaces_messages(engine: Engine, tmp_path: Path) -> None:
    _decided(engine, customers=3)
    with running_sink(tmp_path / "sink") as port:
        smtp = SmtpSender(smtp_settings(f"smtp://127.0.0.1:{port}", SENDER, rate_per_second=10))
        started = time.monotonic()
        deliver_due(engine, smtp=smtp, sender=SENDER)
        elapsed = time.monotonic() - started
        smtp.close()
    # Three messages at 10/s: the 2nd and 3rd each wait their 100 ms slot.
    assert elapsed >= 0.2


def test_a_batch_with_one_unsubscribed_recipient_sends_all_the_others(
    engine: Engine, tmp_path: Path
) -> None:
    customers = _decided(engine, customers=5)
    withdraw_marketing(engine, customers[2])  # after the decision, before the send
    with running_sink(tmp_path / "sink") as port:
        smtp = SmtpSender(smtp_settings(f"smtp://127.0.0.1:{port}", SENDER))
        stats = deliver_due(engine, smtp=smtp, sender=SENDER)
        smtp.close()
        messages = received(tmp_path / "sink")
    assert delivery.HAND_OVER_BATCH >= 5  # the five are handed over together
    assert (stats.sent, stats.suppressed, stats.failed) == (4, 1, 0)
    assert sorted(m["To"] for m in messages) == [f"c{i}@example.com" for i in (0, 1, 3, 4)]
    assert _states(engine) == ["sent", "sent", "suppressed", "sent", "sent"]


def test_a_crashed_hand_over_is_not_resent_for_marketing_but_is_for_transactional(
    engine: Engine,
) -> None:
    _decided(engine)
    with unit_of_work(engine) as session:
        first = session.scalar(select(OutboxMessage.id).order_by(OutboxMessage.id))
        session.execute(
            update(OutboxMessage).where(OutboxMessage.id == first).values(purpose="transactional")
        )
    now = utcnow()
    assert len(claim(engine, now=now, limit=10)) == 2
    with unit_of_work(engine) as session:
        # Both marked handed over, as just before their sends; then the worker "dies".
        session.execute(update(OutboxMessage).values(sent_at=now))
    assert recover_stale(engine, now=now + LEASE / 2) == 0
    assert recover_stale(engine, now=now + LEASE + timedelta(seconds=1)) == 2
    assert _states(engine) == ["pending", "unknown"]


def test_webhooks_are_signed_retried_with_backoff_and_survive_rotation(engine: Engine) -> None:
    journey = thank_you()
    journey["nodes"]["send"] = {
        "type": "send",
        "channel": "webhook",
        "endpoint": "gateway",
        "next": "done",
    }
    store = make_store(engine, customers=1)
    apply(engine, store, journey)
    with unit_of_work(engine) as session:
        add_order(session, store, store.customers[0], "W-1")
        _, old_secret = add_endpoint(
            session, brand_id=store.brand_id, name="gateway", url="http://127.0.0.1:9/"
        )
    ingest_triggers(engine, now=NOON)
    decide_due(engine, context(), now=NOON)
    with webhook_receiver(old_secret) as receiver:
        with unit_of_work(engine) as session:
            session.execute(update(WebhookEndpoint).values(url=receiver.url))
            new_secret = rotate_secret(session, brand_id=store.brand_id, name="gateway")
        receiver.fail_next.append(503)
        first = deliver_due(engine, smtp=None, sender=SENDER)
        assert (first.sent, first.failed) == (0, 1)
        with unit_of_work(engine) as session:
            row = session.scalars(select(OutboxMessage)).one()
            assert row.state == "pending"
            assert row.next_attempt_at > utcnow()
            session.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
        second = deliver_due(engine, smtp=None, sender=SENDER)
        assert second.sent == 1
        requests = receiver.requests
    assert len(requests) == 2
    (h1, _, ok1), (h2, b2, ok2) = requests
    assert (ok1, ok2) == (True, True)  # the old secret still verifies during the rotation
    assert h1["webhook-id"] == h2["webhook-id"]  # receivers can deduplicate retries
    assert len(h2["webhook-signature"].split()) == 2
    assert verify(new_secret, h2, b2)
    assert json_body(b2)["customer"]["first_name"] == "Cliente0"


def test_backoff_grows_exponentially_with_jitter() -> None:
    rng = random.Random(1)
    delays = [backoff(n, rng=rng).total_seconds() for n in (1, 2, 3, 4)]
    for n, delay in enumerate(delays, start=1):
        ceiling = 5 * 2 ** (n - 1)
        assert ceiling / 2 <= delay <= ceiling
    assert backoff(40, rng=rng) <= timedelta(hours=6)


@pytest.mark.parametrize("url", ["http://x", "smtp://", "ftp://h:1"])
def test_smtp_url_must_be_smtp(url: str) -> None:
    with pytest.raises(ValueError, match="RECOMPRA_SMTP_URL"):
        smtp_settings(url, SENDER)


def test_smtp_url_carries_credentials_and_starttls() -> None:
    s = smtp_settings("smtp://user%40x:p%3Ass@mail.example:587?starttls=true", SENDER)
    assert (s.host, s.port, s.username, s.password, s.starttls) == (
        "mail.example",
        587,
        "user@x",
        "p:ss",
        True,
    )
