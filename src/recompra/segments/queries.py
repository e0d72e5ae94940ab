"""Segment reads: lists, versions, members (paged), per-customer history, the event feed
and the preview of a definition that is not saved yet."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from recompra.db.commit_order import Position, insertion_stamp, read_after
from recompra.models import BrandCustomer, Customer, Order
from recompra.models.base import utcnow
from recompra.models.segments import (
    Segment,
    SegmentMember,
    SegmentMembershipEvent,
    SegmentVersion,
)
from recompra.segments.compile import compile_rule
from recompra.segments.definition import Node
from recompra.segments.purchases import BRAND, CUSTOMER_IDS, NOW, net_value, purchase_filter
from recompra.segments.service import get_segment

EXPORT_CHUNK = 5_000


@dataclass(frozen=True)
class SegmentSummary:
    """A segment as listed: key, names, status, version in force and size."""

    key: str
    name_pt: str
    name_en: str
    status: str
    version: int
    members: int
    evaluated_at: datetime | None
    updated_at: datetime


@dataclass(frozen=True)
class MemberRow:
    """A customer with the profile fields an export or a page shows, and, for a member,
    the version that put them in and when (``None`` in a preview)."""

    customer_id: int
    name: str | None
    email: str | None
    phone: str | None
    state: str | None
    city: str | None
    version: int | None
    entered_at: datetime | None
    orders: int = 0
    net_revenue_minor: int = 0


@dataclass(frozen=True)
class MembershipEventRow:
    """One entry or exit, as the feed and the customer history show it."""

    id: int
    segment_key: str
    customer_id: int
    type: str
    version: int
    occurred_at: datetime


@dataclass(frozen=True)
class Preview:
    """Size and value of a definition now, and a sample of who would be in it."""

    members: int
    customers: int
    customer_share: float | None
    revenue_minor: int
    total_revenue_minor: int
    revenue_share: float | None
    sample: list[MemberRow]


def list_segments(
    session: Session, *, brand_id: int, include_archived: bool = False, key: str | None = None
) -> list[SegmentSummary]:
    """The brand's segments (or the one ``key``) by key, with their names in force."""
    query = (
        select(Segment, SegmentVersion.name_pt, SegmentVersion.name_en)
        .join(
            SegmentVersion,
            (SegmentVersion.segment_id == Segment.id)
            & (SegmentVersion.version == Segment.current_version),
        )
        .where(Segment.brand_id == brand_id)
        .order_by(Segment.key)
    )
    if not include_archived:
        query = query.where(Segment.status == "active")
    if key is not None:
        query = query.where(Segment.key == key)
    return [
        SegmentSummary(
            s.key,
            pt,
            en,
            s.status,
            s.current_version,
            s.member_count,
            s.evaluated_at,
            s.updated_at,
        )
        for s, pt, en in session.execute(query)
    ]


def versions_of(session: Session, segment: Segment) -> list[SegmentVersion]:
    """Every version of ``segment``, oldest first."""
    return list(
        session.scalars(
            select(SegmentVersion)
            .where(SegmentVersion.segment_id == segment.id)
            .order_by(SegmentVersion.version)
        )
    )


def members_page(
    session: Session,
    *,
    brand_id: int,
    key: str,
    limit: int,
    offset: int,
    state: str | None = None,
    version: int | None = None,
) -> tuple[int, list[MemberRow]]:
    """``(total, rows)`` of the segment's members by customer id, optionally filtered."""
    segment = get_segment(session, brand_id=brand_id, key=key)
    filters: list[Any] = [SegmentMember.segment_id == segment.id]
    if state is not None:
        filters.append(Customer.state == state)
    if version is not None:
        filters.append(SegmentMember.version == version)
    base = select(SegmentMember.customer_id).join(
        Customer, Customer.id == SegmentMember.customer_id
    )
    total = session.scalar(select(func.count()).select_from(base.where(*filters).subquery()))
    ids = list(
        session.scalars(
            base.where(*filters).order_by(SegmentMember.customer_id).limit(limit).offset(offset)
        )
    )
    return int(total or 0), member_rows(session, brand_id=brand_id, segment=segment, ids=ids)


def member_rows(
    session: Session, *, brand_id: int, segment: Segment | None, ids: list[int]
) -> list[MemberRow]:
    """Profile, membership and purchase totals of ``ids`` (in the order given)."""
    if not ids:
        return []
    refunds, net = net_value(subset=True)
    params = {BRAND: brand_id, NOW: utcnow(), CUSTOMER_IDS: ids}
    totals = {
        row.customer_id: (int(row.orders), int(row.net or 0))
        for row in session.execute(
            select(Order.customer_id, func.count().label("orders"), func.sum(net).label("net"))
            .select_from(Order)
            .outerjoin(refunds, refunds.c.order_id == Order.id)
            .where(*purchase_filter(bindparam(BRAND), subset=True))
            .group_by(Order.customer_id),
            params,
        )
    }
    membership: dict[int, tuple[int | None, datetime | None]] = {}
    if segment is not None:
        membership = {
            m.customer_id: (m.version, m.entered_at)
            for m in session.scalars(
                select(SegmentMember).where(
                    SegmentMember.segment_id == segment.id, SegmentMember.customer_id.in_(ids)
                )
            )
        }
    people = {c.id: c for c in session.scalars(select(Customer).where(Customer.id.in_(ids)))}
    rows = []
    for customer_id in ids:
        person = people[customer_id]
        version, entered = membership.get(customer_id, (None, None))
        orders, revenue = totals.get(customer_id, (0, 0))
        rows.append(
            MemberRow(
                customer_id,
                person.name,
                person.email,
                person.phone,
                person.state,
                person.city,
                version,
                entered,
                orders,
                revenue,
            )
        )
    return rows


