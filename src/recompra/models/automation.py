"""Post-sale automation: versioned journeys, their runs and durable timers, the outbox of
decided messages, consent per channel and purpose, webhook endpoints and feed cursors.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from recompra.models.base import Base, BigIntPK, BrandOwned, Timestamped, utcnow

JOURNEY_STATUSES = ("active", "paused")
RUN_STATES = ("active", "completed", "exited")
TIMER_STATES = ("pending", "done", "canceled")
OUTBOX_STATES = ("pending", "sending", "sent", "failed", "unknown", "suppressed", "held_out")


#: Statistics for the small ``journeys`` table after any change (see :class:`Journey`).
JOURNEYS_STORAGE = {"autovacuum_analyze_threshold": "0", "autovacuum_analyze_scale_factor": "0"}


class Journey(BrandOwned, Timestamped, Base):
    """A brand's journey, identified by ``key``; its graph lives in its versions."""

    __tablename__ = "journeys"
    __table_args__ = (
        UniqueConstraint("brand_id", "key"),
        CheckConstraint("status IN ('active', 'paused')", name="status_known"),
        # A brand has a few dozen journeys: PostgreSQL's default analyze threshold (50
        # changed rows) would leave the table without statistics for ever, and the
        # due-timer claim, which joins it, then guesses 0.5% of journeys active and
        # reads every run first (migration 0028).
        {"postgresql_with": JOURNEYS_STORAGE},
    )

    key: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="active")
    current_version: Mapped[int] = mapped_column(Integer, default=1)


class JourneyVersion(Base):
    """An immutable version of a journey: its canonical definition as applied."""

    __tablename__ = "journey_versions"
    __table_args__ = (UniqueConstraint("journey_id", "version"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    journey_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("journeys.id"))
    version: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class JourneyRun(Base):
    """One customer's pass through one version of a journey for one entry key.

    ``(journey_id, customer_id, entry_key)`` is unique: replaying a trigger never starts
    a second run. A run stays on the version it started with.
    """

    __tablename__ = "journey_runs"
    __table_args__ = (
        UniqueConstraint("journey_id", "customer_id", "entry_key"),
        Index("ix_journey_runs_customer_state", "customer_id", "state"),
        Index("ix_journey_runs_journey_node", "journey_id", "state", "node"),
        CheckConstraint("state IN ('active', 'completed', 'exited')", name="state_known"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    journey_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("journeys.id"))
    version: Mapped[int] = mapped_column(Integer)
    customer_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("customers.id"))
    entry_key: Mapped[str] = mapped_column(String(128))
    #: The node the run is at (waiting in, or last visited when finished).
    node: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="active")
    #: The customer is in the journey's holdout: nothing is delivered to them.
    holdout: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The order that started a run keyed by order (for the message's "last order").
    order_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("orders.id"))
    #: Node of a pending ``wait_for_event`` and the event type it waits for.
    waiting_for: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    exit_reason: Mapped[str | None] = mapped_column(String(64))


class JourneyTimer(Base):
    """A node of a run due at ``due_at``: the worker claims it, decides, and marks it done.

    ``execution_key`` is unique per (journey version, entry key, node, customer), so a
    node of a run is decided once.
    """

    __tablename__ = "journey_timers"
    __table_args__ = (
        UniqueConstraint("execution_key"),
        # id too: the claim orders by (due_at, id), see migration 0027.
        Index("ix_journey_timers_state_due", "state", "due_at", "id"),
        Index("ix_journey_timers_run", "run_id"),
        CheckConstraint("state IN ('pending', 'done', 'canceled')", name="state_known"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    run_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("journey_runs.id"))
    node: Mapped[str] = mapped_column(String(64))
    execution_key: Mapped[str] = mapped_column(String(300))
    due_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), default="pending")
    #: ``timeout`` when a ``wait_for_event`` timer fires without the event.
    reason: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]


