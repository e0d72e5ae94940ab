"""Deciding a due timer: walk the run's graph from the timer's node until it waits or
ends, writing outbox rows, loyalty credits and the next timers in the caller's
transaction (so a crash loses or repeats nothing: the whole decision commits or not).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from recompra.automation.actions import give_coupon, run_coupon, until_date
from recompra.automation.batch import DecisionBatch, Recipient
from recompra.automation.caps import capped
from recompra.automation.claim import ClaimedRun, DueTimer
from recompra.automation.consent import unsubscribe_url
from recompra.automation.definition import ORDER_STAGE_EXITS, parse_duration
from recompra.automation.outbox import email_payload, outbox_row
from recompra.automation.runs import execution_key
from recompra.automation.schedule import (
    ContactPolicy,
    in_holdout,
    quiet_until,
    split_branch,
    wait_until,
)
from recompra.automation.surveys import survey_context
from recompra.automation.targeting_gate import skipped_by_targeting
from recompra.automation.tracking import track_html, track_text
from recompra.hub.properties import set_property
from recompra.loyalty.operations.adjust import adjust
from recompra.loyalty.programs import active_program_for_brand
from recompra.segments.compiled import compiled
from recompra.segments.live import reevaluate_properties


@dataclass
class DecisionContext:
    """What deciding needs besides the database: policy, links, templates' data sources."""

    policy: ContactPolicy = field(default_factory=ContactPolicy)
    secret: str = "recompra-development-secret-change-me"
    public_url: str = "http://127.0.0.1:8000"
    recommendations_root: Path | None = None
    require_opt_in: bool = False


@dataclass
class Journeyed:
    """A run with its journey's brand, key and the definition of its version."""

    run: ClaimedRun
    brand_id: int
    journey_key: str
    document: dict[str, Any]


def decide(
    session: Session,
    timer: DueTimer,
    item: Journeyed,
    ctx: DecisionContext,
    now: datetime,
    batch: DecisionBatch,
) -> None:
    """Decide ``timer``'s node and every instant node after it."""
    run = item.run
    timer.state, timer.done_at = "done", now
    if run.state != "active":
        return
    # Any timer of the run firing (a wait_for_event's timeout included) means it no
    # longer waits for an event: a late event must not start a second path.
    run.waiting_for = None
    nodes = item.document["nodes"]
    name: str | None = timer.node
    while name is not None:
        node = nodes[name]
        run.node = name
        kind = node["type"]
        if kind == "wait":
            batch.schedule(run, node["next"], _wait_end(session, item, node, now))
            return
        if kind == "wait_for_event":
            run.waiting_for = node["event"]
            due = now + parse_duration(node["timeout"])
            batch.schedule(run, node["timeout_next"], due, reason="timeout")
            return
        if kind == "exit":
            # The path is acyclic and single: the run has no other pending timer.
            run.state, run.exit_reason, run.finished_at = "completed", "exit", now
            return
        if kind == "condition":
            name = node["then"] if _matches(session, item, node["rule"], now) else node["else"]
        elif kind == "split":
            weights = [b["weight"] for b in node["branches"]]
            index = split_branch(item.journey_key, name, run.customer_id, weights)
            name = node["branches"][index]["next"]
        elif kind == "holdout":
            run.holdout = in_holdout(item.journey_key, run.customer_id, node["percent"])
            name = node["next"]
        elif kind == "give_points":
            if not _held_out(batch, item, name, "points", {"points": node["points"]}, now):
                batch.hold_customers()  # every customer of the batch, lower id first
                _give_points(session, item, name, node, now)
            name = node["next"]
        elif kind == "coupon":
            if not _held_out(batch, item, name, "coupon", {"pool": node["pool"]}, now):
                batch.hold_customers()
                _coupon(session, item, name, node, now)
            name = node["next"]
        elif kind == "update_property":
            batch.hold_customers()
            _update_property(session, item, name, node, now, batch)
            name = node["next"]
        elif stage := _order_left(item, batch):
            # Checked before every send: the run's order reached a stage the journey
            # exits on (canceled, returned...) after the stage feed was last read.
            run.state, run.exit_reason, run.finished_at = "exited", stage, now
            return
        else:
            deferral = _send(session, item, name, node, ctx, now, batch)
            if deferral is not None:
                _defer(batch, timer, run, name, *deferral)
                return
            name = node["next"]


