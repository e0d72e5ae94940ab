"""Cases: open, assign, change status, note, reply (through the automation outbox) and
resolve. Every status change is written to the history the SLA pauses are read from,
and the deadlines are recomputed from it.

Services: they take the caller's session, ``flush()`` and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from recompra.automation.consent import unsubscribe_url
from recompra.automation.messages import message_context
from recompra.automation.outbox import email_payload, record_outbox
from recompra.automation.steps import DecisionContext
from recompra.errors import Conflict, InvalidInput, NotFound
from recompra.models import BrandCustomer, Customer, Order
from recompra.models.voc import (
    CASE_CHANNELS,
    CASE_PRIORITIES,
    CASE_TYPES,
    Case,
    CaseMessage,
    CaseStatusChange,
)
from recompra.voc.policies import Targets, brand_policies, refresh_deadlines, targets_for

#: Which status may follow which (a resolved case may be reopened; closed is final).
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("open", "waiting_on_customer", "resolved", "closed"),
    "open": ("waiting_on_customer", "resolved", "closed"),
    "waiting_on_customer": ("open", "resolved", "closed"),
    "resolved": ("open", "closed"),
    "closed": (),
}
ACTIVE = ("new", "open", "waiting_on_customer")


@dataclass(frozen=True)
class NewCase:
    """What opening a case takes (links are optional)."""

    type: str
    priority: str
    channel: str
    subject: str
    source: str = "agent"
    customer_id: int | None = None
    order_id: int | None = None
    owner: str | None = None
    team: str | None = None
    feedback_at: datetime | None = None
    review_id: int | None = None
    survey_answer_id: int | None = None


def _check(new: NewCase) -> None:
    for field, value, known in (
        ("type", new.type, CASE_TYPES),
        ("priority", new.priority, CASE_PRIORITIES),
        ("channel", new.channel, CASE_CHANNELS),
    ):
        if value not in known:
            raise InvalidInput(f"{field} must be one of {', '.join(known)}", field=field)
    if not new.subject.strip():
        raise InvalidInput("a case needs a subject", field="subject")


def _check_links(session: Session, brand_id: int, new: NewCase) -> None:
    if new.customer_id is not None and (
        session.scalar(
            select(BrandCustomer.customer_id).where(
                BrandCustomer.brand_id == brand_id, BrandCustomer.customer_id == new.customer_id
            )
        )
        is None
    ):
        raise NotFound(f"customer {new.customer_id} not found", field="customer_id")
    if new.order_id is not None:
        order = session.get(Order, new.order_id)
        if order is None or order.brand_id != brand_id:
            raise NotFound(f"order {new.order_id} not found", field="order_id")


def open_case(
    session: Session,
    *,
    brand_id: int,
    new: NewCase,
    actor: str,
    now: datetime,
) -> Case:
    """Open a case (status ``new``) with its SLA deadlines, after checking its values
    and that its customer and order are the brand's."""
    _check(new)
    _check_links(session, brand_id, new)
    return insert_case(session, brand_id=brand_id, new=new, actor=actor, now=now)


def insert_case(
    session: Session,
    *,
    brand_id: int,
    new: NewCase,
    actor: str,
    now: datetime,
    targets: Targets | None = None,
) -> Case:
    """Write a case whose values are known good (the feedback job's own).

    ``targets`` spares the policy lookup when a job opens many cases at once.
    """
    case = Case(
        brand_id=brand_id,
        type=new.type,
        priority=new.priority,
        channel=new.channel,
        subject=new.subject.strip()[:300],
        source=new.source,
        customer_id=new.customer_id,
        order_id=new.order_id,
        owner=new.owner,
        team=new.team,
        review_id=new.review_id,
        survey_answer_id=new.survey_answer_id,
        feedback_at=new.feedback_at,
        status="new",
        opened_at=now,
        updated_at=now,
    )
    session.add(case)
    session.flush()
    change = CaseStatusChange(
        case_id=case.id, from_status=None, to_status="new", actor=actor, at=now
    )
    session.add(change)
    if targets is None:
        targets = _targets(session, case)
    refresh_deadlines(case, targets, [change])
    session.flush()
    return case


def _targets(session: Session, case: Case) -> Targets:
    return targets_for(
        brand_policies(session, brand_id=case.brand_id),
        priority=case.priority,
        case_type=case.type,
        channel=case.channel,
    )


def get_case(session: Session, *, brand_id: int, case_id: int, lock: bool = False) -> Case:
    """The brand's case ``case_id`` (``NotFound`` otherwise); ``lock`` for a change."""
    statement = select(Case).where(Case.id == case_id, Case.brand_id == brand_id)
    case = session.scalar(statement.with_for_update() if lock else statement)
    if case is None:
        raise NotFound(f"case {case_id} not found", field="case_id")
    return case


