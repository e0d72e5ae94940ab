"""Writing the outbox: the one place a decided message becomes a row the delivery sends.

Journeys write here when they decide a send; cases (replies) and surveys sent outside a
journey write here too, so every message leaves through the same delivery, consent check
and retry rules. The execution key is unique: writing the same decision twice adds nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, TypedDict, Unpack

from sqlalchemy.orm import Session

from recompra.automation.messages import packaged_template
from recompra.db.dialect import insert_ignoring_conflicts
from recompra.models.automation import OUTBOX


class Addressee(Protocol):
    """Whom an e-mail goes to: a customer row, or the fields a decision batch read."""

    @property
    def email(self) -> str | None: ...

    @property
    def locale(self) -> str | None: ...


class OutboxFields(TypedDict):
    """What a decided message's outbox row is made of."""

    brand_id: int
    run_id: int | None
    customer_id: int
    execution_key: str
    channel: str
    purpose: str
    state: str
    payload: dict[str, Any]
    now: datetime


def outbox_row(**fields: Unpack[OutboxFields]) -> dict[str, Any]:
    """The values of a new outbox row (due for delivery at once)."""
    now = fields["now"]
    values: dict[str, Any] = {k: v for k, v in fields.items() if k != "now"}
    return {**values, "attempts": 0, "decided_at": now, "next_attempt_at": now}


def record_outbox(session: Session, **fields: Unpack[OutboxFields]) -> bool:
    """One outbox row for ``execution_key``; ``False`` when it was already written."""
    inserted = session.execute(
        insert_ignoring_conflicts(
            session, OUTBOX, index_elements=("execution_key",), returning="id"
        ),
        outbox_row(**fields),
    ).scalar()
    return inserted is not None


def email_payload(
    template: str, customer: Addressee | None, context: dict[str, Any]
) -> dict[str, Any]:
    """An e-mail outbox payload: ``template`` rendered in the customer's language.

    ``context`` carries ``unsubscribe_url`` (every message offers the one-click link).
    """
    locale = customer.locale if customer is not None and customer.locale else "pt-BR"
    message = packaged_template(template).render(locale, context)
    return {
        "to": customer.email if customer is not None else None,
        "subject": message.subject,
        "text": message.text,
        "html": message.html,
        "unsubscribe_url": context["unsubscribe_url"],
    }