def _wait_end(session: Session, item: Journeyed, node: dict[str, Any], now: datetime) -> datetime:
    """When a wait ends: its duration and window, and not before its date property."""
    timezone = item.document["timezone"]
    due = wait_until(node, now, timezone) if "duration" in node else now
    if "until" not in node:
        return due
    until = until_date(
        session,
        brand_id=item.brand_id,
        customer_id=item.run.customer_id,
        order_id=item.run.order_id,
        until=node["until"],
        timezone=timezone,
        now=now,
    )
    return max(due, until)


def _order_left(item: Journeyed, batch: DecisionBatch) -> str | None:
    """The order stage the run's order reached that the journey exits on, if any (runs
    keyed by order only, of journeys with such exit conditions only)."""
    exits = {c["type"] for c in item.document["exit_when"]} & set(ORDER_STAGE_EXITS)
    if not exits or item.run.order_id is None:
        return None
    reached = [s for s in batch.order_stages(item.run.order_id) if s in exits]
    return reached[0] if reached else None


def _held_out(
    batch: DecisionBatch,
    item: Journeyed,
    name: str,
    channel: str,
    detail: dict[str, Any],
    now: datetime,
) -> bool:
    """For a holdout member, record what the node would have given instead of giving it
    (the "would have sent" record); ``False`` for everyone else."""
    if not item.run.holdout:
        return False
    payload = {**detail, "would_have_sent": True}
    _record(batch, item, name, channel, "marketing", "held_out", payload, now)
    return True


def _coupon(
    session: Session, item: Journeyed, name: str, node: dict[str, Any], now: datetime
) -> None:
    run = item.run
    give_coupon(
        session,
        brand_id=item.brand_id,
        run_id=run.id,
        customer_id=run.customer_id,
        execution_key=execution_key(run, name),
        node=node,
        now=now,
    )


def _update_property(
    session: Session,
    item: Journeyed,
    name: str,
    node: dict[str, Any],
    now: datetime,
    batch: DecisionBatch,
) -> None:
    prop = node["property"]
    written = set_property(
        session,
        brand_id=item.brand_id,
        customer_id=item.run.customer_id,
        name=prop,
        value=node.get("set"),
        increment=node.get("increment"),
        now=now,
    )
    if written is None:
        # A new name past the customer's property limit is not written; the run goes on,
        # and the journeys page counts why (a suppressed record, never delivered).
        payload = {"node": name, "reason": "property_limit", "property": prop}
        _record(batch, item, name, "property", "marketing", "suppressed", payload, now)
        return
    # Live segments testing the property move in the decision's transaction.
    reevaluate_properties(session, item.brand_id, item.run.customer_id, [prop], now=now)


def _matches(session: Session, item: Journeyed, rule: dict[str, Any], now: datetime) -> bool:
    query = compiled(rule, subset=True)
    params = query.params(brand_id=item.brand_id, now=now, customer_ids=[item.run.customer_id])
    return session.execute(query.statement, params).first() is not None


def _defer(
    batch: DecisionBatch, timer: DueTimer, run: ClaimedRun, node: str, due: datetime, reason: str
) -> None:
    """Retry ``node`` at ``due``: the same timer when it is this node's, else a new one.

    ``reason`` (``cap`` or ``quiet_hours``) stays on the timer: the journeys page counts
    the customers held back by each.
    """
    if timer.node == node:
        timer.state, timer.done_at, timer.due_at, timer.reason = "pending", None, due, reason
    else:
        batch.schedule(run, node, due, reason=reason)


def _record(
    batch: DecisionBatch,
    item: Journeyed,
    node: str,
    channel: str,
    purpose: str,
    state: str,
    payload: dict[str, Any],
    now: datetime,
) -> None:
    """One outbox row for the node's execution key, written with the batch's."""
    batch.record(
        outbox_row(
            brand_id=item.brand_id,
            run_id=item.run.id,
            customer_id=item.run.customer_id,
            execution_key=execution_key(item.run, node),
            channel=channel,
            purpose=purpose,
            state=state,
            payload=payload,
            now=now,
        ),
        journey_id=item.run.journey_id,
    )


