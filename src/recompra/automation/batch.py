"""What a decision batch reads once for all its customers, and the outbox rows it writes
at once.

Deciding sends one timer at a time cost five to eight SQL statements per decision
(consent, cap count, customer, order, loyalty account, lots, the outbox insert and, on
PostgreSQL, the contact lock): most of a "send now" decision's CPU time went into
building and running them. A batch instead reads, on its first send, the facts of every
customer it holds — consents, the counted messages of the longest cap window, customers
— locks their rows on PostgreSQL (in id order, as a merge does: two writers never wait
on each other in a cycle; :meth:`DecisionBatch.hold_customers`), and writes its outbox
rows in one statement when it ends. Messages decided in the batch are added to the
counted ones as they are decided, so a cap holds inside the batch as across batches.
Message contexts (orders, points, tier) are read for the whole batch when its first
message is built.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from recompra.automation.bulk import insert_rows
from recompra.automation.consent import consent_allows, consent_statements
from recompra.automation.lifecycle import stages_of
from recompra.automation.messages import Wanted, message_contexts
from recompra.automation.runs import RunKey, insert_timers, timer_row
from recompra.automation.targeting_gate import targeted_uplifts
from recompra.db.dialect import in_values, is_sqlite
from recompra.hub.properties import lock_customers
from recompra.models import Customer, Order
from recompra.models.automation import OUTBOX, RUNS, OutboxMessage

#: Outbox states that count against a frequency cap (decided to be delivered).
COUNTED = ("pending", "sending", "sent", "unknown")


class MergedMeanwhile(Exception):
    """A customer of the batch was merged into another after the batch claimed its runs,
    and the merge moved them: decided now, the batch would write for the merged customer
    what is the survivor's. The batch rolls back and is claimed again."""


@dataclass(frozen=True)
class Counted:
    """A marketing message that counts against caps: when it was decided, by which journey
    (``None`` for messages outside journeys)."""

    decided_at: datetime
    journey_id: int | None


@dataclass(frozen=True)
class Recipient:
    """The customer fields a send decision reads."""

    id: int
    email: str | None
    locale: str | None


