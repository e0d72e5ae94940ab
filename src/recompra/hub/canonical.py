"""The canonical order: what every way in (API, Olist, mapped files, generator) hands the hub.

Values are already parsed and typed: money in integer minor units, timestamps aware UTC,
the status one of :class:`OrderStatus`. Importers parse their format into these objects;
:mod:`recompra.hub.rules` checks them and :mod:`recompra.hub.orders` writes them.
``origin`` fields carry where a value came from (a file line, a position in a request),
so that a problem found later is reported against the caller's own coordinates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from recompra.hub.customers import customer_record


class OrderStatus(StrEnum):
    """Normalised order status (the words of ``recompra.snapshot.schema.ORDER_STATUSES``)."""

    CREATED = "created"
    APPROVED = "approved"
    INVOICED = "invoiced"
    PROCESSING = "processing"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELED = "canceled"
    UNAVAILABLE = "unavailable"
    RETURNED = "returned"


#: Status words understood without a mapping's ``status_map`` (pt-BR and en; empty means
#: the source has no status: a delivered sale).
STATUS_WORDS: dict[str, OrderStatus] = {
    "": OrderStatus.DELIVERED,
    "criado": OrderStatus.CREATED,
    "created": OrderStatus.CREATED,
    "pendente": OrderStatus.CREATED,
    "pending": OrderStatus.CREATED,
    "aprovado": OrderStatus.APPROVED,
    "pago": OrderStatus.APPROVED,
    "paid": OrderStatus.APPROVED,
    "approved": OrderStatus.APPROVED,
    "faturado": OrderStatus.INVOICED,
    "invoiced": OrderStatus.INVOICED,
    "processando": OrderStatus.PROCESSING,
    "processing": OrderStatus.PROCESSING,
    "enviado": OrderStatus.SHIPPED,
    "shipped": OrderStatus.SHIPPED,
    "entregue": OrderStatus.DELIVERED,
    "delivered": OrderStatus.DELIVERED,
    "completed": OrderStatus.DELIVERED,
    "concluido": OrderStatus.DELIVERED,
    "cancelado": OrderStatus.CANCELED,
    "canceled": OrderStatus.CANCELED,
    "cancelled": OrderStatus.CANCELED,
    "indisponivel": OrderStatus.UNAVAILABLE,
    "unavailable": OrderStatus.UNAVAILABLE,
    "devolvido": OrderStatus.RETURNED,
    "returned": OrderStatus.RETURNED,
}


@dataclass(frozen=True, slots=True)
class OrderLine:
    """One line of an order.

    ``product`` is the store's product id; the writer resolves it to the catalogue, using
    ``product_name``/``category`` to describe the product when the source has no catalogue
    file. ``total`` of a line is ``quantity * unit_price_minor - discount_minor``.
    """

    line_number: int
    product: str
    quantity: int
    unit_price_minor: int
    freight_minor: int = 0
    discount_minor: int = 0
    seller_ref: str | None = None
    product_name: str | None = None
    category: str | None = None
    #: False for postage, fees, vouchers... (they count in totals, never in recommendations).
    merchandise: bool = True
    origin: int = 0


@dataclass(frozen=True, slots=True)
class OrderPayment:
    """One payment of an order; ``amount_minor=None`` means "the order total"."""

    sequence: int
    payment_type: str
    installments: int = 1
    amount_minor: int | None = None
    origin: int = 0


@dataclass(slots=True)
class CanonicalOrder:
    """An order with its lines and payments, keyed by the store's ``external_id``.

    ``customer`` is either the hub's customer id (the importer resolved the person) or a
    customer record for identity resolution (see :func:`recompra.hub.customers.customer_record`).
    ``freight_total_minor`` replaces the lines' freight when the source gives it per order;
    ``order_discount_minor`` is a basket-level discount on top of the lines' discounts.
    """

    external_id: str
    customer: int | dict[str, Any]
    status: OrderStatus
    purchased_at: datetime
    raw_status: str | None = None
    channel: str | None = None
    currency: str = "BRL"
    approved_at: datetime | None = None
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    estimated_delivery_at: datetime | None = None
    freight_total_minor: int | None = None
    order_discount_minor: int = 0
    lines: list[OrderLine] = field(default_factory=list)
    payments: list[OrderPayment] = field(default_factory=list)
    origin: int = 0
    #: The payment provider's token for the card or wallet (the referral guards use it).
    payment_fingerprint: str | None = None

    @property
    def total_minor(self) -> int:
        """Lines less discounts, plus freight (what the order row stores as its total)."""
        items = sum(li.quantity * li.unit_price_minor - li.discount_minor for li in self.lines)
        freight = (
            sum(li.freight_minor for li in self.lines)
            if self.freight_total_minor is None
            else self.freight_total_minor
        )
        return items - self.order_discount_minor + freight


@dataclass(frozen=True, slots=True)
class ReturnedItem:
    """Units of one stored order line (``order_item_id``) that a return gives back."""

    order_item_id: int
    quantity: int
    amount_minor: int


@dataclass(frozen=True, slots=True)
class CanonicalReturn:
    """A return or cancellation of an order of the same source, keyed by ``external_id``.

    ``items`` says which lines it covers, when the source says it (matched return lines).
    """

    external_id: str
    order: str
    amount_minor: int
    created_at: datetime
    kind: str = "return"
    currency: str = "BRL"
    reason: str | None = None
    items: tuple[ReturnedItem, ...] = ()
    origin: int = 0


def order_from_rows(
    rows: Sequence[Mapping[str, Any]],
    *,
    source: str,
    currency: str,
    status: OrderStatus,
    origins: Sequence[int],
) -> CanonicalOrder:
    """One order from its validated canonical line rows (see ``recompra.hub.rules.LINE_FIELDS``).

    Order-level values (customer, dates, payment) are the first row's; a line without a
    ``line_number`` is numbered by its position, a line without a quantity counts 1.
    ``origins`` gives each row's origin (the first one is the order's).
    """
    first = rows[0]
    payments = []
    if first.get("payment_type"):
        payments.append(
            OrderPayment(
                sequence=1,
                payment_type=str(first["payment_type"]).lower(),
                installments=first.get("installments") or 1,
                origin=origins[0],
            )
        )
    raw_status = str(first.get("status") or "").strip()
    return CanonicalOrder(
        external_id=str(first["order_id"]),
        customer=customer_record(first, source),
        status=status,
        raw_status=raw_status or None,
        channel=first.get("channel"),
        currency=first.get("currency") or currency,
        purchased_at=first["purchased_at"],
        approved_at=first.get("approved_at"),
        delivered_at=first.get("delivered_at"),
        payment_fingerprint=first.get("payment_fingerprint"),
        lines=[
            OrderLine(
                line_number=row.get("line_number") or number,
                product=str(row["product_id"]),
                quantity=1 if row.get("quantity") is None else int(row["quantity"]),
                unit_price_minor=int(row["unit_price"]),
                freight_minor=row.get("freight") or 0,
                discount_minor=row.get("discount") or 0,
                product_name=row.get("product_name"),
                category=row.get("category"),
                merchandise=bool(row.get("is_merchandise", True)),
                origin=origin,
            )
            for number, (row, origin) in enumerate(zip(rows, origins, strict=True), start=1)
        ],
        payments=payments,
        origin=origins[0],
    )
