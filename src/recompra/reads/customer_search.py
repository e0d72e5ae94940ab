"""Customer search for the dashboard's list: name, e-mail, CPF/CNPJ, phone or id; a total; sorts.

Documents and phones are stored as digits (``hub.normalize``), so the term's digits are
matched against them: ``123.456.789-09`` and ``12345678909`` find the same customer, as
do ``(11) 98765-4321`` and ``11987654321``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import ColumnElement, Select, exists, func, or_, select
from sqlalchemy.orm import Session

from recompra.models import BrandCustomer, Customer, Order
from recompra.models.segments import Segment, SegmentMember, SegmentVersion
from recompra.reads.models import CustomerSummary

CustomerSort = Literal["name", "-name", "id", "-id", "city"]
SORTS: tuple[CustomerSort, ...] = ("name", "-name", "id", "-id", "city")
#: Fewer digits than this would match most phones and documents by chance.
MIN_SEARCH_DIGITS = 4
_NON_DIGITS = re.compile(r"\D")


@dataclass(frozen=True)
class CustomerPage:
    """One page of matching customers and how many match in all."""

    total: int
    items: list[CustomerSummary]


def search_condition(term: str) -> ColumnElement[bool] | None:
    """Customers whose name or e-mail contains ``term``, or whose id, document or phone
    digits contain its digits (``None`` for a blank term)."""
    term = term.strip()
    if not term:
        return None
    like = f"%{term.lower()}%"
    conditions: list[ColumnElement[bool]] = [
        func.lower(Customer.name).like(like),
        func.lower(Customer.email).like(like),
    ]
    digits = _NON_DIGITS.sub("", term)
    if term.isdigit() and len(term) < 19:
        conditions.append(Customer.id == int(term))
    if len(digits) >= MIN_SEARCH_DIGITS:
        conditions.append(Customer.document.like(f"%{digits}%"))
        conditions.append(Customer.phone.like(f"%{digits}%"))
    return or_(*conditions)


@dataclass(frozen=True)
class LiveSegmentOption:
    """An active live segment of the brand, by id, with its current names."""

    id: int
    name_pt: str
    name_en: str


@dataclass(frozen=True)
class FilterOptions:
    """The values the dashboard's filters offer for a brand."""

    states: list[str]
    channels: list[str]
    live_segments: list[LiveSegmentOption]


def filter_options(session: Session, *, brand_id: int) -> FilterOptions:
    """The brand's customers' states and its orders' sales channels, sorted."""
    states = session.scalars(
        select(Customer.state)
        .join(BrandCustomer, BrandCustomer.customer_id == Customer.id)
        .where(BrandCustomer.brand_id == brand_id, Customer.state.is_not(None))
        .distinct()
        .order_by(Customer.state)
    )
    channels = session.scalars(
        select(Order.channel)
        .where(Order.brand_id == brand_id, Order.channel.is_not(None))
        .distinct()
        .order_by(Order.channel)
    )
    live = session.execute(
        select(Segment.id, SegmentVersion.name_pt, SegmentVersion.name_en)
        .join(
            SegmentVersion,
            (SegmentVersion.segment_id == Segment.id)
            & (SegmentVersion.version == Segment.current_version),
        )
        .where(Segment.brand_id == brand_id, Segment.status == "active")
        .order_by(SegmentVersion.name_pt, Segment.id)
    )
    return FilterOptions(
        states=[s for s in states if s],
        channels=[c for c in channels if c],
        live_segments=[LiveSegmentOption(i, pt, en) for i, pt, en in live],
    )


@dataclass(frozen=True)
class CustomerFilter:
    """Which of the brand's customers a list keeps (``None``: no condition)."""

    #: Lives in this state (UF).
    state: str | None = None
    #: Bought from the brand through this sales channel (any of their orders).
    channel: str | None = None
    #: Is a member of this live segment of the brand now.
    live_segment: int | None = None

    def conditions(self, brand_id: int) -> list[ColumnElement[bool]]:
        """The conditions on ``Customer``."""
        conditions: list[ColumnElement[bool]] = []
        if self.state is not None:
            conditions.append(Customer.state == self.state)
        if self.channel is not None:
            conditions.append(
                exists().where(
                    Order.customer_id == Customer.id,
                    Order.brand_id == brand_id,
                    Order.channel == self.channel,
                )
            )
        if self.live_segment is not None:
            conditions.append(
                exists().where(
                    SegmentMember.customer_id == Customer.id,
                    SegmentMember.segment_id == self.live_segment,
                    Segment.id == SegmentMember.segment_id,
                    Segment.brand_id == brand_id,
                )
            )
        return conditions


def _brand_customers(brand_id: int) -> Select[Customer]:
    return (
        select(Customer)
        .join(BrandCustomer, BrandCustomer.customer_id == Customer.id)
        .where(BrandCustomer.brand_id == brand_id, Customer.merged_into_id.is_(None))
    )


def find_customers(
    session: Session,
    *,
    brand_id: int,
    q: str | None,
    sort: CustomerSort = "name",
    limit: int,
    offset: int,
    who: CustomerFilter = CustomerFilter(),
) -> CustomerPage:
    """A page of the brand's customers matching ``q`` and ``who`` in ``sort`` order, with
    the total."""
    stmt = _brand_customers(brand_id).where(*who.conditions(brand_id))
    condition = search_condition(q or "")
    if condition is not None:
        stmt = stmt.where(condition)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    # Nameless customers sort last whatever the direction; the id breaks ties.
    order = {
        "name": (Customer.name.is_(None), Customer.name, Customer.id),
        "-name": (Customer.name.is_(None), Customer.name.desc(), Customer.id),
        "id": (Customer.id,),
        "-id": (Customer.id.desc(),),
        "city": (Customer.city.is_(None), Customer.city, Customer.name, Customer.id),
    }[sort]
    rows = session.execute(stmt.order_by(*order).limit(limit).offset(offset)).scalars()
    return CustomerPage(
        total=int(total),
        items=[
            CustomerSummary(id=c.id, name=c.name, email=c.email, city=c.city, state=c.state)
            for c in rows
        ],
    )
