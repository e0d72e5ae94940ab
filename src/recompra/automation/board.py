"""What the journeys page shows: each journey with its counts per node, the latest
decided messages, and a message rendered for a sample customer.

Per node: customers there now (active runs), decisions written to the outbox by state
(sent, pending, suppressed by consent, skipped by a cap, held out, failed, a property
not written past the customer's limit...), and
customers held back by a cap or quiet hours (pending timers with that reason). An
outbox row's node is the fourth part of its execution key
(``journey:version:entry key:node:customer``, see :func:`~recompra.automation.runs.execution_key`).

Reads only; the dashboard's view calls them (automation sits beside ``reads``, which
cannot import it: automation renders messages from the read model).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import String, case, cast, func, literal, select
from sqlalchemy.orm import Session

from recompra.automation.caps import CAP_REASONS
from recompra.automation.consent import unsubscribe_url
from recompra.automation.definition import successors
from recompra.automation.messages import Rendered, message_context, packaged_template
from recompra.automation.service import (
    JourneySummary,
    current_definition,
    get_journey,
    list_journeys,
)
from recompra.models import BrandCustomer, Customer
from recompra.models.automation import Journey, JourneyRun, JourneyTimer, OutboxMessage

#: Nodes that write outbox rows.
DECIDING = ("send", "give_points", "coupon", "update_property")
#: The page's columns per node and what each adds up (outbox states, or held-back reasons).
COLUMNS: dict[str, tuple[str, ...]] = {
    "here": (),
    "sent": ("sent",),
    "pending": ("pending", "sending"),
    "held_out": ("held_out",),
    "consent": ("suppressed_consent",),
    "cap_skipped": ("suppressed_cap",),
    "cap_deferred": ("cap",),
    "quiet_deferred": ("quiet_hours",),
    "failed": ("failed", "unknown"),
    "property_limit": ("suppressed_property_limit",),
}


@dataclass
class NodeCounts:
    """One node of a journey's version in force, with what happened there."""

    name: str
    definition: dict[str, Any]
    here: int = 0
    outbox: dict[str, int] = field(default_factory=dict)
    held_back: dict[str, int] = field(default_factory=dict)

    @property
    def type(self) -> str:
        """The node's type (``wait``, ``send``...)."""
        return str(self.definition["type"])

    def count(self, column: str) -> int:
        """The node's number in one of the page's :data:`COLUMNS`."""
        if column == "here":
            return self.here
        parts = COLUMNS[column]
        return sum(self.outbox.get(p, 0) + self.held_back.get(p, 0) for p in parts)

    @property
    def detail(self) -> str:
        """The node's main setting, shown next to its type (a template, a wait, a share)."""
        if "percent" in self.definition:
            return f"{self.definition['percent']:g}%"
        for name in ("template", "endpoint", "event", "duration", "points", "pool", "property"):
            if name in self.definition:
                return str(self.definition[name])
        if "until" in self.definition:
            return str(self.definition["until"]["property"])
        return ""


@dataclass
class JourneyBoard:
    """A journey as listed (:class:`~recompra.automation.service.JourneySummary`) with
    its run totals and its nodes in graph order."""

    summary: JourneySummary
    entered: int = 0
    active: int = 0
    completed: int = 0
    exited: int = 0
    holdout: int = 0
    nodes: list[NodeCounts] = field(default_factory=list)


@dataclass(frozen=True)
class RecentMessage:
    """A decided message as the page lists it."""

    decided_at: datetime
    journey: str
    node: str
    customer_id: int
    customer_name: str | None
    channel: str
    state: str
    reason: str | None
    subject: str | None


@dataclass(frozen=True)
class Preview:
    """A message rendered for a sample customer."""

    journey: str
    node: str
    template: str
    customer_id: int
    customer_name: str | None
    message: Rendered


def node_of(execution_key: str) -> str:
    """The node part of an execution key (entry keys may contain ``:``, so from the right)."""
    return execution_key.rsplit(":", 2)[-2]