def iter_members(session: Session, *, brand_id: int, key: str) -> Iterator[MemberRow]:
    """Every member of the segment by customer id, read in chunks (for exports)."""
    segment = get_segment(session, brand_id=brand_id, key=key)
    after = 0
    while True:
        ids = list(
            session.scalars(
                select(SegmentMember.customer_id)
                .where(SegmentMember.segment_id == segment.id, SegmentMember.customer_id > after)
                .order_by(SegmentMember.customer_id)
                .limit(EXPORT_CHUNK)
            )
        )
        if not ids:
            return
        yield from member_rows(session, brand_id=brand_id, segment=segment, ids=ids)
        after = ids[-1]


def customer_history(
    session: Session, *, brand_id: int, customer_id: int
) -> list[MembershipEventRow]:
    """Every entry and exit of the customer in the brand's segments, oldest first."""
    return _events(
        session,
        SegmentMembershipEvent.brand_id == brand_id,
        SegmentMembershipEvent.customer_id == customer_id,
    )


@dataclass(frozen=True)
class MembershipEventPage:
    """A page of the brand's entry/exit feed, oldest first, and the opaque cursor to ask
    for the next page with (the same cursor when the page is empty: ask again later)."""

    events: list[MembershipEventRow]
    cursor: str


def events_since(
    session: Session, *, brand_id: int, after: Position, limit: int = 500
) -> MembershipEventPage:
    """The brand's membership events past ``after`` in commit-safe order (see
    :mod:`recompra.db.commit_order`: on PostgreSQL an event whose transaction commits
    late is still returned, after the ones already read, and none twice)."""
    event = SegmentMembershipEvent
    rows, last = read_after(
        session,
        select(
            event.id, Segment.key, event.customer_id, event.type, event.version, event.occurred_at
        )
        .join(Segment, Segment.id == event.segment_id)
        .where(event.brand_id == brand_id),
        id_column=event.id,
        stamp=insertion_stamp(session, event.xact_id),
        position=after,
        limit=limit,
    )
    return MembershipEventPage([MembershipEventRow(*row) for row in rows], last.encode())


def recent_events(
    session: Session, *, brand_id: int, key: str, limit: int = 20
) -> list[MembershipEventRow]:
    """The segment's latest entries and exits, newest first."""
    segment = get_segment(session, brand_id=brand_id, key=key)
    newest = (
        select(SegmentMembershipEvent.id)
        .where(SegmentMembershipEvent.segment_id == segment.id)
        .order_by(SegmentMembershipEvent.id.desc())
        .limit(limit)
    )
    rows = _events(session, SegmentMembershipEvent.id.in_(newest.scalar_subquery()))
    return rows[::-1]


def customer_names(session: Session, ids: set[int]) -> dict[int, str | None]:
    """The names of ``ids`` (``None`` for a customer without one, or erased)."""
    if not ids:
        return {}
    return {
        int(customer_id): name
        for customer_id, name in session.execute(
            select(Customer.id, Customer.name).where(Customer.id.in_(ids))
        )
    }


def _events(session: Session, *filters: Any, limit: int | None = None) -> list[MembershipEventRow]:
    query = (
        select(SegmentMembershipEvent, Segment.key)
        .join(Segment, Segment.id == SegmentMembershipEvent.segment_id)
        .where(*filters)
        .order_by(SegmentMembershipEvent.id)
        .limit(limit)
    )
    return [
        MembershipEventRow(e.id, key, e.customer_id, e.type, e.version, e.occurred_at)
        for e, key in session.execute(query)
    ]


def preview(
    session: Session,
    *,
    brand_id: int,
    rule: Node,
    now: datetime | None = None,
    sample: int = 20,
) -> Preview:
    """What a rule would select now: count, shares of customers and revenue, a sample."""
    now = now or utcnow()
    query = compile_rule(rule)
    params = query.params(brand_id=brand_id, now=now)
    matched = query.statement.subquery("matched")
    members = int(session.scalar(select(func.count()).select_from(matched), params) or 0)
    customers = int(
        session.scalar(
            select(func.count())
            .select_from(BrandCustomer)
            .join(Customer, Customer.id == BrandCustomer.customer_id)
            .where(BrandCustomer.brand_id == brand_id, Customer.merged_into_id.is_(None))
        )
        or 0
    )
    refunds, net = net_value(subset=False)
    revenue = (
        select(func.coalesce(func.sum(net), 0))
        .select_from(Order)
        .outerjoin(refunds, refunds.c.order_id == Order.id)
        .where(*purchase_filter(bindparam(BRAND), subset=False))
    )
    total_revenue = int(session.scalar(revenue, params) or 0)
    member_revenue = int(
        session.scalar(revenue.where(Order.customer_id.in_(select(matched.c.customer_id))), params)
        or 0
    )
    ids = list(
        session.scalars(
            select(matched.c.customer_id).order_by(matched.c.customer_id).limit(sample), params
        )
    )
    return Preview(
        members=members,
        customers=customers,
        customer_share=members / customers if customers else None,
        revenue_minor=member_revenue,
        total_revenue_minor=total_revenue,
        revenue_share=member_revenue / total_revenue if total_revenue else None,
        sample=member_rows(session, brand_id=brand_id, segment=None, ids=ids),
    )
