"""The SMTP sender and the delivery loop around it: connections reused across a batch,
the token bucket's rate, an unsubscribe recorded while a batch is being sent, and the
retry after a refused message (4xx: later, with backoff; 5xx: failed at once)."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from automationtest import (
    add_order,
    apply,
    context,
    make_store,
    received,
    thank_you,
    withdraw_marketing,
)
from sqlalchemy import Engine, select, update

from recompra.automation import delivery
from recompra.automation.delivery import LEASE, hand_over_batches
from recompra.automation.email import (
    OutgoingMail,
    SmtpSender,
    TokenBucket,
    message_id,
    smtp_settings,
)
from recompra.automation.sink import free_port, running_sink
from recompra.automation.worker import decide_due, deliver_due, ingest_triggers
from recompra.db import unit_of_work
from recompra.models.automation import OutboxMessage
from recompra.models.base import utcnow

SENDER = "Loja <loja@example.com>"


def _decided(engine: Engine, customers: int) -> list[int]:
    """``customers`` thank-you e-mails decided and waiting in the outbox (in order)."""
    store = make_store(engine, customers=customers)
    apply(engine, store, thank_you())
    with unit_of_work(engine) as session:
        for i, customer in enumerate(store.customers):
            add_order(session, store, customer, f"S-{i}")
    now = utcnow()
    ingest_triggers(engine, now=now)
    decide_due(engine, context(), now=now)
    return store.customers


def _rows(engine: Engine) -> list[tuple[int, str, int]]:
    with unit_of_work(engine, write=False) as session:
        rows = session.execute(
            select(OutboxMessage.customer_id, OutboxMessage.state, OutboxMessage.attempts).order_by(
                OutboxMessage.id
            )
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


@pytest.mark.parametrize("connections", [1, 2])
def test_the_lanes_reuse_their_connections_for_the_whole_batch(
    engine: Engine, tmp_path: Path, connections: int
) -> None:
    _decided(engine, customers=5)
    with running_sink(tmp_path / "sink") as port:
        smtp = SmtpSender(
            smtp_settings(f"smtp://127.0.0.1:{port}", SENDER), connections=connections
        )
        stats = deliver_due(engine, smtp=smtp, sender=SENDER)
        smtp.close()
        messages = received(tmp_path / "sink")
    assert (stats.sent, stats.failed) == (5, 0)
    # Not one per message. The lanes share the sender's idle connections, so a lane that
    # finds the other's idle takes it rather than opening its own.
    assert 1 <= smtp.opened <= connections
    assert sorted(m["To"] for m in messages) == [f"c{i}@example.com" for i in range(5)]
    assert [state for _, state, _ in _rows(engine)] == ["sent"] * 5


def test_the_token_bucket_keeps_the_configured_rate() -> None:
    rate, n = 200.0, 60
    bucket = TokenBucket(rate)
    started = time.monotonic()
    for _ in range(n):
        bucket.acquire()
    elapsed = time.monotonic() - started
    # One token at the start, then one per 1/rate: never faster than the rate; slower
    # only by the last sleep's oversleep (the bucket credits earlier ones), so a loaded
    # machine stays well inside the upper bound.
    expected = (n - 1) / rate
    assert expected * 0.99 <= elapsed <= expected * 1.25


def test_an_unsubscribe_recorded_during_a_delivery_stops_the_later_hand_over_batches(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    customers = _decided(engine, customers=4)
    monkeypatch.setattr(delivery, "HAND_OVER_BATCH", 2)  # (c0, c1) then (c2, c3)

    class UnsubscribingAfterFirst(SmtpSender):
        """Records c1's and c3's unsubscribes once the first message is out."""

        def send(self, message: OutgoingMail) -> None:
            super().send(message)
            if not getattr(self, "done", False):
                self.done = True
                withdraw_marketing(engine, customers[1])
                withdraw_marketing(engine, customers[3])

    with running_sink(tmp_path / "sink") as port:
        smtp = UnsubscribingAfterFirst(smtp_settings(f"smtp://127.0.0.1:{port}", SENDER))
        stats = deliver_due(engine, smtp=smtp, sender=SENDER)
        smtp.close()
        messages = received(tmp_path / "sink")
    # c1 had been handed over with its batch (consent read, marked) before the
    # unsubscribe was recorded, so it leaves; c3's batch is handed over after it.
    assert (stats.sent, stats.suppressed) == (3, 1)
    assert sorted(m["To"] for m in messages) == [
        "c0@example.com",
        "c1@example.com",
        "c2@example.com",
    ]
    assert [state for _, state, _ in _rows(engine)] == ["sent", "sent", "sent", "suppressed"]


class _Refusing:
    """aiosmtpd handler answering the first ``refusals`` messages with ``reply``."""

    def __init__(self, refusals: int, reply: str) -> None:
        self.refusals, self.reply, self.accepted = refusals, reply, 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refusals:
            self.refusals -= 1
            return self.reply
        self.accepted += 1
        return "250 OK"


@pytest.mark.parametrize(
    ("reply", "state_after_refusal"),
    [("451 try again later", "pending"), ("550 no such mailbox", "failed")],
)
def test_a_refused_message_is_retried_with_backoff_unless_the_refusal_is_permanent(
    engine: Engine, reply: str, state_after_refusal: str
) -> None:
    _decided(engine, customers=2)
    handler = _Refusing(1, reply)
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        smtp = SmtpSender(smtp_settings(f"smtp://127.0.0.1:{controller.port}", SENDER))
        first = deliver_due(engine, smtp=smtp, sender=SENDER)
        assert (first.sent, first.failed) == (1, 1)
        assert smtp.opened == 1  # the refusal left the connection usable
        refused = [row for row in _rows(engine) if row[1] != "sent"]
        assert [(state, attempts) for _, state, attempts in refused] == [(state_after_refusal, 1)]
        with unit_of_work(engine, write=False) as session:
            retry_at, error = session.execute(
                select(OutboxMessage.next_attempt_at, OutboxMessage.last_error).where(
                    OutboxMessage.customer_id == refused[0][0]
                )
            ).one()
        assert reply.split()[0] in str(error)
        # Not due again at once: the backoff pushed it out.
        assert deliver_due(engine, smtp=smtp, sender=SENDER).sent == 0
        # Once its backoff has passed, a transient refusal is sent; a permanent one never.
        with unit_of_work(engine) as session:
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.customer_id == refused[0][0])
                .values(next_attempt_at=retry_at - timedelta(hours=7))
            )
        again = deliver_due(engine, smtp=smtp, sender=SENDER)
        smtp.close()
    finally:
        controller.stop()
    assert again.sent == (1 if state_after_refusal == "pending" else 0)
    assert handler.accepted == 1 + again.sent


class _WorkerDied(BaseException):
    """Stands for the process dying mid-send (not an error the delivery handles)."""


def test_after_a_crash_only_the_marketing_batch_in_flight_is_given_up(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _decided(engine, customers=5)
    with unit_of_work(engine) as session:
        session.execute(update(OutboxMessage).values(purpose="marketing"))
    monkeypatch.setattr(delivery, "HAND_OVER_BATCH", 2)  # (c0, c1), (c2, c3), (c4)

    class DyingOnThird(SmtpSender):
        """Sends two messages, then dies while handing over the third."""

        calls = 0

        def send(self, message: OutgoingMail) -> None:
            self.calls += 1
            if self.calls == 3:
                raise _WorkerDied
            super().send(message)

    with running_sink(tmp_path / "sink") as port:
        settings = smtp_settings(f"smtp://127.0.0.1:{port}", SENDER)
        dying = DyingOnThird(settings)
        with pytest.raises(_WorkerDied):
            deliver_due(engine, smtp=dying, sender=SENDER)
        dying.close()
        # The next worker, once the dead one's lease has passed (the claims are moved
        # back by the lease rather than the test waiting ten minutes).
        with unit_of_work(engine) as session:
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.state == "sending")
                .values(next_attempt_at=utcnow() - LEASE - timedelta(minutes=1))
            )
        smtp = SmtpSender(settings)
        stats = deliver_due(engine, smtp=smtp, sender=SENDER)
        smtp.close()
        messages = received(tmp_path / "sink")
    # c0 and c1 were sent and recorded (with the hand-over of c2's batch); c2 and c3 were
    # handed over: marketing, outcome unknown, so neither is resent (c3 had not left:
    # the batch is what a crash may give up); c4 never left and is sent by the next
    # worker instead of being given up with the crashed claim.
    states = [state for _, state, _ in _rows(engine)]
    assert states == ["sent", "sent", "unknown", "unknown", "sent"]
    assert stats.sent == 1
    assert sorted(m["To"] for m in messages) == [
        "c0@example.com",
        "c1@example.com",
        "c4@example.com",
    ]


def _claimed(purposes: str) -> list[delivery.Claimed]:
    """Claimed rows with these purposes (``m`` marketing, ``t`` transactional)."""
    purpose = {"m": "marketing", "t": "transactional"}
    return [
        delivery.Claimed(i, 1, i, f"k{i}", "email", purpose[p], {}, 1)
        for i, p in enumerate(purposes)
    ]


def test_a_hand_over_batch_ends_at_its_first_transactional_message() -> None:
    batches = hand_over_batches(_claimed("mmmmmtmmtt" + "m" * 7), 4)
    assert ["".join(m.purpose[0] for m in batch) for batch in batches] == [
        "mmmm",
        "mt",
        "mmt",
        "t",
        "mmmm",
        "mmm",
    ]


def test_a_crash_after_a_transactional_message_left_resends_that_one_only(
    engine: Engine, tmp_path: Path
) -> None:
    _decided(engine, customers=5)
    with unit_of_work(engine) as session:
        ids = session.scalars(select(OutboxMessage.id).order_by(OutboxMessage.id)).all()
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_([ids[2], ids[4]]))
            .values(purpose="transactional")
        )

    class DyingAfterThird(SmtpSender):
        """Dies once the sink has accepted the third message (c2, transactional)."""

        calls = 0

        def send(self, message: OutgoingMail) -> None:
            super().send(message)
            self.calls += 1
            if self.calls == 3:
                raise _WorkerDied

    with running_sink(tmp_path / "sink") as port:
        settings = smtp_settings(f"smtp://127.0.0.1:{port}", SENDER)
        with pytest.raises(_WorkerDied):
            deliver_due(engine, smtp=DyingAfterThird(settings), sender=SENDER)
        with unit_of_work(engine) as session:  # the dead worker's lease has passed
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.state == "sending")
                .values(next_attempt_at=utcnow() - LEASE - timedelta(minutes=1))
            )
        smtp = SmtpSender(settings)
        deliver_due(engine, smtp=smtp, sender=SENDER)
        smtp.close()
        messages = received(tmp_path / "sink")
    # The first batch was (c0, c1, c2): it ends at the transactional c2, so the crash left
    # one transactional message accepted and unrecorded, resent once; c0 and c1 had left
    # too (marketing: unknown, not resent); (c3, c4) had not been handed over.
    assert [state for _, state, _ in _rows(engine)] == [
        "unknown",
        "unknown",
        "sent",
        "sent",
        "sent",
    ]
    assert sorted(m["To"] for m in messages) == [f"c{i}@example.com" for i in (0, 1, 2, 2, 3, 4)]


def test_two_lanes_never_hold_two_transactional_messages_unrecorded(
    engine: Engine, tmp_path: Path
) -> None:
    _decided(engine, customers=6)
    with unit_of_work(engine) as session:
        session.execute(update(OutboxMessage).values(purpose="transactional"))
    accepted: set[str] = set()
    unrecorded: list[int] = []

    class Watching(SmtpSender):
        """Counts, as each message is accepted, the accepted messages whose outcome is
        not written yet: a crash at that moment would resend them all."""

        def send(self, message: OutgoingMail) -> None:
            super().send(message)
            accepted.add(_message_id(message))
            with unit_of_work(engine, write=False) as session:
                keys = session.scalars(
                    select(OutboxMessage.execution_key).where(OutboxMessage.state == "sending")
                ).all()
            unrecorded.append(sum(message_id(k, SENDER) in accepted for k in keys))

    with running_sink(tmp_path / "sink") as port:
        smtp = Watching(smtp_settings(f"smtp://127.0.0.1:{port}", SENDER), connections=2)
        stats = deliver_due(engine, smtp=smtp, sender=SENDER)
        smtp.close()
    assert stats.sent == 6
    assert unrecorded == [1] * 6  # this one only


def _message_id(message: OutgoingMail) -> str:
    head = message.data.split(b"\r\n\r\n", 1)[0].decode()
    return next(
        line.split(": ", 1)[1] for line in head.split("\r\n") if line.startswith("Message-ID")
    )