def _give_points(
    session: Session, item: Journeyed, name: str, node: dict[str, Any], now: datetime
) -> None:
    run = item.run
    program = active_program_for_brand(session, brand_id=item.brand_id)
    if program is None:
        return
    adjust(
        session,
        program_id=program.id,
        customer_id=run.customer_id,
        points=node["points"],
        request_key=f"journey:{execution_key(run, name)}",
        reason=f"journey {item.journey_key}",
        now=now,
    )


def _send(
    session: Session,
    item: Journeyed,
    name: str,
    node: dict[str, Any],
    ctx: DecisionContext,
    now: datetime,
    batch: DecisionBatch,
) -> tuple[datetime, str] | None:
    """Decide a send; return when to try again, and why, if a cap or quiet hours defer it."""
    run = item.run
    channel, purpose = node["channel"], node["purpose"]
    marketing = purpose == "marketing"
    if marketing and not run.holdout:
        quiet_end = quiet_until(ctx.policy, now)
        if quiet_end is not None:
            return quiet_end, "quiet_hours"
    customer = batch.recipient(run.customer_id)
    reachable = channel != "email" or bool(customer is not None and customer.email)
    allowed = reachable and batch.may_contact(
        run.customer_id, channel, purpose, require_opt_in=ctx.require_opt_in
    )
    if not allowed:
        payload = {"node": name, "reason": "consent"}
        _record(batch, item, name, channel, purpose, "suppressed", payload, now)
        return None
    if marketing and skipped_by_targeting(batch.uplift(run.journey_id, run.customer_id)):
        payload = {"node": name, "reason": "targeting"}
        _record(batch, item, name, channel, purpose, "suppressed", payload, now)
        return None
    if marketing and not run.holdout:
        held = capped(
            ctx.policy,
            item.document,
            run.journey_id,
            channel,
            batch.sent(run.customer_id, channel),
            now,
        )
        if held is not None:
            if node["on_cap"] == "skip":
                # Recorded as suppressed (not counted by caps, never delivered), with
                # its reason, so that the journeys page can tell skips from consent.
                payload = {"node": name, "reason": "cap", "cap": held.kind}
                _record(batch, item, name, channel, purpose, "suppressed", payload, now)
                return None
            # The next allowed slot: once the caps allow it, outside quiet hours.
            return quiet_until(ctx.policy, held.until) or held.until, held.reason
    payload = _payload(session, item, node, ctx, now, customer, batch)
    state = "held_out" if run.holdout else "pending"
    _record(batch, item, name, channel, purpose, state, payload, now)
    return None


def _payload(
    session: Session,
    item: Journeyed,
    node: dict[str, Any],
    ctx: DecisionContext,
    now: datetime,
    customer: Recipient | None,
    batch: DecisionBatch,
) -> dict[str, Any]:
    context = batch.context(item.brand_id, item.run.customer_id, item.run.order_id)
    context["unsubscribe_url"] = unsubscribe_url(
        ctx.public_url, ctx.secret, item.run.customer_id, node["channel"]
    )
    gives_coupons = any(n["type"] == "coupon" for n in item.document["nodes"].values())
    context["coupon"] = run_coupon(session, item.run.id) if gives_coupons else None
    if node["channel"] == "webhook":
        return {
            "endpoint": node["endpoint"],
            "body": {
                "type": "journey.message",
                "journey": item.journey_key,
                "customer": context["customer"],
                "order": context["order"]
                and {**context["order"], "purchased_at": str(context["order"]["purchased_at"])},
                "points": context["points"]
                and {**context["points"], "expires_at": str(context["points"]["expires_at"])},
                "tier": context["tier"],
                "properties": context["properties"],
                "recommendations": context["recommendations"],
            },
        }
    if node.get("survey"):
        context["survey"] = survey_context(
            session,
            brand_id=item.brand_id,
            customer_id=item.run.customer_id,
            order_id=item.run.order_id,
            kind=node["survey"],
            origin_key=execution_key(item.run, item.run.node),
            secret=ctx.secret,
            public_url=ctx.public_url,
            now=now,
        )
    payload = email_payload(node["template"], customer, context)
    links = {
        "public_url": ctx.public_url,
        "secret": ctx.secret,
        "execution_key": execution_key(item.run, item.run.node),
    }
    payload["html"] = track_html(payload["html"], **links)
    payload["text"] = track_text(payload["text"], **links)
    return {**payload, "journey": item.journey_key}
