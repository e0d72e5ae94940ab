"""The return writer: returns and cancellations of known orders, never beyond their total.

Used by the API ingest, the mapped importer (cancellation invoices), Olist (canceled
orders) and the generator's loader, so "returns <= order total" holds for every way in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from recompra.hub.aftersale import RETURNS
from recompra.hub.canonical import CanonicalReturn
from recompra.hub.rejects import EntityCounts
from recompra.hub.rules import return_problem
from recompra.hub.upsert import UpsertResult, upsert_rows
from recompra.models import Order, Return, ReturnItem

_RETURN_ITEMS: Table = ReturnItem.__table__  # type: ignore[assignment]

#: Called with a return that cannot be recorded, the field, its value and the reason.
OnReturnReject = Callable[[CanonicalReturn, str, str, str], None]


def order_lookup(
    session: Session, brand_id: int, source: str, externals: Sequence[str]
) -> dict[str, tuple[int, int, int]]:
    """Order id, customer id and total of each external order id of the brand."""
    out: dict[str, tuple[int, int, int]] = {}
    wanted = list(dict.fromkeys(externals))
    for start in range(0, len(wanted), 1000):
        rows = session.execute(
            select(Order.external_id, Order.id, Order.customer_id, Order.total_minor).where(
                Order.brand_id == brand_id,
                Order.source == source,
                Order.external_id.in_(wanted[start : start + 1000]),
            )
        ).all()
        out.update({str(r[0]): (int(r[1]), int(r[2]), int(r[3])) for r in rows})
    return out


def _returned_so_far(
    session: Session, brand_id: int, source: str, order_ids: list[int], resent: list[str]
) -> dict[int, int]:
    """Amounts already returned per order, leaving out the returns this batch re-sends."""
    if not order_ids:
        return {}
    returned: dict[int, int] = {}
    for start in range(0, len(order_ids), 1000):
        statement = (
            select(Return.order_id, func.sum(Return.amount_minor))
            .where(Return.order_id.in_(order_ids[start : start + 1000]))
            .where(
                ~((Return.brand_id == brand_id) & (Return.source == source))
                | Return.external_id.not_in(resent or [""])
            )
            .group_by(Return.order_id)
        )
        returned.update({int(o): int(s or 0) for o, s in session.execute(statement).all()})
    return returned


@dataclass
class ReturnsWritten:
    """Ids of the stored returns by external id, and what happened to their items."""

    ids: dict[str, int]
    items: UpsertResult | None = None


def write_returns(
    session: Session,
    *,
    brand_id: int,
    source: str,
    returns: Sequence[CanonicalReturn],
    counts: EntityCounts,
    on_reject: OnReturnReject,
) -> ReturnsWritten:
    """Check and upsert ``returns`` with their items (rejected returns are left out).

    A return needs an order of the same brand and source, and the order's returns may not
    exceed its total. Rejected returns are counted in ``counts``.
    """
    orders = order_lookup(session, brand_id, source, [r.order for r in returns])
    returned = _returned_so_far(
        session,
        brand_id,
        source,
        [o[0] for o in orders.values()],
        [r.external_id for r in returns],
    )
    rows = []
    for item in returns:
        found = orders.get(item.order)
        if found is None:
            reason = f"no order {item.order!r} from source {source!r} in this brand"
            on_reject(item, "order_id", item.order, reason)
            counts.rejected += 1
            continue
        order_pk, _, total = found
        so_far = returned.get(order_pk, 0)
        problem = return_problem(
            order=item.order, total=total, returned=so_far, amount=item.amount_minor
        )
        if problem is not None:
            on_reject(item, "amount_minor", str(item.amount_minor), problem)
            counts.rejected += 1
            continue
        returned[order_pk] = so_far + item.amount_minor
        rows.append(
            {
                "external_id": item.external_id,
                "order_id": order_pk,
                "kind": item.kind,
                "reason": item.reason,
                "amount_minor": item.amount_minor,
                "currency": item.currency,
                "created_at": item.created_at,
            }
        )
    ids = RETURNS.upsert(session, brand_id=brand_id, source=source, rows=rows, counts=counts)
    items = [
        {
            "return_id": ids[item.external_id],
            "order_item_id": line.order_item_id,
            "quantity": line.quantity,
            "amount_minor": line.amount_minor,
        }
        for item in returns
        if item.external_id in ids
        for line in item.items
    ]
    if not items:
        return ReturnsWritten(ids)
    result = upsert_rows(
        session,
        _RETURN_ITEMS,
        items,
        key=("return_id", "order_item_id"),
        compare=("quantity", "amount_minor"),
    )
    return ReturnsWritten(ids, result)
