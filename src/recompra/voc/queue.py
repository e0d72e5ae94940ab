"""What the case queue shows (API, CLI and dashboard alike): cases with their two SLA
clocks, the cases about to breach, and the share of clocks met per team and agent."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from recompra.models import Customer
from recompra.models.voc import Case, CaseMessage
from recompra.voc.cases import ACTIVE, get_case, history
from recompra.voc.sla import clock_status

#: "About to breach": a running clock due within this many minutes (wall clock).
BREACH_WARNING_MINUTES = 60


@dataclass(frozen=True)
class Clock:
    """One SLA clock: its deadline, when it stopped and its status."""

    due_at: datetime | None
    done_at: datetime | None
    status: str
    #: Wall-clock minutes to the deadline (negative: overdue); ``None`` unless running.
    minutes_left: int | None


@dataclass(frozen=True)
class CaseRow:
    """A case in the queue."""

    id: int
    subject: str
    type: str
    priority: str
    channel: str
    status: str
    source: str
    owner: str | None
    team: str | None
    customer_id: int | None
    customer_name: str | None
    order_id: int | None
    opened_at: datetime
    first_response: Clock
    resolution: Clock
    resolution_reason: str | None


def clocks(case: Case, now: datetime) -> tuple[Clock, Clock]:
    """The first-response and resolution clocks of ``case`` at ``now``."""
    paused = case.status == "waiting_on_customer"

    def clock(due_at: datetime | None, done_at: datetime | None) -> Clock:
        status = clock_status(due_at=due_at, done_at=done_at, paused=paused, now=now)
        left = None
        if status in ("due", "failed") and done_at is None and due_at is not None:
            left = int((due_at - now).total_seconds() // 60)
        return Clock(due_at, done_at, status, left)

    return (
        clock(case.first_response_due_at, case.first_response_at),
        clock(case.resolution_due_at, case.resolved_at or case.closed_at),
    )


def case_row(case: Case, customer_name: str | None, now: datetime) -> CaseRow:
    """A case with its clocks."""
    first, resolution = clocks(case, now)
    return CaseRow(
        case.id,
        case.subject,
        case.type,
        case.priority,
        case.channel,
        case.status,
        case.source,
        case.owner,
        case.team,
        case.customer_id,
        customer_name,
        case.order_id,
        case.opened_at,
        first,
        resolution,
        case.resolution_reason,
    )


@dataclass(frozen=True)
class CaseFilter:
    """Which cases to list (``status`` ``active``: new, open and waiting)."""

    status: str | None = "active"
    owner: str | None = None
    team: str | None = None
    priority: str | None = None


def list_cases(
    session: Session,
    *,
    brand_id: int,
    where: CaseFilter,
    now: datetime,
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, list[CaseRow]]:
    """The cases, the nearest resolution deadline first; and how many match."""
    conditions = [Case.brand_id == brand_id]
    if where.status == "active":
        conditions.append(Case.status.in_(ACTIVE))
    elif where.status:
        conditions.append(Case.status == where.status)
    for column, value in (
        (Case.owner, where.owner),
        (Case.team, where.team),
        (Case.priority, where.priority),
    ):
        if value:
            conditions.append(column == value)
    total = session.scalar(select(func.count()).select_from(Case).where(*conditions)) or 0
    rows = session.execute(
        select(Case, Customer.name)
        .outerjoin(Customer, Customer.id == Case.customer_id)
        .where(*conditions)
        # Paused clocks (no deadline) after the running ones; then the oldest first.
        .order_by(Case.resolution_due_at.is_(None), Case.resolution_due_at, Case.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return int(total), [case_row(case, name, now) for case, name in rows]


def about_to_breach(
    session: Session, *, brand_id: int, now: datetime, within_minutes: int = BREACH_WARNING_MINUTES
) -> list[CaseRow]:
    """Active cases with a running clock due within ``within_minutes`` (not yet overdue)."""
    rows = session.execute(
        select(Case, Customer.name)
        .outerjoin(Customer, Customer.id == Case.customer_id)
        .where(Case.brand_id == brand_id, Case.status.in_(("new", "open")))
        .order_by(Case.id)
    ).all()
    warned = []
    for case, name in rows:
        row = case_row(case, name, now)
        if any(
            c.status == "due" and c.minutes_left is not None and c.minutes_left <= within_minutes
            for c in (row.first_response, row.resolution)
        ):
            warned.append(row)
    return sorted(
        warned,
        key=lambda r: min(
            c.minutes_left or 0 for c in (r.first_response, r.resolution) if c.status == "due"
        ),
    )


@dataclass(frozen=True)
class SlaMet:
    """Clocks that ended (fulfilled or failed) and the share met, for one team or agent."""

    group: str | None
    first_response_met: int
    first_response_ended: int
    first_response_rate: float | None
    resolution_met: int
    resolution_ended: int
    resolution_rate: float | None


def share(part: int, whole: int) -> float | None:
    """``part / whole``, ``None`` for an empty whole."""
    return part / whole if whole else None


def sla_met(session: Session, *, brand_id: int, by: str, now: datetime) -> list[SlaMet]:
    """% of SLA clocks met per ``team`` or ``owner`` (agent); a clock counts once it ended:
    stopped (fulfilled or failed) or past its deadline while running (failed)."""
    if by not in ("team", "owner"):
        raise ValueError(f"by must be team or owner, not {by!r}")
    counts: dict[str | None, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for case in session.scalars(select(Case).where(Case.brand_id == brand_id)):
        first, resolution = clocks(case, now)
        tally = counts[getattr(case, by)]
        for index, clock in ((0, first), (2, resolution)):
            if clock.status in ("fulfilled", "failed"):
                tally[index + 1] += 1
                tally[index] += clock.status == "fulfilled"
    return [
        SlaMet(
            group,
            tally[0],
            tally[1],
            share(tally[0], tally[1]),
            tally[2],
            tally[3],
            share(tally[2], tally[3]),
        )
        for group, tally in sorted(
            counts.items(), key=lambda item: (item[0] is None, item[0] or "")
        )
    ]


@dataclass(frozen=True)
class StatusRow:
    """One status change of a case."""

    from_status: str | None
    to_status: str
    actor: str
    at: datetime


@dataclass(frozen=True)
class MessageRow:
    """A note or a reply."""

    kind: str
    author: str
    body: str
    created_at: datetime


@dataclass(frozen=True)
class CaseDetail:
    """A case with its history and messages (oldest first)."""

    case: CaseRow
    history: list[StatusRow]
    messages: list[MessageRow]


def case_detail(session: Session, *, brand_id: int, case_id: int, now: datetime) -> CaseDetail:
    """The brand's case ``case_id`` in full (``NotFound`` otherwise)."""
    case = get_case(session, brand_id=brand_id, case_id=case_id)
    name = session.scalar(select(Customer.name).where(Customer.id == case.customer_id))
    messages = session.scalars(
        select(CaseMessage)
        .where(CaseMessage.case_id == case.id)
        .order_by(CaseMessage.created_at, CaseMessage.id)
    )
    return CaseDetail(
        case_row(case, name, now),
        [StatusRow(h.from_status, h.to_status, h.actor, h.at) for h in history(session, case.id)],
        [MessageRow(m.kind, m.author, m.body, m.created_at) for m in messages],
    )