class DecisionBatch:
    """Facts shared by the decisions of one batch (see the module's docstring).

    ``runs`` are the (customer, order) pairs of the batch's runs by brand; ``lookback``
    is how far back counted messages are read (the longest cap window); ``claimed``, the
    claimed runs' (customer, state) by id (see :meth:`hold_customers`).
    """

    def __init__(
        self,
        session: Session,
        *,
        runs: dict[int, list[Wanted]],
        lookback: timedelta,
        now: datetime,
        recommendations_root: Path | None,
        claimed: dict[int, tuple[int, str]] | None = None,
    ) -> None:
        self.session = session
        self.runs = runs
        #: The claimed runs' (customer, state) by run id, as the claim read them.
        self.claimed = claimed or {}
        self.held = False
        self.lookback = lookback
        self.now = now
        self.recommendations_root = recommendations_root
        self.loaded = False
        self.recipients: dict[int, Recipient] = {}
        self.consents: dict[tuple[int, str], dict[str, bool]] = defaultdict(dict)
        self.counted: dict[tuple[int, str], list[Counted]] = defaultdict(list)
        self.contexts: dict[int, dict[Wanted, dict[str, Any]]] = {}
        self.outbox: list[dict[str, Any]] = []
        self.timers: list[dict[str, Any]] = []
        self.uplifts: dict[tuple[int, int], float] = {}
        self.stages: dict[int, list[str]] | None = None

    def customer_ids(self) -> list[int]:
        """Every customer of the batch, in id order."""
        return sorted({c for pairs in self.runs.values() for c, _ in pairs})

    def hold_customers(self) -> None:
        """Lock the batch's customers' rows (PostgreSQL), lower id first, once: before its
        first write keyed by a customer (a message, points, a property, a coupon).

        Every writer of a customer locks its row first, and a merge locks both customers
        lower id first (``hub.properties.lock_customers``); a batch that locked one
        customer per property write, in due order, could hold the higher while a merge of
        the two held the lower (PostgreSQL aborted one). Holding them, the batch and a
        merge of its customers run one after the other: a merge that committed while the
        batch waited has moved the runs the batch claimed (``hub.merge_runs``), and the
        batch is decided again (:class:`MergedMeanwhile`) rather than write for the
        merged customer. They are also what serialises two workers' sends to one
        customer (:meth:`load`).
        """
        if self.held:
            return
        self.held = True
        merged = lock_customers(self.session, self.customer_ids())
        # Runs of a customer merged before the claim were moved before it (or, merged
        # before merges moved runs, never will be): only a change since the claim counts.
        claimed = {run: read for run, read in self.claimed.items() if read[0] in merged}
        if claimed and any(
            claimed[run] != (customer, state)
            for run, customer, state in self.session.execute(
                select(RUNS.c.id, RUNS.c.customer_id, RUNS.c.state).where(
                    in_values(self.session, RUNS.c.id, claimed)
                )
            )
        ):
            raise MergedMeanwhile

    def load(self) -> None:
        """Lock (PostgreSQL) and read the batch's customers' contact facts, once."""
        if self.loaded:
            return
        self.loaded = True
        self.hold_customers()
        session, ids = self.session, self.customer_ids()
        # Held by hold_customers (PostgreSQL): two workers deciding sends for the same
        # customer queue on the customer's row, so the counts read below are never read
        # by both before either writes (a lock on a row of automation_contacts did it,
        # two statements more a batch). SQLite needs none: a batch holds the database's
        # single write lock from its first read.
        for cid, email, locale in session.execute(
            select(Customer.id, Customer.email, Customer.locale).where(
                in_values(session, Customer.id, ids)
            )
        ):
            self.recipients[cid] = Recipient(cid, email, locale)
        self.consents = consent_statements(session, ids)
        for cid, channel, decided_at, run_id, execution_key in session.execute(
            select(
                OutboxMessage.customer_id,
                OutboxMessage.channel,
                OutboxMessage.decided_at,
                OutboxMessage.run_id,
                OutboxMessage.execution_key,
            ).where(
                in_values(session, OutboxMessage.customer_id, ids),
                OutboxMessage.purpose == "marketing",
                _unindexed(session, OutboxMessage.state).in_(COUNTED),
                OutboxMessage.decided_at > self.now - self.lookback,
            )
        ):
            # A journey's execution key starts with its journey id (runs.execution_key).
            journey = int(execution_key.split(":", 1)[0]) if run_id is not None else None
            self.counted[(cid, channel)].append(Counted(decided_at, journey))
        self.uplifts = targeted_uplifts(session, customer_ids=ids)

    def recipient(self, customer_id: int) -> Recipient | None:
        """The customer's contact fields (``None``: no such customer)."""
        self.load()
        return self.recipients.get(customer_id)

    def may_contact(
        self, customer_id: int, channel: str, purpose: str, *, require_opt_in: bool
    ) -> bool:
        """:func:`recompra.automation.consent.may_contact` from the batch's reading."""
        self.load()
        return consent_allows(
            self.consents.get((customer_id, channel), {}), purpose, require_opt_in=require_opt_in
        )

    def uplift(self, journey_id: int, customer_id: int) -> float | None:
        """The customer's predicted uplift when the journey targets by it (else ``None``)."""
        self.load()
        return self.uplifts.get((journey_id, customer_id))

    def sent(self, customer_id: int, channel: str) -> list[Counted]:
        """The customer's counted marketing messages on ``channel`` (this batch's too)."""
        self.load()
        return self.counted.get((customer_id, channel), [])

    def context(self, brand_id: int, customer_id: int, order_id: int | None) -> dict[str, Any]:
        """The message context of one run (the batch's are read together, once)."""
        if brand_id not in self.contexts:
            self.contexts[brand_id] = message_contexts(
                self.session,
                brand_id=brand_id,
                wanted=self.runs.get(brand_id, [(customer_id, order_id)]),
                recommendations_root=self.recommendations_root,
                now=self.now,
            )
        found = self.contexts[brand_id].get((customer_id, order_id))
        if found is None:  # not among the batch's runs (cannot happen: read it alone)
            found = message_contexts(
                self.session,
                brand_id=brand_id,
                wanted=[(customer_id, order_id)],
                recommendations_root=self.recommendations_root,
                now=self.now,
            )[(customer_id, order_id)]
        # A copy: a decision adds its own links to it.
        return dict(found)

    def order_stages(self, order_id: int) -> list[str]:
        """The lifecycle stages the order reached: the orders of all the batch's runs are
        read together on the first call (one statement per decision before)."""
        if self.stages is None:
            ids = {o for pairs in self.runs.values() for _, o in pairs if o is not None}
            self.stages = {
                row.id: stages_of(row.status, row.approved_at, row.shipped_at, row.delivered_at)
                for row in self.session.execute(
                    select(
                        Order.id,
                        Order.status,
                        Order.approved_at,
                        Order.shipped_at,
                        Order.delivered_at,
                    ).where(in_values(self.session, Order.id, ids))
                )
            }
        return self.stages.get(order_id, [])

    def record(self, row: dict[str, Any], *, journey_id: int | None) -> None:
        """Queue an outbox row; a counted one counts against caps at once."""
        self.outbox.append(row)
        if row["purpose"] == "marketing" and row["state"] in COUNTED:
            key = (row["customer_id"], row["channel"])
            self.counted[key].append(Counted(row["decided_at"], journey_id))

    def schedule(self, run: RunKey, node: str, due: datetime, *, reason: str | None = None) -> None:
        """Queue the run's timer for ``node`` (written with the batch's, at its end: nothing
        the batch decides reads timers)."""
        self.timers.append(timer_row(run, node, due, reason=reason))

    def flush(self) -> None:
        """Write the queued timers and outbox rows (one per execution key: a replay adds
        nothing)."""
        if self.outbox:
            self.hold_customers()
        insert_timers(self.session, self.timers)
        self.timers = []
        insert_rows(self.session, OUTBOX, self.outbox, unique=("execution_key",))
        self.outbox = []


def count_since(counted: list[Counted], since: datetime, journey_id: int | None = None) -> int:
    """How many of ``counted`` were decided after ``since`` (by ``journey_id`` if given)."""
    return sum(
        1
        for c in counted
        if c.decided_at > since and (journey_id is None or c.journey_id == journey_id)
    )


def _unindexed(session: Session, column: Any) -> Any:
    """``column`` as SQLite cannot look up by index (``column || ''``; itself elsewhere).

    The cap counts' read of the outbox names the batch's customers and the four counted
    states: SQLite's planner walked ``(state, next_attempt_at)`` for those states, i.e.
    every message ever decided, so a batch's cost grew with the outbox (0.44 ms a
    decision at 400,000 messages); kept off that index it reads by customer, the batch's
    customers' messages alone. PostgreSQL picks that by itself from its statistics."""
    return column.op("||")("") if is_sqlite(session) else column