def _graph_order(document: dict[str, Any]) -> list[str]:
    """Node names in a topological order from ``start`` (Kahn's algorithm, ties in the
    order the graph names them), so a shared end node comes after every path to it."""
    nodes: dict[str, dict[str, Any]] = document["nodes"]
    incoming = dict.fromkeys(nodes, 0)
    for node in nodes.values():
        for name in successors(node):
            incoming[name] += 1
    order: list[str] = []
    ready = [document["start"]]
    while ready:
        name = ready.pop(0)
        order.append(name)
        for after in successors(nodes[name]):
            incoming[after] -= 1
            if incoming[after] == 0:
                ready.append(after)
    return order


def journey_board(session: Session, *, brand_id: int) -> list[JourneyBoard]:
    """Every journey of the brand with its counts per node."""
    boards = []
    for summary in list_journeys(session, brand_id=brand_id):
        journey = get_journey(session, brand_id=brand_id, key=summary.key)
        document = current_definition(session, journey)
        board = JourneyBoard(summary)
        nodes = {name: NodeCounts(name, document["nodes"][name]) for name in _graph_order(document)}
        _count_runs(session, journey.id, board, nodes)
        _count_outbox(session, journey.id, nodes)
        board.nodes = list(nodes.values())
        boards.append(board)
    return boards


def node_outcomes(session: Session, *, brand_id: int, key: str) -> dict[str, dict[str, int]]:
    """The journey's nodes that decided something, with their non-zero :data:`COLUMNS`
    (what ``recompra journeys show`` prints under the definition)."""
    (board,) = [b for b in journey_board(session, brand_id=brand_id) if b.summary.key == key]
    counts = {n.name: {c: n.count(c) for c in COLUMNS if c != "here"} for n in board.nodes}
    return {
        name: {c: k for c, k in cs.items() if k} for name, cs in counts.items() if any(cs.values())
    }


def _count_runs(
    session: Session, journey_id: int, board: JourneyBoard, nodes: dict[str, NodeCounts]
) -> None:
    for state, node, holdout, count in session.execute(
        select(JourneyRun.state, JourneyRun.node, JourneyRun.holdout, func.count())
        .where(JourneyRun.journey_id == journey_id)
        .group_by(JourneyRun.state, JourneyRun.node, JourneyRun.holdout)
    ):
        board.entered += count
        board.holdout += count if holdout else 0
        if state == "active":
            board.active += count
            if node in nodes:
                nodes[node].here += count
        elif state == "completed":
            board.completed += count
        else:
            board.exited += count
    for node, reason, count in session.execute(
        select(JourneyTimer.node, JourneyTimer.reason, func.count())
        .join(JourneyRun, JourneyRun.id == JourneyTimer.run_id)
        .where(
            JourneyRun.journey_id == journey_id,
            JourneyTimer.state == "pending",
            JourneyTimer.reason.in_((*CAP_REASONS, "quiet_hours")),
        )
        .group_by(JourneyTimer.node, JourneyTimer.reason)
    ):
        if node in nodes and reason is not None:
            # Every kind of cap (rolling, calendar day, the journey's own) is one column.
            column = "cap" if reason in CAP_REASONS else reason
            held = nodes[node].held_back
            held[column] = held.get(column, 0) + count


