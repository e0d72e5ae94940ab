"""Return lines matched to the purchases they give back.

A store's export often records a return or cancellation as its own invoice with a
negative quantity (``C10423``, -2 x product P), without naming the original order. Each
such line is matched to the same customer's earlier purchase lines of the same product,
most recent first, never beyond what was bought (less what earlier returns gave back).
A line that cannot be matched in full is rejected with the reason; matched lines become
returns linked to the orders and lines they give back, so net revenue and loyalty
clawbacks follow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from recompra.hub.canonical import CanonicalReturn, ReturnedItem
from recompra.hub.customers import customer_record, identities_of, lookup_identities
from recompra.hub.rejects import EntityCounts
from recompra.hub.returns import ReturnsWritten, write_returns
from recompra.models import Order, OrderItem, Product, Return, ReturnItem


@dataclass(frozen=True)
class ReturnLine:
    """One negative line: who gives back how many units of which product, and when."""

    invoice: str
    customer: dict[str, Any]
    product: str
    quantity: int
    returned_at: datetime
    kind: str
    currency: str
    original_order: str | None = None
    origin: int = 0


@dataclass
class _Bought:
    item_id: int
    order: str
    purchased_at: datetime
    line_number: int
    quantity: int
    total_minor: int
    available: int


@dataclass
class Matched:
    """What matching did: the stored returns and the lines that matched nothing."""

    written: ReturnsWritten
    unmatched: list[tuple[ReturnLine, str]]
    #: Per matched line (by origin): the (return external id, order item id) it wrote.
    parts_of_line: dict[int, list[tuple[str, int]]]


def _purchases(
    session: Session, brand_id: int, source: str, customers: set[int], products: set[str]
) -> dict[tuple[int, str], list[_Bought]]:
    """Purchase lines of these customers and products (canceled orders give nothing)."""
    rows = session.execute(
        select(
            Order.customer_id,
            Product.external_id,
            OrderItem.id,
            Order.external_id,
            Order.purchased_at,
            OrderItem.line_number,
            OrderItem.quantity,
            OrderItem.total_minor,
        )
        .join(Order, Order.id == OrderItem.order_id)
        .join(Product, Product.id == OrderItem.product_id)
        .where(
            Order.brand_id == brand_id,
            Order.source == source,
            Order.status != "canceled",
            Order.customer_id.in_(customers or {-1}),
            Product.external_id.in_(products or {""}),
        )
    ).all()
    found: dict[tuple[int, str], list[_Bought]] = {}
    for customer, product, item, order, when, number, quantity, total in rows:
        found.setdefault((int(customer), str(product)), []).append(
            _Bought(int(item), str(order), when, int(number), int(quantity), int(total), 0)
        )
    return found


def _given_back(session: Session, item_ids: list[int], resent: set[str]) -> dict[int, int]:
    """Units already returned per order line, leaving out returns this import re-sends."""
    given: dict[int, int] = {}
    for start in range(0, len(item_ids), 1000):
        rows = session.execute(
            select(ReturnItem.order_item_id, ReturnItem.quantity, Return.external_id)
            .join(Return, Return.id == ReturnItem.return_id)
            .where(ReturnItem.order_item_id.in_(item_ids[start : start + 1000]))
        ).all()
        for item, quantity, external in rows:
            if str(external) not in resent:
                given[int(item)] = given.get(int(item), 0) + int(quantity)
    return given


def _return_id(invoice: str, order: str) -> str:
    return f"{invoice}:{order}"


def match_returns(
    session: Session,
    *,
    brand_id: int,
    source: str,
    lines: Sequence[ReturnLine],
    counts: EntityCounts,
) -> Matched:
    """Match ``lines`` to purchases and write the returns (see the module docstring)."""
    people: dict[int, int | None] = {}
    wanted = {
        i: identities_of({**customer_record(line.customer, source), "source": source}, brand_id)
        for i, line in enumerate(lines)
    }
    known = lookup_identities(session, [ident for idents in wanted.values() for ident in idents])
    for i, idents in wanted.items():
        people[i] = next((known[ident] for ident in idents if ident in known), None)
    purchases = _purchases(
        session,
        brand_id,
        source,
        {c for c in people.values() if c is not None},
        {line.product for line in lines},
    )
    all_items = [b for bought in purchases.values() for b in bought]
    possible = {_return_id(line.invoice, b.order) for line in lines for b in all_items}
    given = _given_back(session, [b.item_id for b in all_items], possible)
    for bought in all_items:
        bought.available = bought.quantity - given.get(bought.item_id, 0)

    unmatched: list[tuple[ReturnLine, str]] = []
    returns: dict[str, dict[str, Any]] = {}
    parts_of_line: dict[int, list[tuple[str, int]]] = {}
    order = sorted(range(len(lines)), key=lambda i: (lines[i].returned_at, lines[i].origin))
    for i in order:
        line = lines[i]
        customer = people[i]
        bought_before = [] if customer is None else purchases.get((customer, line.product), [])
        candidates = sorted(
            (
                b
                for b in bought_before
                if b.purchased_at <= line.returned_at and b.available > 0
                if line.original_order in (None, b.order)
            ),
            key=lambda b: (b.purchased_at, b.order, -b.line_number),
            reverse=True,
        )
        if sum(b.available for b in candidates) < line.quantity:
            unmatched.append(
                (
                    line,
                    f"return of {line.quantity} unit(s) of product {line.product!r} "
                    "matches no earlier purchase by this customer",
                )
            )
            continue
        left = line.quantity
        for bought in candidates:
            if left == 0:
                break
            units = min(left, bought.available)
            bought.available -= units
            left -= units
            key = _return_id(line.invoice, bought.order)
            entry = returns.setdefault(
                key, {"line": line, "lines": [], "order": bought.order, "items": {}}
            )
            if line not in entry["lines"]:
                entry["lines"].append(line)
            amount = bought.total_minor * units // bought.quantity
            previous = entry["items"].get(bought.item_id, (0, 0))
            entry["items"][bought.item_id] = (previous[0] + units, previous[1] + amount)
            parts_of_line.setdefault(line.origin, []).append((key, bought.item_id))

    def on_reject(item: CanonicalReturn, column: str, value: str, reason: str) -> None:
        unmatched.extend((line, reason) for line in returns[item.external_id]["lines"])

    written = write_returns(
        session,
        brand_id=brand_id,
        source=source,
        returns=[
            CanonicalReturn(
                external_id=key,
                order=entry["order"],
                kind=entry["line"].kind,
                reason=f"{entry['line'].kind} invoice {entry['line'].invoice}",
                amount_minor=sum(amount for _, amount in entry["items"].values()),
                currency=entry["line"].currency,
                created_at=entry["line"].returned_at,
                items=tuple(
                    ReturnedItem(item, units, amount)
                    for item, (units, amount) in sorted(entry["items"].items())
                ),
                origin=entry["line"].origin,
            )
            for key, entry in returns.items()
        ],
        counts=counts,
        on_reject=on_reject,
    )
    return Matched(written, unmatched, parts_of_line)