class OutboxMessage(BrandOwned, Base):
    """A decided message (or "would have sent" record for a holdout member).

    One row per execution key: the decision to send is exactly-once. Delivery moves it
    ``pending -> sending -> sent`` (or ``failed``; ``unknown`` when a crash left a
    marketing message's outcome unknown: it is not resent).
    """

    __tablename__ = "automation_outbox"
    __table_args__ = (
        UniqueConstraint("execution_key"),
        Index("ix_automation_outbox_state_next", "state", "next_attempt_at"),
        Index("ix_automation_outbox_customer_channel", "customer_id", "channel", "decided_at"),
        CheckConstraint(
            "state IN ('pending', 'sending', 'sent', 'failed', 'unknown', 'suppressed',"
            " 'held_out')",
            name="state_known",
        ),
    )

    #: The journey run that decided it; ``None`` for a case reply or a survey sent directly.
    run_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("journey_runs.id"))
    customer_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("customers.id"))
    execution_key: Mapped[str] = mapped_column(String(300))
    channel: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(32))
    #: ``email``: recipient, subject, text, html; ``webhook``: endpoint and JSON body.
    payload: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class ContactConsent(Base):
    """A customer's current consent for one channel and purpose, with its proof.

    The latest statement wins (the row is updated); ``source`` and ``recorded_at`` are
    the LGPD proof of where and when it was given or withdrawn.
    """

    __tablename__ = "contact_consents"
    __table_args__ = (UniqueConstraint("customer_id", "channel", "purpose"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("customers.id"))
    channel: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(32))
    granted: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookEndpoint(BrandOwned, Base):
    """A brand's webhook receiver (WhatsApp/SMS gateway, the store's own systems).

    ``secrets`` lists the signing secrets in force (``whsec_<base64>``); during a
    rotation both the new and the old one sign. After ``failures`` consecutive failed
    attempts reach the pause threshold the endpoint is ``paused``.
    """

    __tablename__ = "webhook_endpoints"
    __table_args__ = (
        UniqueConstraint("brand_id", "name"),
        CheckConstraint("status IN ('active', 'paused')", name="status_known"),
    )

    name: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(500))
    secrets: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default="active")
    failures: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FeedCursor(Base):
    """How far the trigger reader has consumed one feed (orders, segment events, events...).

    A feed read in commit-safe order keeps the :class:`~recompra.db.commit_order.Position`
    of the last row read: ``xact_position`` its stamp (``xact_id``, or ``update_xact_id``
    for ``order_updates``; 0 for an id feed on SQLite), ``position`` its id (see
    :mod:`recompra.automation.feeds`). Other feeds keep a day in ``position``.
    """

    __tablename__ = "automation_cursors"

    feed: Mapped[str] = mapped_column(String(32), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, default=0)
    xact_position: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Coupon(Base):
    """A coupon code of a brand's pool, or generated, given to one run by a coupon node.

    Pool codes are loaded unassigned (``execution_key`` empty); a coupon node takes one
    and writes its execution key, which is unique, so a node gives one code per run and
    a replayed decision gives none twice. Generated codes are inserted already assigned.
    """

    __tablename__ = "automation_coupons"
    __table_args__ = (
        UniqueConstraint("brand_id", "code"),
        UniqueConstraint("execution_key"),
        Index("ix_automation_coupons_pool_free", "brand_id", "pool", "execution_key"),
        Index("ix_automation_coupons_run", "run_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    brand_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("brands.id"))
    #: The pool's name; generated codes are in the pool ``generated``.
    pool: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime | None]
    execution_key: Mapped[str | None] = mapped_column(String(300))
    run_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("journey_runs.id"))
    customer_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("customers.id"))
    assigned_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# Core tables of the models written with INSERT ... ON CONFLICT DO NOTHING (typed as Table).
RUNS = cast(Table, JourneyRun.__table__)
TIMERS = cast(Table, JourneyTimer.__table__)
OUTBOX = cast(Table, OutboxMessage.__table__)
CONSENTS = cast(Table, ContactConsent.__table__)
CURSORS = cast(Table, FeedCursor.__table__)
COUPONS = cast(Table, Coupon.__table__)