def history(session: Session, case_id: int) -> list[CaseStatusChange]:
    """The case's status changes, oldest first."""
    return list(
        session.scalars(
            select(CaseStatusChange)
            .where(CaseStatusChange.case_id == case_id)
            .order_by(CaseStatusChange.at, CaseStatusChange.id)
        )
    )


def change_status(
    session: Session,
    *,
    case: Case,
    to: str,
    actor: str,
    now: datetime,
    reason: str | None = None,
) -> Case:
    """Move ``case`` to ``to`` (``Conflict`` if the transition is not allowed)."""
    if to not in TRANSITIONS:
        raise InvalidInput(f"status must be one of {', '.join(TRANSITIONS)}", field="status")
    if to not in TRANSITIONS[case.status]:
        raise Conflict(f"a {case.status} case cannot become {to}")
    if to == "resolved":
        if not (reason or "").strip():
            raise InvalidInput("resolving a case needs a resolution reason", field="reason")
        case.resolved_at, case.resolution_reason = now, (reason or "").strip()[:300]
    elif to == "closed":
        case.closed_at = now
    elif case.status == "resolved":
        case.resolved_at, case.resolution_reason = None, None  # reopened: the clock runs again
    session.add(
        CaseStatusChange(
            case_id=case.id, from_status=case.status, to_status=to, actor=actor, at=now
        )
    )
    case.status, case.updated_at = to, now
    session.flush()
    refresh_deadlines(case, _targets(session, case), history(session, case.id))
    session.flush()
    return case


def resolve(session: Session, *, case: Case, reason: str, actor: str, now: datetime) -> Case:
    """Resolve with a reason (stops the resolution clock)."""
    return change_status(session, case=case, to="resolved", actor=actor, now=now, reason=reason)


def assign(
    session: Session, *, case: Case, owner: str | None, team: str | None, now: datetime
) -> Case:
    """Give the case an owner and/or a team (``None`` keeps the current one)."""
    if owner is None and team is None:
        raise InvalidInput("name an owner or a team", field="owner")
    if owner is not None:
        case.owner = owner.strip()[:320] or None
    if team is not None:
        case.team = team.strip()[:64] or None
    case.updated_at = now
    session.flush()
    return case


def add_note(session: Session, *, case: Case, author: str, body: str, now: datetime) -> CaseMessage:
    """An internal note (never shown to the customer)."""
    return _message(session, case, "note", author, body, now)


def _message(
    session: Session, case: Case, kind: str, author: str, body: str, now: datetime
) -> CaseMessage:
    if not body.strip():
        raise InvalidInput("the message is empty", field="body")
    message = CaseMessage(
        case_id=case.id, kind=kind, author=author, body=body.strip(), created_at=now
    )
    session.add(message)
    case.updated_at = now
    session.flush()
    return message


def reply(
    session: Session,
    *,
    case: Case,
    author: str,
    body: str,
    links: DecisionContext,
    now: datetime,
) -> CaseMessage:
    """A reply to the customer: written to the automation outbox (the worker sends it)
    as a transactional e-mail. The first reply stops the first-response clock; a ``new``
    case becomes ``open``."""
    if case.status == "closed":
        raise Conflict("a closed case takes no replies")
    customer = session.get(Customer, case.customer_id) if case.customer_id is not None else None
    if customer is None or not customer.email:
        raise InvalidInput("the case has no customer with an e-mail address", field="case_id")
    message = _message(session, case, "reply", author, body, now)
    context = message_context(
        session,
        brand_id=case.brand_id,
        customer_id=customer.id,
        order_id=case.order_id,
        recommendations_root=None,
        now=now,
    )
    context["unsubscribe_url"] = unsubscribe_url(
        links.public_url, links.secret, customer.id, "email"
    )
    context["case"] = {"id": case.id, "subject": case.subject}
    context["reply"] = {"body": message.body}
    key = f"case:{case.id}:reply:{message.id}"
    record_outbox(
        session,
        brand_id=case.brand_id,
        run_id=None,
        customer_id=customer.id,
        execution_key=key,
        channel="email",
        purpose="transactional",
        state="pending",
        payload={**email_payload("case_reply", customer, context), "case": case.id},
        now=now,
    )
    message.outbox_key = key
    if case.first_response_at is None:
        case.first_response_at = now
    if case.status == "new":
        change_status(session, case=case, to="open", actor=author, now=now)
    else:
        refresh_deadlines(case, _targets(session, case), history(session, case.id))
    session.flush()
    return message