def _count_outbox(session: Session, journey_id: int, nodes: dict[str, NodeCounts]) -> None:
    deciding = [name for name, node in nodes.items() if node.type in DECIDING]
    if not deciding:
        return
    # The node is matched on the end of the key (":<node>:<customer>"), so the count
    # runs in SQL on both backends; node names hold no LIKE wildcard but "_", escaped.
    suffix = {
        name: literal("%:" + name.replace("_", "\\_") + ":")
        + cast(OutboxMessage.customer_id, String)
        for name in deciding
    }
    node_expr = case(
        *[(OutboxMessage.execution_key.like(s, escape="\\"), name) for name, s in suffix.items()],
        else_=literal(""),
    )
    # Suppressed rows say why (consent or a cap with on_cap: skip); older ones are consent.
    reason = func.coalesce(OutboxMessage.payload["reason"].as_string(), "consent")
    state = case(
        (OutboxMessage.state == "suppressed", literal("suppressed_") + reason),
        else_=OutboxMessage.state,
    )
    for node, kind, count in session.execute(
        select(node_expr, state, func.count())
        .where(OutboxMessage.execution_key.like(f"{journey_id}:%"))
        .group_by(node_expr, state)
    ):
        if node in nodes:
            nodes[node].outbox[kind] = count


def recent_messages(session: Session, *, brand_id: int, limit: int = 20) -> list[RecentMessage]:
    """The brand's latest outbox rows (newest first)."""
    rows = session.execute(
        select(OutboxMessage, Journey.key, Customer.name)
        .join(JourneyRun, JourneyRun.id == OutboxMessage.run_id)
        .join(Journey, Journey.id == JourneyRun.journey_id)
        .join(Customer, Customer.id == OutboxMessage.customer_id)
        .where(OutboxMessage.brand_id == brand_id)
        .order_by(OutboxMessage.decided_at.desc(), OutboxMessage.id.desc())
        .limit(limit)
    ).all()
    return [
        RecentMessage(
            decided_at=row.decided_at,
            journey=key,
            node=node_of(row.execution_key),
            customer_id=row.customer_id,
            customer_name=name,
            channel=row.channel,
            state=row.state,
            reason=row.payload.get("reason") if row.state == "suppressed" else None,
            subject=row.payload.get("subject"),
        )
        for row, key, name in rows
    ]


def email_nodes(boards: list[JourneyBoard]) -> list[tuple[str, str, str]]:
    """``(journey, node, template)`` of every e-mail send node in force."""
    return [
        (board.summary.key, node.name, str(node.definition["template"]))
        for board in boards
        for node in board.nodes
        if node.type == "send" and node.definition["channel"] == "email"
    ]


def sample_customer(session: Session, *, brand_id: int, journey: str | None) -> int | None:
    """The customer of the journey's latest run, else the brand's first customer with an
    e-mail: a real customer whose data fills the preview."""
    if journey is not None:
        latest = session.scalar(
            select(JourneyRun.customer_id)
            .join(Journey, Journey.id == JourneyRun.journey_id)
            .where(Journey.brand_id == brand_id, Journey.key == journey)
            .order_by(JourneyRun.started_at.desc(), JourneyRun.id.desc())
            .limit(1)
        )
        if latest is not None:
            return int(latest)
    first = session.scalar(
        select(Customer.id)
        .join(BrandCustomer, BrandCustomer.customer_id == Customer.id)
        .where(BrandCustomer.brand_id == brand_id, Customer.email.is_not(None))
        .order_by(Customer.id)
        .limit(1)
    )
    return int(first) if first is not None else None


def preview(
    session: Session,
    *,
    brand_id: int,
    journey: str,
    node: str,
    template: str,
    locale: str,
    secret: str,
    public_url: str,
    recommendations_root: Path | None,
    now: datetime,
) -> Preview | None:
    """``template`` rendered in ``locale`` for a sample customer (``None``: no customer)."""
    customer_id = sample_customer(session, brand_id=brand_id, journey=journey)
    if customer_id is None:
        return None
    context = message_context(
        session,
        brand_id=brand_id,
        customer_id=customer_id,
        order_id=None,
        recommendations_root=recommendations_root,
        now=now,
    )
    context["unsubscribe_url"] = unsubscribe_url(public_url, secret, customer_id, "email")
    return Preview(
        journey=journey,
        node=node,
        template=template,
        customer_id=customer_id,
        customer_name=context["customer"]["name"] or None,
        message=packaged_template(template).render(locale, context),
    )
